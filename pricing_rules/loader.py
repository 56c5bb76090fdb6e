"""Load a YAML rule file into a `RuleFile`, or say exactly where and why it is wrong.

Two passes. `yaml_source` turns the YAML into plain data with the position of every key and
value; then pydantic validates the data and each error location is mapped back to a line
and column, with a message in the words of the rule file instead of pydantic's.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, RootModel, ValidationError
from pydantic_core import ErrorDetails

from pricing_rules.errors import Loc, RuleError, RuleFileError, RuleValueError, RuleValueErrors
from pricing_rules.rules import RuleFile
from pricing_rules.yaml_source import Document, Target, read_yaml

M = TypeVar("M", bound=BaseModel)


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
        raise RuleFileError(sorted_errors(errors)) from None
    if errors:
        raise RuleFileError(sorted_errors(errors))
    return result


def _not_a_mapping(model: type[BaseModel], kind: str) -> str:
    keys = ", ".join(_field_names(model)[:3])
    got = {"empty": "the document is empty", "list": "got a list", "scalar": "got a single value"}
    return f"expected a mapping of keys such as {keys}; {got[kind]}"


# --- pydantic errors to located rule errors ----------------------------------------------


def _locate_validation_errors(
    invalid: ValidationError, model: type[BaseModel], document: Document, filename: str
) -> Iterator[RuleError]:
    return locate_errors(invalid, model, document.data, document, filename)


def locate_errors(
    invalid: ValidationError,
    model: type[BaseModel],
    data: Any,
    document: Document,
    filename: str,
    relocate: Callable[[Loc], Loc] = lambda loc: loc,
) -> Iterator[RuleError]:
    """Each error of validating `data` as `model`, in rule-file words, at the place in
    `document` that `relocate` maps its location to (data built from a document, such as a
    plan's charge with an override's keys, is checked in the document it came from)."""
    for detail in invalid.errors(include_url=False):
        walk = _walk(model, detail["loc"], data)
        for loc, target, message in _explain(detail, walk):
            line, column = document.position(relocate(loc), target)
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


def sorted_errors(errors: list[RuleError]) -> list[RuleError]:
    """Errors once each, in file order."""
    return sorted(set(errors), key=_order)
