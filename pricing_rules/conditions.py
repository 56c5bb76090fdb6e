"""`where` conditions: typed variants that both match an event in memory and render SQL.

A rule file writes a condition as a mapping in which every entry must hold::

    properties.channel: {in: [chat, email]}
    properties.score: {gte: 3, lt: 10}      # several operators on one path: all hold
    customer: acme                           # a bare value means eq
    any_of: [{properties.tier: {eq: gold}}, {properties.vip: {eq: true}}]
    not: {properties.test: {eq: true}}
    all_of: [...]                            # an explicit group

The mapping is parsed once into `Compare`, `Exists`, `AllOf`, `AnyOf` and `Not`. Each
compiles to a closure (`compile`) for the per-event path and renders through a
`PredicateBuilder` (`render`) for SQL, so both follow one definition:

- Values are JSON values with strict types: a string equals only a string, a number only a
  number (`1` equals `1.0`; `true` is not `1`), `true`/`false` only themselves, and `null`
  only `null`. Lists and objects in an event equal nothing.
- Numbers compare by their decimal value; a float reads as its shortest repr, as it is
  written in JSON (so `0.1` equals `eq: 0.1`). SQLite compares numbers as IEEE doubles,
  which agrees for numbers of up to 15 significant digits; PostgreSQL `numeric` agrees exactly.
- `gt`, `gte`, `lt`, `lte` compare a number with numbers and a string with strings (by code
  point, which is SQLite's BINARY and PostgreSQL's "C" collation); any other value is false.
- A missing path makes `eq`, `in`, `gt`, `gte`, `lt`, `lte` false; `ne` and `not_in` are
  their negations, so they are true for a missing path. `exists: true` holds when the path is
  present, even as `null`.
"""

from __future__ import annotations

import math
import operator
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import (
    Annotated,
    Any,
    Final,
    Literal,
    Protocol,
    TypeAlias,
    TypeVar,
    Union,
    get_args,
)

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    PlainSerializer,
    SerializationInfo,
    field_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from pricing_rules.errors import Loc, RuleValueError, RuleValueErrors
from pricing_rules.events import Event
from pricing_rules.paths import (
    MISSING,
    NESTED_PATTERN,
    check_path,
    compile_getter,
    segments,
    top_property,
)

Scalar: TypeAlias = bool | int | Decimal | str | None
Operand: TypeAlias = Scalar | tuple[Scalar, ...]
Predicate = Callable[[Event], bool]
CompareOp = Literal["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte"]
Operator = Literal["eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "exists"]
SqlOp = Literal["eq", "in", "gt", "gte", "lt", "lte"]

OPERATORS: Final[tuple[str, ...]] = get_args(Operator)
ORDERING_OPS: Final = frozenset({"gt", "gte", "lt", "lte"})
LIST_OPS: Final = frozenset({"in", "not_in"})
GROUP_KEYS: Final = frozenset({"any_of", "all_of", "not"})
_ORDERING: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
}

_FLOAT_MAX: Final = sys.float_info.max

T = TypeVar("T")


class PredicateBuilder(Protocol[T]):
    """Turns a condition into a query predicate of type T (the storage layer's SQL).

    `compare` receives only the positive operators (`ne` and `not_in` arrive as `not_` of
    `eq` and `in`), so it must return FALSE, never NULL, for a missing path or a value of
    another JSON type; `not_` can then be a plain NOT. Numbers arrive as int or Decimal,
    `in` operands as a tuple. Strings compare by code point (PostgreSQL: COLLATE "C").
    A path is its segments, root first: ("customer",) or ("properties", "lead", "score").
    `all_of` and `any_of` get at least two items; an empty group arrives as `true()`.
    """

    def compare(self, path: tuple[str, ...], op: SqlOp, value: Operand) -> T: ...

    def exists(self, path: tuple[str, ...], present: bool) -> T: ...

    def all_of(self, items: Sequence[T]) -> T: ...

    def any_of(self, items: Sequence[T]) -> T: ...

    def not_(self, item: T) -> T: ...

    def true(self) -> T: ...


# --- operands ---------------------------------------------------------------------------


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return repr(value) if isinstance(value, str) else str(value)


