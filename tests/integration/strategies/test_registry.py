"""Strategies are found by built-in name, by module:Class, and through installed entry points."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from tradeforge.domain.errors import ValidationError
from tradeforge.strategies import Strategy, available, resolve
from tradeforge.strategies.builtin.sma_cross import SmaCross


@dataclass(frozen=True)
class BreakoutConfig:
    lookback: int = 20
    size: Decimal = Decimal("0.1")


class Breakout(Strategy[BreakoutConfig]):
    """A test strategy resolved by module:Class."""

    config_class = BreakoutConfig


class ModelConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    threshold: Decimal = Decimal("1.5")


class ThirdParty(Strategy[ModelConfig]):
    """A strategy a third-party package would publish through an entry point."""

    name = "third_party"
    config_class = ModelConfig


@dataclass
class MutableConfig:
    x: int = 1


class Mutable(Strategy[MutableConfig]):
    config_class = MutableConfig


def test_a_builtin_resolves_by_short_name_and_is_listed_with_its_config() -> None:
    assert resolve("sma_cross") is SmaCross
    (info,) = [i for i in available() if i.name == "sma_cross"]
    assert info.source == "builtin" and "SMA crossover" in info.description
    assert info.config == [
        {"name": "fast", "type": "int", "default": "10", "required": False},
        {"name": "slow", "type": "int", "default": "30", "required": False},
        {"name": "quantity", "type": "Decimal", "default": "1", "required": False},
    ]


def test_module_colon_class_resolves_a_strategy_in_any_importable_module() -> None:
    assert resolve(f"{__name__}:Breakout") is Breakout
    assert Breakout({"lookback": "50"}).config == BreakoutConfig(50, Decimal("0.1"))


@pytest.mark.parametrize(
    "name",
    ["no_such_strategy", f"{__name__}:Nothing", "no.such.module:Thing", f"{__name__}:BreakoutConfig"],
)
def test_unknown_or_invalid_names_are_a_validation_error_naming_strategy(name: str) -> None:
    with pytest.raises(ValidationError) as raised:
        resolve(name)
    assert raised.value.field == "strategy" and repr(name) in str(raised.value)


def test_configs_must_be_frozen_and_are_validated_field_by_field() -> None:
    with pytest.raises(TypeError, match="frozen"):
        Mutable()
    with pytest.raises(ValidationError) as unknown:
        Breakout({"lookbak": 3})
    assert unknown.value.field == "config.lookbak"
    with pytest.raises(ValidationError) as bad:
        ThirdParty({"threshold": "high"})
    assert bad.value.field == "config.threshold"
    assert ThirdParty({"threshold": "2"}).config.threshold == Decimal("2")


def test_an_installed_entry_point_is_resolved_and_listed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist = tmp_path / "tf_third_party-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: tf-third-party\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[tradeforge.strategies]\nthird_party = {__name__}:ThirdParty\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    assert resolve("third_party") is ThirdParty
    (info,) = [i for i in available() if i.name == "third_party"]
    assert info.source == "entry_point" and info.target == f"{__name__}:ThirdParty"
    assert info.config == [{"name": "threshold", "type": "Decimal", "default": "1.5", "required": False}]
