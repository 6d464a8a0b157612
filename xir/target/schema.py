"""arch.json's schema, declared once on the target dataclasses.

Each field of :class:`~xir.target.model.Target` and its parts says, in its ``dataclasses.field``
metadata, the JSON key it is written under and the check its value must pass (:func:`integer`,
:func:`number`, :func:`flag`, :func:`text`, :func:`names`) or the dataclass it nests (:func:`part`,
:func:`parts`). From that one declaration:

- :func:`check_fields` validates and normalises every field of an instance (its ``__post_init__``
  calls it first); rules that relate several fields stay in ``__post_init__`` after it;
- :func:`to_json` writes the extended arch.json form, keys in field order;
- :func:`from_json` reads it back, refusing unknown and missing keys by name;
- :func:`json_keys` lists a class's keys (what an arch.json object may hold).
"""

from __future__ import annotations

from dataclasses import MISSING, Field, field, fields
from typing import Any, Callable

from xir.target.checks import check_bool, check_int, check_names, check_number, check_text, fail, set_field
from xir.target.errors import TargetError

Check = Callable[[str, Any], Any]


def _declare(check: Check | None = None, *, key: str | None = None, nested: type | None = None,
             many: bool = False, dump: Callable[[Any], Any] | None = None, absent: Any = MISSING) -> Field:
    """``absent``: the value a file without the key means (a key added after files were written);
    by default every key is required."""
    meta = {"check": check, "key": key, "nested": nested, "many": many, "dump": dump, "absent": absent}
    return field(metadata=meta)


def custom(check: Check, dump: Callable[[Any], Any] | None = None, **kw) -> Field:
    """A value ``check(key, value)`` validates and normalises; ``dump`` writes it back to JSON."""
    return _declare(check, dump=dump, **kw)


def integer(low: int = 0, high: int | None = None, **kw) -> Field:
    """An integer (never a bool) in ``low..high`` (``high`` None: unbounded)."""
    return _declare(lambda k, v: check_int(k, v, low, high), **kw)


def number(**kw) -> Field:
    """A finite number > 0, stored as float."""
    return _declare(check_number, **kw)


def flag(**kw) -> Field:
    """Exactly true or false."""
    return _declare(check_bool, **kw)


def text(optional: bool = False, **kw) -> Field:
    """A non-empty string (or null when ``optional``)."""
    return _declare(lambda k, v: check_text(k, v, optional), **kw)


def names(allowed: tuple[str, ...], **kw) -> Field:
    """A list of distinct strings drawn from ``allowed``, stored as a tuple."""
    return _declare(lambda k, v: check_names(k, v, allowed), **kw)


def integers(low: int = 0, **kw) -> Field:
    """A list of integers >= ``low``, stored as a tuple (how many is a rule of the owning class)."""
    def check(k: str, v: object) -> tuple[int, ...]:
        if not isinstance(v, (list, tuple)):
            raise fail(k, "a list of integers", v)
        return tuple(check_int(k, x, low) for x in v)
    return _declare(check, **kw)


def part(cls: type, **kw) -> Field:
    """One nested object of dataclass ``cls``."""
    return _declare(nested=cls, **kw)


def parts(cls: type, **kw) -> Field:
    """A list of nested objects of dataclass ``cls``, stored as a tuple."""
    return _declare(nested=cls, many=True, **kw)


def key_of(f: Field) -> str:
    """The JSON key of a field: its declared key, else its name."""
    return f.metadata.get("key") or f.name


def _declared(cls_or_obj) -> list[Field]:
    return [f for f in fields(cls_or_obj) if "check" in f.metadata]


def json_keys(cls: type) -> tuple[str, ...]:
    """The keys an object of ``cls`` is written with, in file order."""
    return tuple(key_of(f) for f in _declared(cls))


def check_fields(obj: object, prefix: str = "") -> None:
    """Validate and normalise every declared field of ``obj`` (a frozen dataclass) in place; the
    first bad value raises TargetError naming ``prefix`` + its key."""
    for f in _declared(obj):
        value = getattr(obj, f.name)
        where = prefix + key_of(f)
        nested = f.metadata["nested"]
        if nested is None:
            set_field(obj, f.name, f.metadata["check"](where, value))
        elif f.metadata["many"]:
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, nested) for v in value):
                raise fail(where, f"a list of {nested.__name__} objects", value)
            set_field(obj, f.name, tuple(value))
        elif not isinstance(value, nested):
            raise fail(where, f"a {nested.__name__} object", value)


def to_json(obj: object) -> dict:
    """The JSON object of a dataclass instance, declared keys in field order, tuples as lists."""
    out = {}
    for f in _declared(obj):
        value = getattr(obj, f.name)
        nested, dump = f.metadata["nested"], f.metadata["dump"]
        if dump is not None:
            value = dump(value)
        elif nested is not None:
            value = [to_json(v) for v in value] if f.metadata["many"] else to_json(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[key_of(f)] = value
    return out


def from_json(cls: type, data: object, prefix: str = ""):
    """Build ``cls`` from its JSON object: every declared key must be present and no other; nested
    parts are built first; values are then checked by the class itself."""
    if not isinstance(data, dict):
        if not prefix:
            raise fail("<top level>", "a JSON object", type(data).__name__)
        raise fail(prefix.rstrip("."), "an object", data)
    declared = _declared(cls)
    keys = [key_of(f) for f in declared]
    for k in data:
        if k not in keys:
            raise TargetError(f"unknown key '{prefix}{k}' (known: {', '.join(keys)})")
    for f in declared:
        if key_of(f) not in data and f.metadata["absent"] is MISSING:
            raise TargetError(f"missing key '{prefix}{key_of(f)}'")
    kwargs = {}
    for f in declared:
        value, nested = data.get(key_of(f), f.metadata["absent"]), f.metadata["nested"]
        where = prefix + key_of(f)
        if nested is not None and f.metadata["many"]:
            if not isinstance(value, list):
                raise fail(where, "a list of objects", value)
            value = tuple(from_json(nested, v, f"{where}[{i}].") for i, v in enumerate(value))
        elif nested is not None:
            value = from_json(nested, value, where + ".")
        kwargs[f.name] = value
    missing = [f.name for f in fields(cls) if f.init and f.name not in kwargs
               and f.default is MISSING and f.default_factory is MISSING]
    if missing:  # a field without a declaration: a bug in the class, not in the file
        raise RuntimeError(f"{cls.__name__} fields {missing} are not declared in the arch.json schema")
    return cls(**kwargs)
