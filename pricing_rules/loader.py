"""Load a YAML rule file into a `RuleFile`, or say exactly where and why it is wrong.

Two passes. The YAML is composed into nodes and turned into plain Python data while every
key and value position is recorded under its location (`("charges", 0, "tiers", 1)`).
Numbers are built from their source text, so `0.99` is `Decimal("0.99")`, never a float.
Then pydantic validates the data and each error location is mapped back to a line and
column, with a message in the words of the rule file instead of pydantic's.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, Literal, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, RootModel, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from pricing_rules.errors import Loc, RuleError, RuleFileError, RuleValueError, RuleValueErrors
from pricing_rules.rules import RuleFile

M = TypeVar("M", bound=BaseModel)
Position = tuple[int, int]
Target = Literal["value", "key", "mapping"]

_YAML_TAG: Final = "tag:yaml.org,2002:"


def load_rules(text: str, filename: str = "<rules>") -> RuleFile:
    """The validated rule file in `text`; RuleFileError lists every problem, in file order."""
    return load_document(text, RuleFile, filename)


def load_rules_file(path: str | Path) -> RuleFile:
    """Read and validate a rule file; an unreadable file is a RuleFileError too."""
    return load_rules(read_text(path), str(path))


def read_text(path: str | Path) -> str:
    """The UTF-8 text of `path`, or a RuleFileError saying why it cannot be read."""
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        reason = error.strerror or str(error)
        raise RuleFileError([RuleError(name, 1, 1, f"cannot read file: {reason}")]) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        before = raw[: error.start]
        line = before.count(b"\n") + 1
        column = len(before) - (before.rfind(b"\n") + 1) + 1
        message = "the file is not UTF-8 text; save it as UTF-8"
        raise RuleFileError([RuleError(name, line, column, message)]) from None


def load_document(text: str, model: type[M], filename: str = "<rules>") -> M:
    """Validate the YAML mapping in `text` as `model`, locating every error in the text."""
    document = read_yaml(text, filename)
    errors = list(document.errors)
    if document.root_kind == "broken":
        raise RuleFileError(errors)
    if document.root_kind != "mapping":
        errors.append(RuleError(filename, 1, 1, _not_a_mapping(model, document.root_kind)))
        raise RuleFileError(sorted(errors, key=_order))
    try:
        result = model.model_validate(document.data)
    except ValidationError as invalid:
        errors.extend(_locate_validation_errors(invalid, model, document, filename))
        raise RuleFileError(_unique_sorted(errors)) from None
    if errors:
        raise RuleFileError(_unique_sorted(errors))
    return result


# --- YAML to located data ----------------------------------------------------------------


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
    except MarkedYAMLError as error:
        document.errors.append(_syntax_error(error, filename))
        document.root_kind = "broken"
        return document
    if root is None:
        return document
    document.root_kind = _kind(root)
    document.data = _Builder(document, filename).build(root, ())
    return document


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


def _not_a_mapping(model: type[BaseModel], kind: str) -> str:
    keys = ", ".join(_field_names(model)[:3])
    got = {"empty": "the document is empty", "list": "got a list", "scalar": "got a single value"}
    return f"expected a mapping of keys such as {keys}; {got[kind]}"


# --- pydantic errors to located rule errors ----------------------------------------------


def _locate_validation_errors(
    invalid: ValidationError, model: type[BaseModel], document: Document, filename: str
) -> Iterator[RuleError]:
    for detail in invalid.errors(include_url=False):
        walk = _walk(model, detail["loc"], document.data)
        for loc, target, message in _explain(detail, walk):
            line, column = document.position(loc, target)
            yield RuleError(filename, line, column, message)


@dataclass
class _Walk:
    """A pydantic error location with union tags removed, and the types met along it."""

    loc: Loc
    annotation: Any
    parent: Any
    on_key: bool


def _walk(model: type[BaseModel], raw_loc: tuple[str | int, ...], data: Any) -> _Walk:
    annotation: Any = model
    parent: Any = None
    node = data
    loc: list[str | int] = []
    on_key = False
    for position, segment in enumerate(raw_loc):
        annotation = _unwrap(annotation)
        if segment == "[key]":
            on_key = True
            break
        if _is_union(annotation):
            annotation = _member_for_tag(annotation, segment)
            continue
        if annotation is None and not _indexes(node, segment):
            is_last = position == len(raw_loc) - 1
            if not (is_last and isinstance(node, dict)):
                continue
        parent = annotation
        annotation = _child_type(annotation, segment)
        node = _index(node, segment)
        loc.append(segment)
    return _Walk(tuple(loc), _unwrap(annotation), _unwrap(parent), on_key)


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated, type aliases, `| None` and RootModel wrappers down to the real type."""
    while True:
        if hasattr(annotation, "__value__"):
            annotation = annotation.__value__
        elif get_origin(annotation) is typing.Annotated:
            annotation = get_args(annotation)[0]
        elif _is_union(annotation):
            members = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        elif isinstance(annotation, type) and issubclass(annotation, RootModel):
            annotation = annotation.model_fields["root"].annotation
        else:
            return annotation


