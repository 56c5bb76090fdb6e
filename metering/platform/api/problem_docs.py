"""The OpenAPI side of the problem catalogue: what a route answers, and the whole list.

Each route names the problem types it can answer with (`problem_responses(NOT_FOUND, ...)`)
and gets one documented response per status, with an example of each type; the API's
description carries the table of every type in the catalogue.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from metering.platform.api.problems import CATALOGUE, PROBLEM_JSON, ProblemType


class Problem(BaseModel):
    """The RFC 9457 document (documentation only; responses are built by `ProblemError`)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(
        "about:blank",
        description="`/problems/<slug>` (relative to the API), or `about:blank` when the "
        "title is the HTTP status phrase; the API's description lists every type.",
    )
    title: str
    status: int
    detail: str


def _example(kind: ProblemType) -> dict[str, Any]:
    return {
        "summary": kind.description,
        "value": {
            "type": kind.uri,
            "title": kind.title,
            "status": kind.status,
            "detail": kind.description,
        },
    }


def _response(kinds: list[ProblemType]) -> dict[str, Any]:
    titles = dict.fromkeys(kind.title for kind in kinds)
    return {
        "description": "; ".join(titles),
        "content": {
            PROBLEM_JSON: {
                "schema": Problem.model_json_schema(),
                "examples": {kind.slug: _example(kind) for kind in kinds},
            }
        },
    }


def problem_responses(*kinds: ProblemType) -> dict[int | str, dict[str, Any]]:
    """The documented problem responses of a route (or router) answering with `kinds`, one
    per status, for its `responses=`."""
    by_status: dict[int, list[ProblemType]] = {}
    for kind in kinds:
        by_status.setdefault(kind.status, []).append(kind)
    return {status: _response(by_status[status]) for status in sorted(by_status)}


def add_problem_responses(responses: dict[str, Any], *kinds: ProblemType) -> None:
    """Document `kinds` in an operation's generated `responses`, beside what it lists: a
    status it already answers with problems gets their examples, a new one its response."""
    for status, documented in problem_responses(*kinds).items():
        existing: dict[str, Any] = responses.get(str(status)) or {}
        content = existing.get("content", {}).get(PROBLEM_JSON)
        if content is None:
            responses[str(status)] = documented
            continue
        added = documented["content"][PROBLEM_JSON]["examples"]
        examples = content.setdefault("examples", {})
        examples.update({slug: value for slug, value in added.items() if slug not in examples})
        titles = dict.fromkeys(
            [*existing["description"].split("; "), *documented["description"].split("; ")]
        )
        existing["description"] = "; ".join(titles)


def catalogue_table() -> str:
    """Every problem type as a Markdown table, for the API's description."""
    rows = [
        f"| `{kind.uri}` | {kind.status} | {kind.title} | {kind.description} |"
        for kind in CATALOGUE
    ]
    header = ["| type | status | title | when |", "| --- | --- | --- | --- |"]
    return "\n".join(header + rows) + "\n"
