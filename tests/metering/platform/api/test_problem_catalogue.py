"""One catalogue of problem types: documented in OpenAPI, the only place a problem is built."""

from __future__ import annotations

import ast
from http import HTTPStatus
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

import metering
from metering.platform.api import problems
from metering.platform.api.problems import CATALOGUE, PROBLEM_JSON
from metering.platform.settings import Settings
from metering.surfaces.app import create_app

PACKAGE = Path(metering.__file__).parent
CATALOGUE_MODULE = Path(problems.__file__)

ANSWERED_OUTSIDE_ROUTES = {
    problems.HTTP_METHOD_NOT_ALLOWED,  # any path, by the framework
    problems.HTTP_INTERNAL_SERVER_ERROR,  # any route, on a crash
    problems.DATABASE_UNAVAILABLE,  # any route, when the database cannot be reached
    problems.INVALID_REASON,  # disputes are filed from portal pages
    problems.NOT_DISPUTABLE,
    problems.DISPUTE_OPEN,
}


def _openapi() -> dict[str, Any]:
    with TestClient(create_app(Settings(database_url="sqlite://"))) as client:
        document: dict[str, Any] = client.get("/openapi.json").json()
    return document


def test_every_catalogue_type_is_documented_in_openapi() -> None:
    description = _openapi()["info"]["description"]
    for kind in CATALOGUE:
        row = f"| `{kind.uri}` | {kind.status} | {kind.title} | {kind.description} |"
        assert row in description, kind.slug


def test_routes_document_catalogue_types_under_their_own_status() -> None:
    by_slug = {kind.slug: kind for kind in CATALOGUE}
    documented = set()
    for path, operations in _openapi()["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                content = response.get("content", {}).get(PROBLEM_JSON)
                if content is None:
                    continue
                for slug, example in content.get("examples", {}).items():
                    kind = by_slug[slug]
                    assert example["value"] == {
                        "type": kind.uri,
                        "title": kind.title,
                        "status": int(status),
                        "detail": kind.description,
                    }, f"{method.upper()} {path} {status} {slug}"
                    documented.add(kind)
    assert set(CATALOGUE) - documented == ANSWERED_OUTSIDE_ROUTES


def inline_problems(source: str, filename: str) -> list[str]:
    """Places in `source` that build a problem instead of raising a catalogue entry: a
    `ProblemError(...)` or `ProblemType(...)` call, or a dict with a literal status or title
    next to the other."""
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in ("ProblemError", "ProblemType"):
                found.append(f"{filename}:{node.lineno}: {name}(...)")
        elif isinstance(node, ast.Dict):
            members = {
                key.value: value
                for key, value in zip(node.keys, node.values, strict=True)
                if isinstance(key, ast.Constant)
            }
            if {"status", "title"} <= set(members) and any(
                isinstance(members[name], ast.Constant) for name in ("status", "title")
            ):
                found.append(f"{filename}:{node.lineno}: a problem dict")
    return found


def test_no_module_outside_the_catalogue_builds_a_problem() -> None:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path != CATALOGUE_MODULE:
            name = str(path.relative_to(PACKAGE.parent))
            found += inline_problems(path.read_text(encoding="utf-8"), name)
    assert found == []


def test_the_scan_finds_inline_problems() -> None:
    source = (
        "raise ProblemError(404, 'Not Found', 'No plan.')\n"
        "raise api.ProblemError(409, 'Conflict', 'Taken.')\n"
        "body = {'type': 'about:blank', 'title': 'Gone', 'status': 410, 'detail': 'x'}\n"
        "raise problems.NOT_FOUND.error('No plan.')\n"
        "example = {'title': kind.title, 'status': kind.status}\n"
    )
    assert inline_problems(source, "m.py") == [
        "m.py:1: ProblemError(...)",
        "m.py:2: ProblemError(...)",
        "m.py:3: a problem dict",
    ]


def test_slugs_are_unique_and_statuses_are_http_errors() -> None:
    slugs = [kind.slug for kind in CATALOGUE]
    assert len(slugs) == len(set(slugs))
    uris = [kind.uri for kind in CATALOGUE if not kind.plain]
    assert len(uris) == len(set(uris))
    for kind in CATALOGUE:
        assert 400 <= kind.status <= 599, kind.slug
        phrase = HTTPStatus(kind.status).phrase
        assert kind.uri == ("about:blank" if kind.plain else f"/problems/{kind.slug}")
        if kind.plain:
            assert kind.title == phrase, kind.slug


def test_a_catalogue_entry_raises_its_status_title_and_type() -> None:
    problem = problems.INVOICE_PAID.error(
        "Invoice 'inv_1' is paid.", extra={"invoice_id": "inv_1"}, headers={"X-A": "b"}
    )
    assert problem.body() == {
        "type": "/problems/invoice-paid",
        "title": "Invoice Paid",
        "status": 409,
        "detail": "Invoice 'inv_1' is paid.",
        "invoice_id": "inv_1",
    }
    assert problem.headers == {"X-A": "b"}


def test_an_http_error_outside_the_catalogue_stays_a_plain_problem() -> None:
    assert problems.plain(404) is problems.HTTP_NOT_FOUND
    teapot = problems.plain(418)
    assert (teapot.uri, teapot.status, teapot.title) == ("about:blank", 418, "I'm a Teapot")
