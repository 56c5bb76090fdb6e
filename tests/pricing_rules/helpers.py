"""Rule files loaded as `plan.yaml`, so a located error reads the same in every test."""

from __future__ import annotations

import pytest

from pricing_rules.errors import RuleFileError
from pricing_rules.loader import load_rules
from pricing_rules.rules import RuleFile


def load(text: str) -> RuleFile:
    return load_rules(text, "plan.yaml")


def errors(text: str) -> list[str]:
    """The located errors of a rule file that must not load."""
    with pytest.raises(RuleFileError) as raised:
        load(text)
    return [str(error) for error in raised.value.errors]
