"""`measure`: how an outcome's events become a quantity to price.

A rule file writes `measure: count` or `{sum|max|latest|unique: <path>}`. Each kind is a
typed variant that reads one value per event (`compile_value`, a closure built once),
aggregates values in memory (`accumulator`) and names the SQL aggregate the storage layer
runs over stored outcome values (`sql_aggregate`), so both compute the same quantity.

Values: `sum`, `max` and `latest` read a number as a Decimal: an int, a Decimal, a float
through its shortest repr (as JSON writes it), or a numeric string such as "12.50"; `true`
is not a number. `unique` reads the value's canonical key. A missing value, a null, or a
non-number raises `MeasureProblem`, which the caller records against the event instead of
billing a guess.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Final, Literal, Protocol, TypeAlias

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    WithJsonSchema,
    model_serializer,
)

from pricing_rules.errors import RuleValueError
from pricing_rules.events import Event
from pricing_rules.paths import (
    MISSING,
    PATH_PATTERN,
    Path,
    canonical_key,
    check_path,
    compile_getter,
)

MeasureValue: TypeAlias = Decimal | str | None
SqlAggregate = Literal["count", "sum", "max", "latest", "count_distinct"]
PATH_KINDS: Final = ("sum", "max", "latest", "unique")
_NUMERIC: Final = re.compile(r"-?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?")
_ZERO: Final = Decimal(0)


class MeasureProblem(ValueError):
    """An event's value cannot be measured; the message says which path and why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, float | Decimal):
        return str(value)
    return json.dumps(value, default=str)


def number_reader(path: str) -> Callable[[Event], Decimal]:
    """A closure reading `path` as an exact Decimal, or raising MeasureProblem."""
    getter = compile_getter(path)

    def read(event: Event) -> Decimal:
        raw = getter(event)
        kind = raw.__class__
        if kind is Decimal and raw.is_finite():
            return raw  # type: ignore[no-any-return]
        if kind is int:
            return Decimal(raw)
        if kind is float and math.isfinite(raw):
            return Decimal(repr(raw))
        if kind is str and _NUMERIC.fullmatch(raw):
            return Decimal(raw)
        if raw is MISSING:
            raise MeasureProblem(f"{path} is missing")
        raise MeasureProblem(f"{path} is {_show(raw)}, not a number")

    return read


def key_reader(path: str) -> Callable[[Event], str]:
    """A closure reading `path` as its canonical key, or raising MeasureProblem."""
    getter = compile_getter(path)

    def read(event: Event) -> str:
        raw = getter(event)
        if raw is MISSING:
            raise MeasureProblem(f"{path} is missing")
        if raw is None:
            raise MeasureProblem(f"{path} is null")
        return canonical_key(raw)

    return read


# --- accumulators -----------------------------------------------------------------------


class Accumulator(Protocol):
    """Aggregates the values of one outcome for one customer and period."""

    def add(self, value: MeasureValue, timestamp: datetime, event_id: str) -> None: ...

    def result(self) -> Decimal: ...


def _number(value: MeasureValue) -> Decimal:
    if not isinstance(value, Decimal):
        raise TypeError(f"expected a Decimal measure value, got {value!r}")
    return value


class CountAccumulator:
    def __init__(self) -> None:
        self.count = 0

    def add(self, value: MeasureValue, timestamp: datetime, event_id: str) -> None:
        self.count += 1

    def result(self) -> Decimal:
        return Decimal(self.count)


class SumAccumulator:
    def __init__(self) -> None:
        self.total = _ZERO

    def add(self, value: MeasureValue, timestamp: datetime, event_id: str) -> None:
        self.total += _number(value)

    def result(self) -> Decimal:
        return self.total


class MaxAccumulator:
    """The largest value; 0 when there is none, as a period without events bills nothing."""

    def __init__(self) -> None:
        self.largest: Decimal | None = None

    def add(self, value: MeasureValue, timestamp: datetime, event_id: str) -> None:
        number = _number(value)
        if self.largest is None or number > self.largest:
            self.largest = number

    def result(self) -> Decimal:
        return _ZERO if self.largest is None else self.largest


class LatestAccumulator:
    """The value of the last event by (timestamp, event id), so ties resolve the same way
    whatever order the events arrive in; 0 when there is none."""

    def __init__(self) -> None:
        self.latest: tuple[datetime, str, Decimal] | None = None

    def add(self, value: MeasureValue, timestamp: datetime, event_id: str) -> None:
        number = _number(value)
        if self.latest is None or (timestamp, event_id) > self.latest[:2]:
            self.latest = (timestamp, event_id, number)

    def result(self) -> Decimal:
        return _ZERO if self.latest is None else self.latest[2]


