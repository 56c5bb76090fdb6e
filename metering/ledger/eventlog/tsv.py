"""ClickHouse's TabSeparated format: the one wire format both the old server (18.16) and
chdb read and write the same way, Decimals included (as text, never floats)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

NULL = "\\N"
_ESCAPES = {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0", "'": "\\'"}
_UNESCAPES = {"\\": "\\", "t": "\t", "n": "\n", "r": "\r", "0": "\0", "'": "'", "b": "\b"}
_UNESCAPES |= {"f": "\f", "a": "\a", "v": "\v"}


_TRANSLATION = str.maketrans(_ESCAPES)
_SPECIAL = re.compile("[" + re.escape("".join(_ESCAPES)) + "]")


def field(value: str | None) -> str:
    """A value as a field; most have nothing to escape, and a regex search finds that
    several times faster than `translate` copies them."""
    if value is None:
        return NULL
    return value.translate(_TRANSLATION) if _SPECIAL.search(value) else value


def plain(text: str) -> bool:
    """Whether `text` is a field as it is (nothing to escape)."""
    return _SPECIAL.search(text) is None


def rows_text(rows: Iterable[Iterable[str | None]]) -> str:
    return "".join(map(row_text, rows))


def row_text(row: Iterable[str | None]) -> str:
    """One row, its line end included."""
    values = row if isinstance(row, list) else list(row)
    # One search over the row's values instead of one per value: most rows need none.
    if _SPECIAL.search("".join([value for value in values if value is not None])):
        return "\t".join(map(field, values)) + "\n"
    return "\t".join([NULL if value is None else value for value in values]) + "\n"


def _unescape(text: str) -> str | None:
    if text == NULL:
        return None
    if "\\" not in text:
        return text
    out: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            out.append(_UNESCAPES.get(text[index + 1], text[index + 1]))
            index += 2
        else:
            out.append(char)
            index += 1
    return "".join(out)


def parse(text: str) -> Iterator[list[str | None]]:
    for line in text.split("\n"):
        if line:
            yield [_unescape(value) for value in line.split("\t")]


def literal(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
