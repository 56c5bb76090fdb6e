"""Errors of rule files, located at file, line and column.

Validators raise `RuleValueError` with a sub-path when the fault is deeper than the field
they validate (tier 3 of a tier list, one operator of a condition); the loader appends that
sub-path to pydantic's location so the reported line is the exact one to fix.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Loc = tuple[str | int, ...]


class RuleValueError(ValueError):
    """A validation failure at `subpath` below the value being validated."""

    def __init__(self, message: str, subpath: Loc = ()) -> None:
        super().__init__(message)
        self.message = message
        self.subpath = subpath


class RuleValueErrors(ValueError):
    """Several independent failures found by one validator, all to be reported."""

    def __init__(self, errors: Sequence[RuleValueError]) -> None:
        super().__init__("; ".join(error.message for error in errors))
        self.errors = list(errors)


@dataclass(frozen=True, slots=True)
class RuleError:
    file: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}: {self.message}"


class RuleFileError(Exception):
    """A rule file that cannot be used, with every problem found in it."""

    def __init__(self, errors: Sequence[RuleError]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(str(error) for error in self.errors))
