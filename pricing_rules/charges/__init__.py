"""Charge models: one typed class per model, one interface, `price(usage) -> ChargeAmount`.

A rule file's charge is validated into the class named by its `model` key. A missing or
misspelt model is reported on the `model` key itself, with the allowed models and the closest
one, instead of pydantic's generic "does not match any of the expected tags".
"""

from __future__ import annotations

from difflib import get_close_matches
from typing import Annotated, Any, Final

from pydantic import BeforeValidator, Field

from pricing_rules.charges.base import ChargeAmount, ChargeBase, TierAmount, Usage
from pricing_rules.charges.flat import FlatCharge
from pricing_rules.charges.package import PackageCharge
from pricing_rules.charges.per_unit import PerUnitCharge
from pricing_rules.charges.percentage import PercentageCharge
from pricing_rules.charges.tiered import GraduatedCharge, VolumeCharge
from pricing_rules.charges.tiers import Tier
from pricing_rules.errors import RuleValueError

CHARGE_MODELS: Final = ("per_unit", "graduated", "volume", "package", "percentage", "flat")


def check_charge_model(value: Any) -> Any:
    """Let a mapping with a known `model` through; otherwise say which models exist."""
    if not isinstance(value, dict):
        return value
    allowed = ", ".join(CHARGE_MODELS)
    if "model" not in value:
        raise RuleValueError(f"a charge needs a model: one of {allowed}")
    model = value["model"]
    if model in CHARGE_MODELS:
        return value
    hint = ""
    if isinstance(model, str):
        close = get_close_matches(model, CHARGE_MODELS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise RuleValueError(
        f"unknown charge model {model!r}{hint}; expected one of {allowed}", ("model",)
    )


Charge = Annotated[
    FlatCharge | PerUnitCharge | GraduatedCharge | VolumeCharge | PackageCharge | PercentageCharge,
    Field(discriminator="model"),
    BeforeValidator(check_charge_model),
]

__all__ = [
    "CHARGE_MODELS",
    "Charge",
    "ChargeAmount",
    "ChargeBase",
    "FlatCharge",
    "GraduatedCharge",
    "PackageCharge",
    "PerUnitCharge",
    "PercentageCharge",
    "Tier",
    "TierAmount",
    "Usage",
    "VolumeCharge",
    "check_charge_model",
]
