"""`one_of(column, values)`: `column IN (values)`, as one array parameter on PostgreSQL.

SQLAlchemy sends an IN list as one parameter per value: for a batch of a thousand customers
the driver parses a query of a thousand placeholders every time (it caches only short ones)
and the server plans a thousand parameters, ten milliseconds a query. PostgreSQL takes
`column = ANY(%(values)s)` with the list as one array instead; SQLite keeps the IN list.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement


class one_of(FunctionElement[Any]):
    """Whether `column` is one of `values`."""

    type = sa.types.NullType()  # a Boolean would be compared with 1 on SQLite
    inherit_cache = True
    name = "one_of"

    def __init__(self, column: Any, values: Iterable[Any]) -> None:
        """`column`: a table's column or a model's attribute."""
        listed = list(values)
        super().__init__(
            column,
            sa.bindparam(None, listed, type_=column.type, expanding=True),
            sa.bindparam(None, listed, type_=postgresql.ARRAY(column.type)),
        )


@compiles(one_of)
def _in_list(element: one_of, compiler: Any, **kw: Any) -> str:
    column, listed, _ = element.clauses.clauses
    return str(compiler.process(column.in_(listed), **kw))


@compiles(one_of, "postgresql")
def _any_array(element: one_of, compiler: Any, **kw: Any) -> str:
    column, _, array = element.clauses.clauses
    return str(compiler.process(column == sa.any_(array), **kw))