def _scalar(value: Any) -> Scalar:
    """A rule value as a JSON scalar: floats become Decimal via their repr."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return Decimal(repr(value))
    if isinstance(value, Decimal) and value.is_finite():
        return value
    raise ValueError(f"{_show(value)} is not a string, number, true, false or null")


def normalize_operand(op: str, value: Any) -> Operand:
    """The operand of `op` in canonical form, or a ValueError saying what `op` expects."""
    if op in LIST_OPS:
        if not isinstance(value, list | tuple):
            raise ValueError(f"{op} needs a list of values, not {_show(value)}")
        if not value:
            raise ValueError(f"{op} needs at least one value")
        items = []
        for item in value:
            if isinstance(item, list | tuple | dict):
                raise ValueError(f"{op} needs a list of single values, not one with {_show(item)}")
            items.append(_scalar(item))
        return tuple(items)
    if isinstance(value, list | tuple | dict):
        hint = ", use in" if op == "eq" and not isinstance(value, dict) else ""
        raise ValueError(f"{op} needs a single value, not {_show(value)}{hint}")
    scalar = _scalar(value)
    if op in ORDERING_OPS and (scalar is None or isinstance(scalar, bool)):
        raise ValueError(f"{op} needs a number or a string, not {_show(scalar)}")
    return scalar


def _condition_path(value: str) -> str:
    if value == "timestamp":
        raise ValueError("where cannot test timestamp; periods and settle windows handle time")
    return check_path(value)


# --- in-memory matching -----------------------------------------------------------------

ValueTest = Callable[[Any], bool]
"""A test of the value read at a path (MISSING when absent), the core of a `Compare`."""


def _membership(values: tuple[Scalar, ...]) -> ValueTest:
    """True when the value equals one of `values` under the strict JSON rules."""
    strings = frozenset(v for v in values if isinstance(v, str))
    if len(strings) == len(values):
        if len(strings) == 1:
            (only,) = strings
            return lambda value: value == only  # only a str equals a str
        return lambda value: value.__class__ is str and value in strings
    numbers = frozenset(
        v for v in values if isinstance(v, int | Decimal) and not isinstance(v, bool)
    )
    # A float equals a number only if it equals that number read as a float (rounding is
    # monotonic), so the exact Decimal check runs only on a float hit.
    floats = frozenset(float(number) for number in numbers)
    has_null = None in values
    has_true = any(v is True for v in values)
    has_false = any(v is False for v in values)

    def matches(value: Any) -> bool:
        kind = value.__class__
        if kind is str:
            return value in strings
        if kind is int:
            return value in numbers
        if kind is float:
            return value in floats and Decimal(repr(value)) in numbers
        if value is None:
            return has_null
        if kind is bool:
            return has_true if value else has_false
        if kind is Decimal:
            return bool(value.is_finite()) and value in numbers
        return False

    return matches


def _ordering(op: str, bound: Scalar) -> ValueTest:
    compare = _ORDERING[op]
    if isinstance(bound, str):
        return lambda value: value.__class__ is str and compare(value, bound)
    assert isinstance(bound, int | Decimal) and not isinstance(bound, bool)
    # A float on either side of the bound read as a float is on that side of the bound
    # itself (rounding is monotonic); only a float equal to it needs the exact comparison.
    near = float(bound)

    def matches(value: Any) -> bool:
        kind = value.__class__
        if kind is float:
            if value != near:
                return compare(value, near) and -_FLOAT_MAX <= value <= _FLOAT_MAX
            return compare(Decimal(repr(value)), bound)
        if kind is int:
            return compare(value, bound)
        if kind is Decimal:
            return bool(value.is_finite()) and compare(value, bound)
        return False

    return matches


def _all_properties_hold(tests: Sequence[tuple[str, ValueTest]]) -> Predicate | None:
    """Two tests of top-level properties (the usual `where`) fused into one closure that
    reads the properties once: about a third of the cost of composing their predicates."""
    if len(tests) != 2:
        return None
    (first_name, first), (second_name, second) = tests
    return lambda event: (
        first((props := event.properties).get(first_name, MISSING))
        and second(props.get(second_name, MISSING))
    )


# --- the variants -----------------------------------------------------------------------


class _Node(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Compare(_Node):
    """One operator on one path: `properties.channel: {in: [chat, email]}`."""

    kind: Literal["compare"] = "compare"
    path: Annotated[str, BeforeValidator(_condition_path)]
    op: CompareOp
    value: Operand

    @field_validator("value", mode="before")
    @classmethod
    def _normalize(cls, value: Any, info: core_schema.ValidationInfo) -> Operand:
        op = info.data.get("op")
        return normalize_operand(op, value) if op is not None else value

    def compile(self) -> Predicate:
        test = self.value_test()
        name = top_property(self.path)
        if name is not None:
            return lambda event: test(event.properties.get(name, MISSING))
        getter = compile_getter(self.path)
        return lambda event: test(getter(event))

    def value_test(self) -> ValueTest:
        """The test of the value at `path`, which `compile` composes with reading it."""
        if self.op in ORDERING_OPS:
            assert not isinstance(self.value, tuple)
            return _ordering(self.op, self.value)
        values = self.value if isinstance(self.value, tuple) else (self.value,)
        positive = _membership(values)
        if self.op in ("ne", "not_in"):
            return lambda value: not positive(value)
        return positive

    def render(self, builder: PredicateBuilder[T]) -> T:
        path = segments(self.path)
        if self.op == "ne":
            return builder.not_(builder.compare(path, "eq", self.value))
        if self.op == "not_in":
            return builder.not_(builder.compare(path, "in", self.value))
        return builder.compare(path, self.op, self.value)

    def to_mapping(self) -> dict[str, Any]:
        value = list(self.value) if isinstance(self.value, tuple) else self.value
        return {self.path: {self.op: value}}


class Exists(_Node):
    """`properties.x: {exists: true}`: the path is present (even as null), or absent."""

    kind: Literal["exists"] = "exists"
    path: Annotated[str, BeforeValidator(_condition_path)]
    present: bool = True

    def compile(self) -> Predicate:
        getter = compile_getter(self.path)
        if self.present:
            return lambda event: getter(event) is not MISSING
        return lambda event: getter(event) is MISSING

    def render(self, builder: PredicateBuilder[T]) -> T:
        return builder.exists(segments(self.path), self.present)

    def to_mapping(self) -> dict[str, Any]:
        return {self.path: {"exists": self.present}}


class AllOf(_Node):
    """Every item holds; no items always holds."""

    kind: Literal["all_of"] = "all_of"
    items: tuple[Condition, ...]

    def compile(self) -> Predicate:
        property_tests = [
            (name, item.value_test())
            for item in self.items
            if isinstance(item, Compare) and (name := top_property(item.path)) is not None
        ]
        if len(property_tests) == len(self.items):
            fused = _all_properties_hold(property_tests)
            if fused is not None:
                return fused
        predicates = tuple(item.compile() for item in self.items)
        if not predicates:
            return lambda event: True
        if len(predicates) == 1:
            return predicates[0]
        if len(predicates) == 2:
            first, second = predicates
            return lambda event: first(event) and second(event)

        def all_hold(event: Event) -> bool:
            for predicate in predicates:  # noqa: SIM110 - a loop beats a generator here
                if not predicate(event):
                    return False
            return True

        return all_hold

    def render(self, builder: PredicateBuilder[T]) -> T:
        if not self.items:
            return builder.true()
        if len(self.items) == 1:
            return self.items[0].render(builder)
        return builder.all_of([item.render(builder) for item in self.items])

    def to_mapping(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for item in self.items:
            entry = item.to_mapping()
            if all(_mergeable(merged, key, value) for key, value in entry.items()):
                for key, value in entry.items():
                    if key == "all_of":
                        merged.setdefault("all_of", []).extend(value)
                    elif key in merged:
                        merged[key] = {**merged[key], **value}
                    else:
                        merged[key] = value
            else:
                merged.setdefault("all_of", []).append(entry)
        return merged


def _mergeable(mapping: dict[str, Any], key: str, value: Any) -> bool:
    """Whether `key: value` can join `mapping` without changing what either means."""
    if key == "all_of" or key not in mapping:
        return True
    if key in GROUP_KEYS:
        return False
    return not mapping[key].keys() & value.keys()


class AnyOf(_Node):
    """At least one item holds."""

    kind: Literal["any_of"] = "any_of"
    items: tuple[Condition, ...] = Field(min_length=1)

    def compile(self) -> Predicate:
        predicates = tuple(item.compile() for item in self.items)
        if len(predicates) == 1:
            return predicates[0]
        if len(predicates) == 2:
            first, second = predicates
            return lambda event: first(event) or second(event)

        def any_holds(event: Event) -> bool:
            for predicate in predicates:  # noqa: SIM110 - a loop beats a generator here
                if predicate(event):
                    return True
            return False

        return any_holds

    def render(self, builder: PredicateBuilder[T]) -> T:
        if len(self.items) == 1:
            return self.items[0].render(builder)
        return builder.any_of([item.render(builder) for item in self.items])

    def to_mapping(self) -> dict[str, Any]:
        return {"any_of": [item.to_mapping() for item in self.items]}


class Not(_Node):
    """The item does not hold."""

    kind: Literal["not"] = "not"
    item: Condition

    def compile(self) -> Predicate:
        inner = self.item.compile()
        return lambda event: not inner(event)

    def render(self, builder: PredicateBuilder[T]) -> T:
        return builder.not_(self.item.render(builder))

    def to_mapping(self) -> dict[str, Any]:
        return {"not": self.item.to_mapping()}


Condition = Annotated[
    Union[Compare, Exists, AllOf, AnyOf, Not],  # noqa: UP007 - forward references need Union
    Field(discriminator="kind"),
]
AllOf.model_rebuild()
AnyOf.model_rebuild()
Not.model_rebuild()


# --- the YAML mapping form --------------------------------------------------------------


def parse_where(raw: Any) -> Condition:
    """Parse the mapping form, raising every fault with its sub-path below the mapping."""
    if isinstance(raw, Compare | Exists | AllOf | AnyOf | Not):
        return raw
    problems: list[RuleValueError] = []
    condition = _parse_mapping(raw, (), problems)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise RuleValueErrors(problems)
    return condition


def _group(items: list[Condition]) -> Condition:
    return items[0] if len(items) == 1 else AllOf(items=tuple(items))


def _parse_mapping(raw: Any, at: Loc, problems: list[RuleValueError]) -> Condition:
    if not isinstance(raw, dict):
        problems.append(
            RuleValueError(
                f"a where condition is a mapping of paths to conditions, not {_show(raw)}", at
            )
        )
        return AllOf(items=())
    items: list[Condition] = []
    for key, value in raw.items():
        here = (*at, key)
        if key in ("any_of", "all_of"):
            items.extend(_parse_list(key, value, here, problems))
        elif key == "not":
            items.append(Not(item=_parse_mapping(value, here, problems)))
        else:
            items.extend(_parse_path(key, value, here, problems))
    return _group(items)


def _parse_list(key: str, raw: Any, at: Loc, problems: list[RuleValueError]) -> list[Condition]:
    if not isinstance(raw, list):
        problems.append(RuleValueError(f"{key} needs a list of where mappings", at))
        return []
    if key == "any_of" and not raw:
        problems.append(RuleValueError("any_of needs at least one condition", at))
        return []
    parsed = [_parse_mapping(entry, (*at, index), problems) for index, entry in enumerate(raw)]
    if key == "all_of":
        return parsed
    return [AnyOf(items=tuple(parsed))]


def _parse_path(key: Any, raw: Any, at: Loc, problems: list[RuleValueError]) -> list[Condition]:
    try:
        path = _condition_path(key)
    except ValueError as error:
        problems.append(RuleValueError(str(error), at))
        return []
    if not isinstance(raw, dict):
        if isinstance(raw, list):
            problems.append(
                RuleValueError(f"{path}: a list needs an operator, such as {{in: [...]}}", at)
            )
            return []
        raw = {"eq": raw}
    if not raw:
        problems.append(
            RuleValueError(f"no operator for {path}; expected one of {', '.join(OPERATORS)}", at)
        )
    items: list[Condition] = []
    for op, value in raw.items():
        here = (*at, op)
        if op == "exists":
            if isinstance(value, bool):
                items.append(Exists(path=path, present=value))
            else:
                message = f"exists needs true or false, not {_show(value)}"
                problems.append(RuleValueError(f"{path}: {message}", here))
        elif op in OPERATORS:
            try:
                operand = normalize_operand(op, value)
            except ValueError as error:
                problems.append(RuleValueError(f"{path}: {error}", here))
            else:
                items.append(Compare(path=path, op=op, value=operand))
        else:
            problems.append(
                RuleValueError(
                    f"unknown operator {op!r} for {path}; expected one of {', '.join(OPERATORS)}",
                    here,
                )
            )
    return items


def to_mapping(condition: Condition, info: SerializationInfo) -> dict[str, Any]:
    """The YAML mapping form of a condition; `parse_where` reads it back to the same test.

    In JSON, a Decimal operand becomes a JSON number (int or float when that is exact)
    rather than pydantic's default string, which would turn a number test into a string test.
    """
    mapping = condition.to_mapping()
    return _json_numbers(mapping) if info.mode_is_json() else mapping


def _json_numbers(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _json_numbers(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_numbers(item) for item in value]
    if isinstance(value, Decimal):
        if value == value.to_integral_value():
            return int(value)
        as_float = float(value)
        return as_float if Decimal(repr(as_float)) == value else value
    return value


# --- JSON Schema of the mapping form ----------------------------------------------------

_PATH_PATTERN: Final = rf"^(?:id|type|customer|{NESTED_PATTERN})$"
_SCALAR_SCHEMA: Final[dict[str, Any]] = {"type": ["string", "number", "boolean", "null"]}
_LIST_SCHEMA: Final[dict[str, Any]] = {"type": "array", "items": _SCALAR_SCHEMA, "minItems": 1}
_ORDERED_SCHEMA: Final[dict[str, Any]] = {"type": ["string", "number"]}
_OPERATORS_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "description": "Operators on this path; all must hold.",
    "properties": {
        "eq": _SCALAR_SCHEMA,
        "ne": _SCALAR_SCHEMA,
        "in": _LIST_SCHEMA,
        "not_in": _LIST_SCHEMA,
        "gt": _ORDERED_SCHEMA,
        "gte": _ORDERED_SCHEMA,
        "lt": _ORDERED_SCHEMA,
        "lte": _ORDERED_SCHEMA,
        "exists": {"type": "boolean"},
    },
    "additionalProperties": False,
    "minProperties": 1,
}


def _mapping_schema_extra(schema: dict[str, Any]) -> None:
    for prop in schema["properties"].values():
        prop.pop("default", None)
        prop.pop("title", None)
    not_schema = schema["properties"]["not"]
    not_schema.update(not_schema.pop("anyOf")[0])
    schema["patternProperties"] = {
        _PATH_PATTERN: {
            "description": "An event path; a bare value means eq.",
            "anyOf": [_SCALAR_SCHEMA, _OPERATORS_SCHEMA],
        }
    }
    schema["additionalProperties"] = False
    schema["description"] = (
        "Every entry must hold: event paths with a value or operators, any_of, all_of, not."
    )


class WhereMapping(BaseModel):
    """Schema only: the shape of a `where` mapping, for editors. Parsing is `parse_where`."""

    model_config = ConfigDict(
        title="Where",
        json_schema_extra=_mapping_schema_extra,
    )

    any_of: list[WhereMapping] = Field(
        default_factory=list, min_length=1, description="At least one of these holds."
    )
    all_of: list[WhereMapping] = Field(
        default_factory=list, description="Every one of these holds."
    )
    not_: WhereMapping | None = Field(default=None, alias="not", description="This must not hold.")


class _WhereJsonSchema:
    """Gives `Where` the schema of the mapping form instead of the typed variants."""

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return handler(WhereMapping.__pydantic_core_schema__)


Where = Annotated[
    Condition,
    BeforeValidator(parse_where),
    PlainSerializer(to_mapping),
    _WhereJsonSchema,
]