def _is_union(annotation: Any) -> bool:
    return get_origin(annotation) in (Union, types.UnionType)


def _union_members(annotation: Any) -> list[Any]:
    return [arg for arg in get_args(annotation) if arg is not type(None)]


def _tags_of(member: Any) -> set[str]:
    """The tags pydantic may put in an error location for this union member."""
    tags: set[str] = set()
    if get_origin(member) is typing.Annotated:
        for extra in get_args(member)[1:]:
            tag = getattr(extra, "tag", None)
            if isinstance(tag, str):
                tags.add(tag)
    plain = _unwrap(member)
    if isinstance(plain, type) and issubclass(plain, BaseModel):
        tags.add(plain.__name__)
        for info in plain.model_fields.values():
            if get_origin(info.annotation) is Literal:
                tags.update(str(value) for value in get_args(info.annotation))
    return tags


def _member_for_tag(union: Any, tag: str | int) -> Any:
    for member in _union_members(union):
        if str(tag) in _tags_of(member):
            return member
    return None


def _discriminator_values(union: Any, discriminator: str) -> list[str]:
    values: list[str] = []
    for member in _union_members(union):
        plain = _unwrap(member)
        if isinstance(plain, type) and issubclass(plain, BaseModel):
            info = plain.model_fields.get(discriminator)
            if info is not None and get_origin(info.annotation) is Literal:
                values.extend(str(value) for value in get_args(info.annotation))
    return values


def _indexes(node: Any, segment: str | int) -> bool:
    if isinstance(node, dict):
        return segment in node
    if isinstance(node, list) and isinstance(segment, int):
        return 0 <= segment < len(node)
    return False


def _index(node: Any, segment: str | int) -> Any:
    return node[segment] if _indexes(node, segment) else None


def _child_type(annotation: Any, segment: str | int) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, info in annotation.model_fields.items():
            if segment in (name, info.alias):
                return info.annotation
        return None
    origin = get_origin(annotation)
    args = get_args(annotation)
    if origin in (list, tuple, set, frozenset) and args:
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return None


def _field_names(model: Any) -> list[str]:
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return []
    return [info.alias or name for name, info in model.model_fields.items()]


def _model_noun(model: Any) -> str:
    title = model.model_config.get("title") or model.__name__
    words = re.findall(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+", title)
    if len(words) > 1 and words[-1] == "Spec":
        words.pop()
    return " ".join(word.lower() for word in words)


def _label(loc: Loc) -> str:
    """The name of the nearest key in `loc` (`("charges", 2)` -> `charges`)."""
    names = [segment for segment in loc if isinstance(segment, str)]
    return names[-1] if names else "the file"


def _singular(loc: Loc) -> str:
    name = _label(loc).replace("_", " ")
    return name[:-1] if name.endswith("s") and not name.endswith("ss") else name


def _show(value: Any) -> str:
    """A value as the user wrote it in YAML, for 'got ...' in messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return repr(value)
    return str(value)


def _one_of(values: list[str]) -> str:
    return ", ".join(values)


def _quoted_list(text: str) -> list[str]:
    """Pydantic's "'a', 'b' or 'c'" as ['a', 'b', 'c']."""
    return [part.strip().strip("'\"") for part in re.split(r", | or ", text) if part.strip()]


_PATTERNS: Final = {
    r"^[a-z0-9][a-z0-9-]*$": "lowercase letters, digits and dashes, such as support-agent",
    r"^[a-z][a-z0-9_]*$": (
        "lowercase letters, digits and underscores starting with a letter, "
        "such as resolved_conversation"
    ),
}

_TYPE_WORDS: Final = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_parsing_size": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "decimal_type": "a number",
    "decimal_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "text",
    "list_type": "a list",
    "tuple_type": "a list",
    "set_type": "a list",
    "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
    "dataclass_type": "a mapping (key: value)",
    "timedelta_type": "a duration such as 72h",
    "timedelta_parsing": "a duration such as 72h",
}

