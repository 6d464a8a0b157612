"""The plan cache of the fast executor (no contract rule: a speed device).

Rule: a plan is an instruction's checked address arithmetic (where it reads and writes) under one
INIT state, cached under the instruction's fields and that state; it never holds what the banks
hold, so every operand is still read from the bank lines the instruction names when it executes.
"""

from __future__ import annotations

#: Plans kept per machine before the cache is dropped and rebuilt (bounds memory for long sessions).
MAX_PLANS = 200_000


def planned(m, key: tuple, build):
    """The checked plan cached under ``key`` (the instruction's fields and INIT state), built with
    ``build()`` the first time; address arithmetic and fault checks run once per distinct plan."""
    plan = m.plans.get(key)
    return plan if plan is not None else remember(m, key, build())


def remember(m, key: tuple, plan):
    """Keep a checked plan for reuse and return it."""
    if len(m.plans) >= MAX_PLANS:
        m.plans.clear()
    m.plans[key] = plan
    return plan
