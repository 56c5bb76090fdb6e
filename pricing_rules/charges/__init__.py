"""Charge models: one typed class per model, one interface, `price(usage) -> ChargeAmount`.

Adding a model is adding one module to this package: a `ChargeBase` subclass whose `model` is a
Literal. The package finds the models in its modules when it is imported, and everything else
(the rule file's union of charges, its JSON Schema, pricing, the invoice's value streams) takes
them from here and asks each charge what it needs (`priced_outcome`, `needs_values`).

A rule file's charge is validated into the class named by its `model` key. A missing or
misspelt model is reported on the `model` key itself, with the allowed models and the closest
one, instead of pydantic's generic "does not match any of the expected tags".
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterable, Iterator, Mapping
from difflib import get_close_matches
from functools import reduce
from operator import or_
from types import MappingProxyType, ModuleType
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, TypeAlias, get_args, get_origin

from pydantic import BeforeValidator, Field

from pricing_rules.charges.base import ChargeAmount, ChargeBase, PerEventSums, TierAmount, Usage
from pricing_rules.charges.tiers import Tier
from pricing_rules.errors import RuleValueError


def model_key(cls: type[ChargeBase]) -> str | None:
    """The `model` value that selects `cls` (its Literal); None for a base class."""
    annotation = cls.model_fields["model"].annotation
    keys = get_args(annotation)
    if get_origin(annotation) is Literal and len(keys) == 1 and isinstance(keys[0], str):
        return keys[0]
    return None


def _models_in(module: ModuleType) -> Iterator[tuple[str, type[ChargeBase]]]:
    for value in vars(module).values():
        if (
            isinstance(value, type)
            and issubclass(value, ChargeBase)
            and value.__module__ == module.__name__
            and (key := model_key(value)) is not None
        ):
            yield key, value


def find_charge_models(path: Iterable[str], package: str) -> dict[str, type[ChargeBase]]:
    """Every charge model defined in the modules of a package, by key, in listing order."""
    found: dict[str, type[ChargeBase]] = {}
    for module in pkgutil.iter_modules(path, f"{package}."):
        for key, cls in _models_in(importlib.import_module(module.name)):
            if key in found:
                raise TypeError(
                    f"charge model {key!r} is defined twice: by {found[key].__qualname__} "
                    f"and by {cls.__qualname__}"
                )
            found[key] = cls
    return dict(sorted(found.items(), key=lambda item: (item[1].position, item[0])))


CHARGE_CLASSES: Final[Mapping[str, type[ChargeBase]]] = MappingProxyType(
    find_charge_models(__path__, __name__)
)
"""The class of each charge model, by its rule-file key, in listing order."""

_ALLOWED: Final = tuple(
    sorted(CHARGE_CLASSES, key=lambda key: not CHARGE_CLASSES[key].prices_outcome)
)
"""The keys as messages name them: the models of an outcome first, then the standalone ones."""


def charge_class(model: object) -> type[ChargeBase] | None:
    """The class a raw `model` value selects, if any."""
    return CHARGE_CLASSES.get(model) if isinstance(model, str) else None


def check_charge_model(value: Any) -> Any:
    """Let a mapping with a known `model` through; otherwise say which models exist."""
    if not isinstance(value, dict):
        return value
    allowed = ", ".join(_ALLOWED)
    if "model" not in value:
        raise RuleValueError(f"a charge needs a model: one of {allowed}")
    model = value["model"]
    if model in _ALLOWED:
        return value
    hint = ""
    if isinstance(model, str):
        close = get_close_matches(model, _ALLOWED, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise RuleValueError(
        f"unknown charge model {model!r}{hint}; expected one of {allowed}", ("model",)
    )


if TYPE_CHECKING:
    Charge: TypeAlias = ChargeBase
else:
    Charge = Annotated[
        reduce(or_, CHARGE_CLASSES.values()),
        Field(discriminator="model"),
        BeforeValidator(check_charge_model),
    ]
    """Any charge of a rule file, chosen by its `model` key (typing sees the base class)."""

__all__ = [
    "CHARGE_CLASSES",
    "Charge",
    "ChargeAmount",
    "ChargeBase",
    "PerEventSums",
    "Tier",
    "TierAmount",
    "Usage",
    "charge_class",
    "check_charge_model",
    "find_charge_models",
    "model_key",
]
