"""The documented range of every number in the schema, and the check of a composed config.

Each `int` or `float` field of a schema dataclass is declared with `bounded(default, low, high)`
(a list or dict of numbers bounds each value), so the range lives beside the key and its
default. `check_config` walks the composed config against the dataclasses OmegaConf typed it
with: every number finite and in range, every key one the schema knows (Hydra's `+key=value`
adds keys a structured config would refuse, and a job file's junk would be embedded in the
output). It runs before planning, so `seconds: .nan`, `size_multiple: 0` or `width: 100000` are
one line naming the key instead of a traceback, a hang or an out-of-memory hours later.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from orchestrator.engine.errors import UserError

RANGE = "range"
# Widest seed a generator takes (torch's manual_seed; ComfyUI's seeds are in this range too).
MAX_SEED = 2**64 - 1


@dataclass(frozen=True)
class Range:
    low: float
    high: float
    # The low end itself is refused (a length, a rate, a scale that divides).
    open_low: bool = False

    def __contains__(self, value: float) -> bool:
        above = value > self.low if self.open_low else value >= self.low
        return above and value <= self.high

    def describe(self) -> str:
        low = f"more than {_text(self.low)}" if self.open_low else f"at least {_text(self.low)}"
        return f"{low} and at most {_text(self.high)}"


def bounded(
    default: Any = dataclasses.MISSING,
    low: float = 0,
    high: float = 0,
    *,
    open_low: bool = False,
    factory: Any = dataclasses.MISSING,
) -> Any:
    """A dataclass field whose numbers (or list / dict values) must lie in [low, high]."""
    metadata = {RANGE: Range(low, high, open_low)}
    if factory is not dataclasses.MISSING:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def numeric(hint: Any) -> bool:
    """Whether a field's type is a number, a list of numbers or a dict of numbers (None aside)."""
    return _number_type(hint) is not None


def check_config(cfg: DictConfig) -> None:
    """Every key known, every number finite and in its range; the first problem as a UserError."""
    _check_node(cfg, "")


def _check_node(node: Any, path: str) -> None:
    if isinstance(node, ListConfig):
        for i in range(len(node)):
            _check_node(node._get_node(i), f"{path}[{i}]")
        return
    if not isinstance(node, DictConfig) or node._is_none() or node._is_missing():
        return
    schema = OmegaConf.get_type(node)
    if schema is None or not dataclasses.is_dataclass(schema):
        for key in node:
            _check_node(node._get_node(key), _join(path, str(key)))
        return
    fields = {f.name: f for f in dataclasses.fields(schema)}
    for key in node:
        if key not in fields:
            raise UserError(_join(path, str(key)), unknown_key_message(str(key), list(fields)))
    hints = typing.get_type_hints(schema)
    for name, spec in fields.items():
        key = _join(path, name)
        if numeric(hints[name]):
            _check_numbers(node[name], spec, key)
        else:
            _check_node(node._get_node(name), key)


def _check_numbers(value: Any, spec: dataclasses.Field, key: str) -> None:
    if value is None:
        return
    limits = spec.metadata.get(RANGE)
    if isinstance(value, ListConfig):
        items = [(f"{key}[{i}]", v) for i, v in enumerate(value)]
    elif isinstance(value, DictConfig):
        items = [(f"{key}.{k}", v) for k, v in value.items()]
    else:
        items = [(key, value)]
    for where, number in items:
        if isinstance(number, float) and not math.isfinite(number):
            raise UserError(where, f"must be a finite number, got {number}")
        if limits is not None and number not in limits:
            raise UserError(where, f"must be {limits.describe()}, got {_text(number)}")


def _number_type(hint: Any) -> type | None:
    """int or float for `int`, `float | None`, `list[float]`, `dict[str, float]`; else None."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return _number_type(args[0]) if len(args) == 1 else None
    if typing.get_origin(hint) in (list, dict):
        return args[-1] if args and args[-1] in (int, float) else None
    return hint if hint in (int, float) else None


def unknown_key_message(key: str, valid: list[str]) -> str:
    shown = [name for name in valid if name != "_target_"]
    near = difflib.get_close_matches(key, shown, n=1)
    hint = f" (did you mean {near[0]}?)" if near else ""
    return f"unknown key{hint}; valid keys: {', '.join(shown)}"


def _text(number: float) -> str:
    """Integers exactly (a seed limit is 20 digits), other numbers short."""
    return str(number) if isinstance(number, int) else f"{number:g}"


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