class UniqueAccumulator:
    def __init__(self) -> None:
        self.keys: set[str] = set()

    def add(self, value: MeasureValue, timestamp: datetime, event_id: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"expected a canonical key, got {value!r}")
        self.keys.add(value)

    def result(self) -> Decimal:
        return Decimal(len(self.keys))


# --- the variants -----------------------------------------------------------------------


class _Measure(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def to_yaml(self) -> Any:
        raise NotImplementedError

    @model_serializer
    def _dump_as_yaml(self) -> Any:
        """Dump (and show as a schema default) the form a rule file writes."""
        return self.to_yaml()


class Count(_Measure):
    """One unit per billable outcome."""

    kind: Literal["count"] = "count"
    sql_aggregate: ClassVar[SqlAggregate] = "count"

    def compile_value(self) -> Callable[[Event], MeasureValue]:
        return lambda event: None

    def accumulator(self) -> Accumulator:
        return CountAccumulator()

    def to_yaml(self) -> Any:
        return "count"


class _PathMeasure(_Measure):
    path: Path

    def compile_value(self) -> Callable[[Event], MeasureValue]:
        return number_reader(self.path)

    def to_yaml(self) -> Any:
        return {self.kind: self.path}  # type: ignore[attr-defined]


class Sum(_PathMeasure):
    """The total of a number over the outcomes, such as a deal amount."""

    kind: Literal["sum"] = "sum"
    sql_aggregate: ClassVar[SqlAggregate] = "sum"

    def accumulator(self) -> Accumulator:
        return SumAccumulator()


class Max(_PathMeasure):
    """The largest value in the period, such as peak seats."""

    kind: Literal["max"] = "max"
    sql_aggregate: ClassVar[SqlAggregate] = "max"

    def accumulator(self) -> Accumulator:
        return MaxAccumulator()


class Latest(_PathMeasure):
    """The value of the period's last outcome, such as a gauge read at close."""

    kind: Literal["latest"] = "latest"
    sql_aggregate: ClassVar[SqlAggregate] = "latest"

    def accumulator(self) -> Accumulator:
        return LatestAccumulator()


class Unique(_PathMeasure):
    """The number of distinct values, such as distinct users served."""

    kind: Literal["unique"] = "unique"
    sql_aggregate: ClassVar[SqlAggregate] = "count_distinct"

    def compile_value(self) -> Callable[[Event], MeasureValue]:
        return key_reader(self.path)

    def accumulator(self) -> Accumulator:
        return UniqueAccumulator()


_BY_KIND: Final[dict[str, type[_PathMeasure]]] = {
    "sum": Sum,
    "max": Max,
    "latest": Latest,
    "unique": Unique,
}
_EXPECTED: Final = "expected count or one of sum, max, latest, unique with a path"


def parse_measure(raw: Any) -> Any:
    """Read `count` or `{kind: path}`, raising a RuleValueError located at the fault."""
    if isinstance(raw, Count | _PathMeasure):
        return raw
    if raw == "count":
        return Count()
    if isinstance(raw, str) and raw in _BY_KIND:
        raise RuleValueError(f"measure {raw} needs a path, such as {{{raw}: properties.amount}}")
    if isinstance(raw, dict) and len(raw) == 1:
        ((kind, path),) = raw.items()
        if kind == "count":
            raise RuleValueError("count takes no path; write measure: count", (kind,))
        variant = _BY_KIND.get(kind)
        if variant is None:
            raise RuleValueError(f"unknown measure {kind!r}; {_EXPECTED}", (kind,))
        try:
            return variant(path=check_path(path))
        except ValueError as error:
            raise RuleValueError(str(error), (kind,)) from None
    if isinstance(raw, dict) and raw:
        raise RuleValueError(f"a measure has one kind; got {', '.join(map(str, raw))}")
    shown = repr(raw) if isinstance(raw, str) else _show(raw)
    raise RuleValueError(f"unknown measure {shown}; {_EXPECTED}")


_PATH_SCHEMA: Final[dict[str, Any]] = {
    "type": "string",
    "pattern": PATH_PATTERN,
    "description": "An event path such as properties.amount.",
}
_MEASURE_SCHEMA: Final[dict[str, Any]] = {
    "title": "Measure",
    "description": "count, or {sum|max|latest|unique: <path>}.",
    "default": "count",
    "anyOf": [
        {"const": "count", "description": "One unit per billable outcome."},
        *(
            {
                "type": "object",
                "properties": {kind: _PATH_SCHEMA},
                "required": [kind],
                "additionalProperties": False,
            }
            for kind in PATH_KINDS
        ),
    ],
}

Measure = Annotated[
    Count | Sum | Max | Latest | Unique,
    Field(discriminator="kind"),
    BeforeValidator(parse_measure),
    WithJsonSchema(_MEASURE_SCHEMA),
]
