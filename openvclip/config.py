"""Typed views of config sections, and the config hash recorded in every result."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from typing import Any, Mapping, Type, TypeVar

T = TypeVar("T")


def from_mapping(cls: Type[T], values: Mapping[str, Any] | None, section: str) -> T:
    """Build dataclass ``cls`` from a config section, rejecting unknown keys and wrong types by name."""
    values = dict(values or {})
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise KeyError(f"unknown key(s) {unknown} in config section '{section}'; allowed: {sorted(fields)}")
    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        expected = hints[key]
        origin = typing.get_origin(expected)
        allowed = typing.get_args(expected) if origin is typing.Union else (origin or expected,)
        allowed = tuple(a for a in allowed if isinstance(a, type))
        if float in allowed and isinstance(value, int) and not isinstance(value, bool):
            values[key] = float(value)
            continue
        if allowed and not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
            names = " or ".join(a.__name__ for a in allowed)
            raise TypeError(f"config key '{section}.{key}' must be {names}, got {value!r}")
    obj = cls(**values)
    validate = getattr(obj, "validate", None)
    if validate is not None:
        validate()
    return obj


def config_hash(config: Mapping[str, Any]) -> str:
    """Short, stable hash of a config (key order does not matter)."""
    blob = json.dumps(config, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]
