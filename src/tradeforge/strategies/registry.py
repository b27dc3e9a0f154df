"""Finding strategy classes: built-ins by short name, `package.module:Class`, and entry points."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from tradeforge.domain.errors import ValidationError
from tradeforge.strategies.base import Strategy, config_schema

ENTRY_POINT_GROUP = "tradeforge.strategies"
BUILTINS: dict[str, str] = {
    "sma_cross": "tradeforge.strategies.builtin.sma_cross:SmaCross",
    "rsi_reversion": "tradeforge.strategies.builtin.rsi_reversion:RsiReversion",
    "breakout": "tradeforge.strategies.builtin.breakout:Breakout",
    "support_resistance": "tradeforge.strategies.builtin.support_resistance:SupportResistance",
    "grid": "tradeforge.strategies.builtin.grid:Grid",
}


@dataclass(frozen=True, slots=True)
class StrategyInfo:
    name: str
    description: str
    source: str  # builtin, entry_point or module
    target: str  # module:Class
    config: list[dict[str, Any]]


def resolve(name_or_path: str) -> type[Strategy[Any]]:
    """The Strategy subclass for a built-in name, an entry point name, or `package.module:Class`."""
    name = name_or_path.strip()
    if name in BUILTINS:
        return _load(BUILTINS[name], name)
    if ":" in name:
        return _load(name, name)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        if entry.name == name:
            return _check(entry.load(), name)
    known = sorted({*BUILTINS, *(e.name for e in entry_points(group=ENTRY_POINT_GROUP))})
    raise ValidationError("strategy", f"unknown strategy {name!r}; known: {known}, or give module:Class")


def available() -> list[StrategyInfo]:
    """Built-ins, then installed entry points (one failing to load is skipped, not fatal)."""
    infos: list[StrategyInfo] = []
    for name, target in sorted(BUILTINS.items()):
        infos.append(_info(name, "builtin", target, _load(target, name)))
    for entry in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
        if entry.name in BUILTINS:
            continue
        try:
            cls = _check(entry.load(), entry.name)
        except Exception:  # a broken third-party package must not hide the others
            continue
        infos.append(_info(entry.name, "entry_point", entry.value, cls))
    return infos


def _info(name: str, source: str, target: str, cls: type[Strategy[Any]]) -> StrategyInfo:
    doc = (cls.__doc__ or "").strip().splitlines()
    description = cls.description or (doc[0] if doc else "")
    return StrategyInfo(name, description, source, target, config_schema(cls.config_class))


def _load(target: str, name: str) -> type[Strategy[Any]]:
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ValidationError("strategy", f"{name!r}: expected package.module:Class")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValidationError("strategy", f"{name!r}: cannot import {module_name}: {error}") from error
    obj: Any = module
    for part in attribute.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            raise ValidationError("strategy", f"{name!r}: {module_name} has no {attribute}")
    return _check(obj, name)


def _check(obj: object, name: str) -> type[Strategy[Any]]:
    if not (isinstance(obj, type) and issubclass(obj, Strategy)):
        raise ValidationError("strategy", f"{name!r} is not a Strategy subclass")
    if not hasattr(obj, "config_class"):
        raise ValidationError("strategy", f"{name!r} declares no config_class")
    return obj
