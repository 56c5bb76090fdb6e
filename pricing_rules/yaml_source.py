"""YAML text to plain data with the line and column of every key and value.

The document is composed into ruamel.yaml nodes and converted here, so numbers are built
from their source text (`0.99` is `Decimal("0.99")`, never a float), duplicate keys are
errors instead of last-wins, and every position is kept under its location
(`("charges", 0, "tiers", 1)`) for the loader to point at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final, Literal

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError

from pricing_rules.errors import Loc, RuleError

Position = tuple[int, int]
Target = Literal["value", "key", "mapping"]

_YAML_TAG: Final = "tag:yaml.org,2002:"


@dataclass
class Document:
    """Plain data from YAML with the 1-based position of every value and mapping key."""

    data: Any = None
    root_kind: str = "empty"
    values: dict[Loc, Position] = field(default_factory=dict)
    keys: dict[Loc, Position] = field(default_factory=dict)
    errors: list[RuleError] = field(default_factory=list)

    def position(self, loc: Loc, target: Target) -> Position:
        """Where to point for `loc`: its key, or its value, or the nearest known parent."""
        if target == "key" and loc in self.keys:
            return self.keys[loc]
        for end in range(len(loc), -1, -1):
            if loc[:end] in self.values:
                return self.values[loc[:end]]
        return (1, 1)


def read_yaml(text: str, filename: str = "<rules>") -> Document:
    """Compose `text` and convert it to located plain data; syntax errors become RuleErrors."""
    document = Document()
    try:
        root = YAML(typ="rt").compose(text)
        if root is None:
            return document
        document.root_kind = _kind(root)
        document.data = _Builder(document, filename).build(root, ())
    except MarkedYAMLError as error:
        return _broken(document, _syntax_error(error, filename))
    except ReaderError as error:
        return _broken(document, _character_error(error, text, filename))
    except RecursionError:
        message = "the YAML is nested too deeply to be read; a rule file nests a few levels"
        return _broken(document, RuleError(filename, 1, 1, message))
    return document


def _broken(document: Document, error: RuleError) -> Document:
    document.errors = [error]
    document.data = None
    document.root_kind = "broken"
    return document


def _character_error(error: ReaderError, text: str, filename: str) -> RuleError:
    """A character YAML does not allow (a control character, NUL, an unpaired surrogate),
    pointed at by its line and column."""
    before = text[: error.position]
    line = before.count("\n") + 1
    column = error.position - (before.rfind("\n") + 1) + 1
    code = error.character if isinstance(error.character, int) else ord(str(error.character))
    message = (
        f"the character U+{code:04X} is not allowed in YAML; remove it (a rule file holds no "
        "control characters other than tab and line breaks, and no unpaired surrogates)"
    )
    return RuleError(filename, line, column, message)


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "mapping"
    if isinstance(node, SequenceNode):
        return "list"
    return "scalar"


def _position(node: Node) -> Position:
    return (node.start_mark.line + 1, node.start_mark.column + 1)


def _tag(node: Node) -> str:
    tag = node.tag
    return str(getattr(tag, "value", tag))


class _Builder:
    """Turns composed nodes into dicts, lists and exact scalars, recording positions."""

    def __init__(self, document: Document, filename: str) -> None:
        self.document = document
        self.filename = filename
        self.active: set[int] = set()

    def error(self, node: Node, message: str) -> None:
        line, column = _position(node)
        self.document.errors.append(RuleError(self.filename, line, column, message))

    def build(self, node: Node, loc: Loc) -> Any:
        self.document.values[loc] = _position(node)
        if id(node) in self.active:
            self.error(node, "an alias refers to a value that contains it; remove the loop")
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self.mapping(node, loc)
            if isinstance(node, SequenceNode):
                self.check_tag(node, "seq")
                return [self.build(item, (*loc, index)) for index, item in enumerate(node.value)]
            return self.scalar(node)
        finally:
            self.active.discard(id(node))

    def check_tag(self, node: Node, expected: str) -> None:
        if _tag(node) != _YAML_TAG + expected:
            self.error(node, f"unknown tag {_tag(node)!r}; rule files use plain YAML values")

    def mapping(self, node: MappingNode, loc: Loc) -> dict[Any, Any]:
        self.check_tag(node, "map")
        result: dict[Any, Any] = {}
        merged: list[Node] = []
        for key_node, value_node in node.value:
            if _tag(key_node) == _YAML_TAG + "merge":
                merged.append(value_node)
                continue
            self.entry(result, key_node, value_node, loc, duplicate_is_error=True)
        for source in merged:
            sources = source.value if isinstance(source, SequenceNode) else [source]
            for source_mapping in sources:
                if not isinstance(source_mapping, MappingNode):
                    self.error(source_mapping, "a merge key (<<) takes a mapping or a list of them")
                    continue
                for key_node, value_node in source_mapping.value:
                    self.entry(result, key_node, value_node, loc, duplicate_is_error=False)
        return result

    def entry(
        self,
        result: dict[Any, Any],
        key_node: Node,
        value_node: Node,
        loc: Loc,
        *,
        duplicate_is_error: bool,
    ) -> None:
        if not isinstance(key_node, ScalarNode):
            self.error(key_node, "a key must be a plain name, not a list or a mapping")
            return
        key = self.scalar(key_node)
        child = (*loc, key if isinstance(key, str | int) else str(key))
        if key in result:
            if duplicate_is_error:
                first_line = self.document.keys[child][0]
                self.error(
                    key_node, f"duplicate key {key!r}; it is already set on line {first_line}"
                )
            return
        self.document.keys[child] = _position(key_node)
        result[key] = self.build(value_node, child)
        if isinstance(value_node, ScalarNode) and value_node.value == "":
            # An empty value has no text of its own; ruamel marks it at the next token.
            self.document.values[child] = _position(key_node)

    def scalar(self, node: Node) -> Any:
        tag = _tag(node)
        text: str = node.value
        if not tag.startswith(_YAML_TAG):
            self.error(node, f"unknown tag {tag!r}; rule files use plain YAML values")
            return text
        kind = tag.removeprefix(_YAML_TAG)
        if kind == "null":
            return None
        if kind == "bool":
            return text.lower() == "true"
        if kind == "int":
            return _exact_int(text)
        if kind == "float":
            return _exact_decimal(text)
        if kind not in ("str", "timestamp"):
            self.error(node, f"unknown tag {tag!r}; rule files use plain YAML values")
        return text


def _exact_int(text: str) -> int:
    digits = text.replace("_", "")
    unsigned = digits.lstrip("+-").lower()
    if unsigned.startswith(("0x", "0o", "0b")):
        return int(digits, 0)
    return int(digits, 10)


def _exact_decimal(text: str) -> Decimal:
    digits = text.replace("_", "")
    unsigned = digits.lstrip("+-").lower()
    if unsigned == ".inf":
        return Decimal("-Infinity" if digits.startswith("-") else "Infinity")
    if unsigned == ".nan":
        return Decimal("NaN")
    return Decimal(digits)


def _syntax_error(error: MarkedYAMLError, filename: str) -> RuleError:
    problem = error.problem or "invalid YAML"
    context = error.context or ""
    mark = error.problem_mark or error.context_mark
    if "'\\t'" in problem:
        message = "a tab character is not allowed here; indent with spaces"
    elif problem == "mapping values are not allowed here":
        message = (
            "unexpected ':' here; check the indentation of this line, "
            "or quote a value that contains ': '"
        )
    elif context == "while scanning a quoted scalar" and error.context_mark is not None:
        mark = error.context_mark
        message = "this quoted text is never closed; add the closing quote"
    elif context.startswith("expected a single document"):
        message = "a rule file holds one YAML document; remove the second '---'"
    else:
        message = f"invalid YAML: {problem}"
        if context and error.context_mark is not None:
            where = error.context_mark
            message += f" ({context} started on line {where.line + 1})"
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    return RuleError(filename, line, column, message)
