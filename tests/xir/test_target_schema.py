"""arch.json's schema is declared once on the target dataclasses (xir/target/schema.py): every field is
declared, the written form reads back to an equal target, and each check names the key it guards."""
from __future__ import annotations

import re
from dataclasses import fields

import pytest

from xir.target import catalog_boards
from xir.target.errors import TargetError
from xir.target.model import ARCH_KEYS, BankGroup, Limits, Overheads, Target
from xir.target.schema import from_json, json_keys, to_json


@pytest.mark.parametrize("cls", [Target, Limits, Overheads, BankGroup])
def test_every_field_is_declared(cls):
    assert len(json_keys(cls)) == len(fields(cls))


def test_every_board_round_trips():
    for key, target in catalog_boards().items():
        data = to_json(target)
        assert tuple(data) == ARCH_KEYS, key
        assert from_json(Target, data) == target, key


@pytest.mark.parametrize("path, value, expect", [
    (("overheads", "load"), -1, "key 'overheads.load' must be an integer >= 0"),
    (("limits", "depthwise"), 1, "key 'limits.depthwise' must be true or false"),
    (("limits", "pool_types"), ["MAX", "MIN"], "key 'limits.pool_types' must be a list drawn from MAX, AVG"),
    (("clock_mhz",), float("nan"), "key 'clock_mhz' must be a finite number > 0"),
    (("core_batches",), "1", "key 'core_batches' must be a list of integers"),
    (("banks",), [{"name": "X"}], "missing key 'banks[0].kind'"),
])
def test_a_bad_value_names_its_key(path, value, expect):
    data = to_json(catalog_boards()["DPUCZDX8G/KV260"])
    holder = data
    for k in path[:-1]:
        holder = holder[k]
    holder[path[-1]] = value
    with pytest.raises(TargetError, match="^" + re.escape(expect)):
        from_json(Target, data)
