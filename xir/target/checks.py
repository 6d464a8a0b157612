"""Typed value checks for target fields: each returns the (normalised) value or raises a one-line
TargetError that names the key, says what it must be and shows what it was."""

from __future__ import annotations

import math

from xir.target.errors import TargetError


def fail(key: str, expectation: str, value: object) -> TargetError:
    """The error for a key whose value is not what it must be."""
    return TargetError(f"key '{key}' must be {expectation}, got {value!r}")


def check_int(key: str, value: object, low: int = 0, high: int | None = None) -> int:
    """An integer (not a bool) in low..high (high None = unbounded)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(key, "an integer", value)
    if value < low or (high is not None and value > high):
        span = f"in {low}..{high}" if high is not None else f"an integer >= {low}"
        raise fail(key, span, value)
    return value


def check_number(key: str, value: object) -> float:
    """A finite number > 0, returned as float (ints are accepted, bools are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise fail(key, "a number", value)
    if not math.isfinite(value) or value <= 0:
        raise fail(key, "a finite number > 0", value)
    return float(value)


def check_bool(key: str, value: object) -> bool:
    """Exactly true or false."""
    if not isinstance(value, bool):
        raise fail(key, "true or false", value)
    return value


def check_text(key: str, value: object, optional: bool = False) -> str | None:
    """A non-empty string, or None when ``optional``."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value.strip():
        raise fail(key, "a non-empty string" + (" or null" if optional else ""), value)
    return value


def check_names(key: str, value: object, allowed: tuple[str, ...]) -> tuple[str, ...]:
    """A list of distinct strings drawn from ``allowed``, returned as a tuple."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise fail(key, "a list of strings", value)
    bad = [v for v in value if v not in allowed]
    if bad:
        raise fail(key, f"a list drawn from {', '.join(allowed)}", bad[0])
    if len(set(value)) != len(value):
        raise fail(key, "a list without repeats", list(value))
    return tuple(value)


def set_field(obj: object, name: str, value: object) -> None:
    """Store a normalised value on a frozen dataclass during its __post_init__."""
    object.__setattr__(obj, name, value)
