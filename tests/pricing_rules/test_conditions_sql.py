"""The SQL a condition renders selects exactly the events its compiled closure matches.

`SqliteBuilder` is a reference `PredicateBuilder` over a table of events with the
properties stored as JSON text, written the way the storage layer must: a compare is FALSE,
never NULL, for a missing path or a value of another JSON type, and the JSON type is read
with json_type so that `true` is not 1 and null is not missing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pricing_rules.conditions import (
    AllOf,
    AnyOf,
    Compare,
    Condition,
    Exists,
    Not,
    Operand,
    Scalar,
    SqlOp,
    parse_where,
)
from pricing_rules.events import Event

Sql = tuple[str, tuple[Any, ...]]
COLUMNS = ("id", "type", "customer")
NUMBER_TYPES = "COALESCE({typ}, '') IN ('integer', 'real')"
SQL_OPS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
NOW = datetime(2025, 3, 1, tzinfo=UTC)


def _param(value: Scalar) -> Any:
    return float(value) if isinstance(value, Decimal) else value


class SqliteBuilder:
    """Predicates over `events(id, type, customer, properties, cost)` for SQLite."""

    def compare(self, path: tuple[str, ...], op: SqlOp, value: Operand) -> Sql:
        root, *keys = path
        if root in COLUMNS:
            return self._column(root, op, value)
        json_path = "$" + "".join(f'."{key}"' for key in keys)
        typ = f"json_type({root}, ?)"
        val = f"json_extract({root}, ?)"
        if op in SQL_OPS:
            assert not isinstance(value, tuple)
            kind = f"{typ} IS 'text'" if isinstance(value, str) else NUMBER_TYPES.format(typ=typ)
            return f"({kind} AND {val} {SQL_OPS[op]} ?)", (json_path, json_path, _param(value))
        values = value if isinstance(value, tuple) else (value,)
        terms = [self._equals(typ, val, json_path, item) for item in values]
        return self.any_of(terms)

    def _equals(self, typ: str, val: str, json_path: str, value: Scalar) -> Sql:
        if value is None or isinstance(value, bool):
            name = "null" if value is None else str(value).lower()
            return f"{typ} IS '{name}'", (json_path,)
        kind = f"{typ} IS 'text'" if isinstance(value, str) else NUMBER_TYPES.format(typ=typ)
        return f"({kind} AND {val} = ?)", (json_path, json_path, _param(value))

    def _column(self, column: str, op: SqlOp, value: Operand) -> Sql:
        values = value if isinstance(value, tuple) else (value,)
        strings = tuple(item for item in values if isinstance(item, str))
        if not strings:
            return "0", ()
        if op in SQL_OPS:
            return f"{column} {SQL_OPS[op]} ?", strings
        return f"{column} IN ({', '.join('?' for _ in strings)})", strings

    def exists(self, path: tuple[str, ...], present: bool) -> Sql:
        root, *keys = path
        if root in COLUMNS:
            return ("1" if present else "0"), ()
        json_path = "$" + "".join(f'."{key}"' for key in keys)
        return f"json_type({root}, ?) IS {'NOT ' if present else ''}NULL", (json_path,)

    def _join(self, word: str, items: Sequence[Sql]) -> Sql:
        sql = f" {word} ".join(f"({text})" for text, _ in items)
        return f"({sql})", tuple(param for _, params in items for param in params)

    def all_of(self, items: Sequence[Sql]) -> Sql:
        return self._join("AND", items)

    def any_of(self, items: Sequence[Sql]) -> Sql:
        return self._join("OR", items)

    def not_(self, item: Sql) -> Sql:
        return f"NOT ({item[0]})", item[1]

    def true(self) -> Sql:
        return "1", ()


@pytest.fixture(scope="module")
def db() -> Iterator[sqlite3.Connection]:
    connection = sqlite3.connect(":memory:")
    connection.execute(
        "CREATE TABLE events (id TEXT NOT NULL, type TEXT NOT NULL, customer TEXT NOT NULL, "
        "properties TEXT NOT NULL, cost TEXT)"
    )
    yield connection
    connection.close()


def load(db: sqlite3.Connection, events: Sequence[Event]) -> None:
    db.execute("DELETE FROM events")
    db.executemany(
        "INSERT INTO events VALUES (?, ?, ?, ?, ?)",
        [
            (
                e.id,
                e.type,
                e.customer,
                json.dumps(e.properties, ensure_ascii=False),
                None if e.cost is None else json.dumps(e.cost, ensure_ascii=False),
            )
            for e in events
        ],
    )


def selected(db: sqlite3.Connection, condition: Condition) -> set[str]:
    sql, params = condition.render(SqliteBuilder())
    return {row[0] for row in db.execute(f"SELECT id FROM events WHERE {sql}", params)}


def matched(condition: Condition, events: Sequence[Event]) -> set[str]:
    predicate = condition.compile()
    return {e.id for e in events if predicate(e)}


# --- strategies ---------------------------------------------------------------------------

KEYS = st.sampled_from(["a", "b", "c-d", "$e"])
TEXT = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=3
)
# Rule numbers have at most 15 significant digits, where SQLite's doubles agree exactly.
RULE_NUMBERS = st.one_of(
    st.integers(-(10**15) + 1, 10**15 - 1),
    st.builds(
        lambda digits, exponent: Decimal(digits).scaleb(exponent),
        st.integers(-(10**7), 10**7),
        st.integers(-8, 3),
    ),
)
SHARED_TEXT: list[Scalar] = ["x", "y", "X", "", "é", "1", "true", "null"]
SHARED: list[Scalar] = [*SHARED_TEXT, 0, 1, -1, 3, Decimal("0.1"), Decimal("2.25")]
RULE_SCALARS: st.SearchStrategy[Scalar] = st.one_of(
    st.sampled_from(SHARED), RULE_NUMBERS, TEXT, st.none(), st.booleans()
)
ORDERED: st.SearchStrategy[Scalar] = st.one_of(st.sampled_from(SHARED), RULE_NUMBERS, TEXT)
EVENT_SCALARS = st.one_of(
    st.sampled_from(["x", "y", "X", "", "é", "1", 0, 1, 1.0, -1, 3, 0.1, 2.25, 3.0000000000000004]),
    st.none(),
    st.booleans(),
    st.integers(-(10**15), 10**15),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
JSON_VALUES = st.recursive(
    EVENT_SCALARS,
    lambda children: st.lists(children, max_size=2) | st.dictionaries(KEYS, children, max_size=3),
    max_leaves=6,
)
PROPERTIES = st.dictionaries(KEYS, JSON_VALUES, max_size=4)
PATHS = st.one_of(
    st.sampled_from(COLUMNS),
    st.builds(lambda key: f"properties.{key}", KEYS),
    st.builds(lambda a, b: f"properties.{a}.{b}", KEYS, KEYS),
    st.builds(lambda key: f"cost.{key}", KEYS),
)
COMPARES = st.one_of(
    st.builds(Compare, path=PATHS, op=st.sampled_from(["eq", "ne"]), value=RULE_SCALARS),
    st.builds(
        Compare,
        path=PATHS,
        op=st.sampled_from(["in", "not_in"]),
        value=st.lists(RULE_SCALARS, min_size=1, max_size=3).map(tuple),
    ),
    st.builds(Compare, path=PATHS, op=st.sampled_from(["gt", "gte", "lt", "lte"]), value=ORDERED),
    st.builds(Exists, path=PATHS, present=st.booleans()),
)
CONDITIONS: st.SearchStrategy[Condition] = st.recursive(
    COMPARES,
    lambda children: st.one_of(
        st.builds(AllOf, items=st.lists(children, max_size=3).map(tuple)),
        st.builds(AnyOf, items=st.lists(children, min_size=1, max_size=3).map(tuple)),
        st.builds(Not, item=children),
    ),
    max_leaves=6,
)


@st.composite
def event_lists(draw: st.DrawFn) -> list[Event]:
    count = draw(st.integers(1, 8))
    return [
        Event(
            id=f"evt_{index}",
            type=draw(st.sampled_from(["x", "conversation.resolved"])),
            customer=draw(st.sampled_from(["acme", "y", "1"])),
            timestamp=NOW,
            properties=draw(PROPERTIES),
            cost=draw(st.none() | st.dictionaries(KEYS, JSON_VALUES, max_size=2)),
        )
        for index in range(count)
    ]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(condition=CONDITIONS, events=event_lists())
def test_sql_selects_exactly_what_the_closure_matches(
    db: sqlite3.Connection, condition: Condition, events: list[Event]
) -> None:
    load(db, events)
    assert selected(db, condition) == matched(condition, events)


# --- examples a reader can check by eye ---------------------------------------------------

EXAMPLE_EVENTS = [
    Event("ok", "t", "acme", NOW, {"channel": "chat", "handled_by": "ai", "score": 5}),
    Event("phone", "t", "acme", NOW, {"channel": "phone", "handled_by": "ai", "score": 5}),
    Event("human", "t", "acme", NOW, {"channel": "email", "handled_by": "human"}),
    Event("float", "t", "acme", NOW, {"channel": "email", "handled_by": "ai", "score": 9.5}),
    Event("str-score", "t", "acme", NOW, {"channel": "chat", "handled_by": "ai", "score": "5"}),
    Event("null", "t", "acme", NOW, {"channel": None, "handled_by": "ai", "test": None}),
    Event("bool", "t", "globex", NOW, {"channel": "chat", "handled_by": "ai", "test": True}),
    Event("nested", "t", "acme", NOW, {"lead": {"score": 1}, "test": 1}),
]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (
            {"properties.channel": {"in": ["chat", "email"]}, "properties.handled_by": "ai"},
            {"ok", "float", "str-score", "bool"},
        ),
        ({"properties.score": {"gte": 5, "lt": 10}}, {"ok", "phone", "float"}),
        (
            {"properties.score": {"ne": 5}},
            {"human", "float", "str-score", "null", "bool", "nested"},
        ),
        ({"properties.test": {"eq": True}}, {"bool"}),
        ({"properties.test": {"eq": 1}}, {"nested"}),
        ({"properties.test": {"eq": None}}, {"null"}),
        ({"properties.test": {"exists": True}}, {"null", "bool", "nested"}),
        ({"properties.lead.score": {"in": [1, "x"]}}, {"nested"}),
        ({"not": {"customer": "acme"}, "properties.channel": "chat"}, {"bool"}),
        (
            {"any_of": [{"properties.score": {"gt": 9}}, {"properties.channel": {"eq": None}}]},
            {"float", "null"},
        ),
    ],
)
def test_sql_and_closure_agree_on_readable_examples(
    db: sqlite3.Connection, where: dict[str, Any], expected: set[str]
) -> None:
    condition = parse_where(where)
    load(db, EXAMPLE_EVENTS)
    assert matched(condition, EXAMPLE_EVENTS) == expected
    assert selected(db, condition) == expected
