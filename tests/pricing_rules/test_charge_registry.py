"""Charge models are found in their package, and everything a caller needs is asked of them.

The last test is the promise of the package: a new model is one file in
`pricing_rules/charges/`, and rule files, pricing, reference checks, error messages and the
JSON Schema know it without another file changing.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import TypeAdapter

import pricing_rules
from pricing_rules.charges import (
    CHARGE_CLASSES,
    Charge,
    ChargeBase,
    charge_class,
    find_charge_models,
    model_key,
)
from pricing_rules.charges.base import OutcomeCharge, UnitCharge
from pricing_rules.charges.flat import FlatCharge
from pricing_rules.charges.percentage import PercentageCharge

CHARGE = TypeAdapter(Charge)
TIERS = [{"up_to": None, "unit_price": "1"}]

# (rule-file charge, priced_outcome, needs_values, valued_outcome)
EXAMPLES: list[tuple[dict[str, Any], str | None, bool, str | None]] = [
    ({"model": "flat", "price": "1"}, None, False, None),
    ({"model": "per_unit", "outcome": "a", "unit_price": "1"}, "a", False, None),
    ({"model": "graduated", "outcome": "a", "tiers": TIERS}, "a", False, None),
    ({"model": "volume", "outcome": "a", "tiers": TIERS}, "a", False, None),
    ({"model": "package", "outcome": "a", "package_size": 2, "price": "1"}, "a", False, None),
    ({"model": "percentage", "outcome": "a", "rate": "1"}, "a", True, "a"),
]


def test_every_model_is_found_in_the_order_of_the_reference() -> None:
    assert list(CHARGE_CLASSES) == [
        "flat",
        "per_unit",
        "graduated",
        "volume",
        "package",
        "percentage",
    ]
    assert all(model_key(cls) == key for key, cls in CHARGE_CLASSES.items())
    assert [data["model"] for data, *_ in EXAMPLES] == list(CHARGE_CLASSES)


def test_the_rule_file_union_is_the_registry() -> None:
    union = get_args(Charge)[0]
    assert get_args(union) == tuple(CHARGE_CLASSES.values())


@pytest.mark.parametrize(
    ("data", "outcome", "needs_values", "valued"),
    EXAMPLES,
    ids=[data["model"] for data, *_ in EXAMPLES],
)
def test_what_each_model_tells_its_callers(
    data: dict[str, Any], outcome: str | None, needs_values: bool, valued: str | None
) -> None:
    charge = CHARGE.validate_python(data)
    assert type(charge) is CHARGE_CLASSES[data["model"]]
    assert charge.priced_outcome == outcome
    assert type(charge).prices_outcome is (outcome is not None)
    assert charge.needs_values is needs_values
    assert charge.valued_outcome == valued


def test_a_raw_model_value_finds_its_class_or_none() -> None:
    assert charge_class("flat") is FlatCharge
    assert charge_class("percentage") is PercentageCharge
    assert charge_class("graduate") is None
    assert charge_class(["flat"]) is None
    assert charge_class(None) is None


def test_base_classes_are_not_models() -> None:
    assert [model_key(cls) for cls in (ChargeBase, OutcomeCharge, UnitCharge)] == [None] * 3


def test_a_model_defined_twice_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "twice_defined_charges"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name in ("first", "second"):
        (package / f"{name}.py").write_text(
            textwrap.dedent(
                f"""
                from typing import Literal
                from pricing_rules.charges.base import ChargeBase

                class {name.title()}Fee(ChargeBase):
                    model: Literal["fee"]
                """
            )
        )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(TypeError, match="charge model 'fee' is defined twice"):
        find_charge_models([str(package)], package.name)


NEW_MODEL = '''\
"""The largest event value of the period, at a rate: a model added as one file."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import Field

from pricing_rules.charges.base import ZERO, ChargeAmount, OutcomeCharge, Usage


class HighestValueCharge(OutcomeCharge):
    needs_values: ClassVar[bool] = True

    model: Literal["highest_value"]
    rate: Decimal = Field(description="Share of the largest value charged.")

    def price(self, usage: Usage) -> ChargeAmount:
        highest = max(usage.values, default=ZERO)
        return ChargeAmount(quantity=highest, amount=highest * self.rate, detail="highest")
'''

RULES = """\
plan: p
version: 1
currency: usd
outcomes:
  deal: {event: deal.won, measure: {sum: properties.amount}}
  call: {event: call.done}
charges:
  - {outcome: deal, model: highest_value, rate: "0.1"}
  - {model: flat, price: "10"}
"""

LOAD_PRICE_AND_DESCRIBE = """
import json, sys
from decimal import Decimal
import pricing_rules
from pricing_rules.errors import RuleFileError
from pricing_rules.loader import load_rules
from pricing_rules.pricing import MeasuredUsage, price_usage
from pricing_rules.schema import rule_file_schema

assert pricing_rules.__file__.startswith(sys.argv[1]), pricing_rules.__file__
rules_text = sys.stdin.read()
values = [Decimal("120"), Decimal("3000"), Decimal("45")]
usage = {"deal": MeasuredUsage(Decimal("3165"), 3, lambda: values)}
priced = price_usage(load_rules(rules_text), usage)


def errors(text):
    try:
        load_rules(text, "p.yaml")
    except RuleFileError as failed:
        return [str(error) for error in failed.errors]
    return []


schema = rule_file_schema()
print(json.dumps({
    "lines": [[line.charge, line.outcome, str(line.amount)] for line in priced.lines],
    "counted": errors(rules_text.replace("outcome: deal", "outcome: call")),
    "misspelt": errors(rules_text.replace("highest_value", "highest_valu")),
    "mapping": schema["properties"]["charges"]["items"]["discriminator"]["mapping"],
    "rate": schema["$defs"]["HighestValueCharge"]["properties"]["rate"]["description"],
}))
"""


def test_a_new_model_is_one_file(tmp_path: Path) -> None:
    """A copy of the package plus one module: loaded, priced, checked and in the schema."""
    source = Path(pricing_rules.__file__).parent
    copy = tmp_path / "pricing_rules"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__"))
    (copy / "charges" / "highest_value.py").write_text(NEW_MODEL)
    run = subprocess.run(
        [sys.executable, "-c", LOAD_PRICE_AND_DESCRIBE, str(copy)],
        input=RULES,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"},
        check=False,
    )
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout)
    assert found["lines"] == [
        ["deal (highest_value)", "deal", "300.00"],
        ["Flat fee", None, "10.00"],
    ]
    assert found["counted"] == [
        "p.yaml:8:15: a highest_value charge needs a value per event; "
        "outcome 'call' must use measure {sum: <path>}"
    ]
    assert found["misspelt"] == [
        "p.yaml:8:28: unknown charge model 'highest_valu' (did you mean 'highest_value'?); "
        "expected one of per_unit, graduated, volume, package, percentage, highest_value, flat"
    ]
    assert found["mapping"]["highest_value"] == "#/$defs/HighestValueCharge"
    assert found["rate"] == "Share of the largest value charged."