_BOUNDS: Final = {
    "greater_than": ("gt", "above"),
    "greater_than_equal": ("ge", "at least"),
    "less_than": ("lt", "below"),
    "less_than_equal": ("le", "at most"),
}


def _explain(detail: ErrorDetails, walk: _Walk) -> list[tuple[Loc, Target, str]]:
    """(location, what to point at, message) for one pydantic error."""
    kind = detail["type"]
    ctx: dict[str, Any] = dict(detail.get("ctx") or {})
    value = detail.get("input")
    loc = walk.loc
    value_target: Target = "key" if walk.on_key else "value"
    cause = ctx.get("error")
    if isinstance(cause, RuleValueErrors):
        return [((*loc, *each.subpath), "value", each.message) for each in cause.errors]
    if isinstance(cause, RuleValueError):
        return [((*loc, *cause.subpath), "value", cause.message)]
    if isinstance(cause, ValueError | AssertionError):
        return [(loc, value_target, str(cause))]
    if kind == "missing":
        return [(loc[:-1], "mapping", f"missing required key {loc[-1]!r}")]
    if kind == "extra_forbidden":
        return [(loc, "key", _unknown_key(loc, walk.parent))]
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        discriminator = str(ctx.get("discriminator", "")).strip("'\"")
        tags = _discriminator_values(walk.annotation, discriminator) or _quoted_list(
            str(ctx.get("expected_tags", ""))
        )
        if kind == "union_tag_not_found":
            message = f"missing required key {discriminator!r}; expected one of {_one_of(tags)}"
            return [(loc, "mapping", message)]
        noun = f"{_singular(loc)} {discriminator}"
        message = f"unknown {noun} {ctx.get('tag')!r}; expected one of {_one_of(tags)}"
        return [((*loc, discriminator), "value", message)]
    return [(loc, value_target, _plain_message(kind, ctx, value, walk, detail["msg"]))]


def _unknown_key(loc: Loc, model: Any) -> str:
    message = f"unknown key {loc[-1]!r}"
    allowed = _field_names(model)
    if not allowed:
        return message
    where = "at the top level" if len(loc) == 1 else f"in {_model_noun(model)}"
    return f"{message} {where}; expected one of {_one_of(allowed)}"


def _plain_message(kind: str, ctx: dict[str, Any], value: Any, walk: _Walk, msg: str) -> str:
    got = _show(value)
    if kind in _TYPE_WORDS:
        return f"expected {_TYPE_WORDS[kind]}, got {got}"
    if kind in _BOUNDS:
        name, words = _BOUNDS[kind]
        return f"expected a number {words} {ctx.get(name)}, got {got}"
    if kind == "literal_error" or kind == "enum":
        if get_origin(walk.annotation) is Literal:
            allowed = [str(option) for option in get_args(walk.annotation)]
        else:
            allowed = _quoted_list(str(ctx.get("expected", "")))
        return f"expected one of {_one_of(allowed)}, got {got}"
    if kind == "string_pattern_mismatch":
        pattern = str(ctx.get("pattern", ""))
        expected = _PATTERNS.get(pattern, f"text matching {pattern}")
        return f"expected {expected}, got {got}"
    if kind == "string_too_short":
        if ctx.get("min_length") == 1:
            return "expected some text, got an empty value"
        return f"expected at least {ctx.get('min_length')} characters, got {got}"
    if kind == "string_too_long":
        return f"expected at most {ctx.get('max_length')} characters, got {len(str(value))}"
    if kind in ("too_short", "too_long"):
        bound = "at least" if kind == "too_short" else "at most"
        limit = ctx.get("min_length" if kind == "too_short" else "max_length")
        actual = ctx.get("actual_length")
        return f"expected {bound} {limit} item(s) in {_label(walk.loc)}, got {actual}"
    if kind == "decimal_max_places":
        return f"expected at most {ctx.get('decimal_places')} decimal places, got {got}"
    return msg


def _order(error: RuleError) -> tuple[int, int, str]:
    return (error.line, error.column, error.message)


def _unique_sorted(errors: list[RuleError]) -> list[RuleError]:
    return sorted(set(errors), key=_order)
