"""The OpenAPI document says what each operation needs and answers: its credentials, every
status the platform gives (problem documents, 503 with Retry-After), and examples that are
valid against their own schemas."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from metering.platform.api.problems import PROBLEM_JSON
from metering.platform.settings import Settings
from metering.surfaces.app import create_app

DOCUMENT_URI = "urn:openapi"
SIGNED = {
    "POST /v1/webhooks/{vendor_id}/events": [
        {"webhookId": [], "webhookTimestamp": [], "webhookSignature": []}
    ],
    "POST /v1/stripe/webhook": [{"stripeSignature": []}],
}
PUBLIC = {"GET /healthz", "GET /readyz"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    openapi: dict[str, Any] = create_app(Settings(database_url="sqlite://")).openapi()
    return openapi


def operations(document: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def test_each_operation_declares_its_credentials(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["vendorApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schemes["vendorApiKey"]["description"],
    }
    assert [
        schemes[name]["name"] for name in SIGNED["POST /v1/webhooks/{vendor_id}/events"][0]
    ] == [
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    ]
    assert schemes["stripeSignature"]["name"] == "Stripe-Signature"
    seen = set()
    for name, operation in operations(document):
        if name in PUBLIC:
            expected: list[dict[str, list[str]]] = []
        else:
            expected = SIGNED.get(name, [{"vendorApiKey": []}])
        assert operation["security"] == expected, name
        seen.add(name)
    assert PUBLIC | set(SIGNED) <= seen


def problem_examples(operation: dict[str, Any], status: str) -> set[str]:
    content = operation["responses"][status]["content"]
    assert list(content) == [PROBLEM_JSON]
    return set(content[PROBLEM_JSON].get("examples", {}))


def test_invalid_requests_are_documented_as_problem_documents(document: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in document["components"]["schemas"]
    for name, operation in operations(document):
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")):
                assert list(response["content"]) == [PROBLEM_JSON], f"{name} {status}"
        if operation.get("parameters") or "requestBody" in operation:
            assert "invalid-request" in problem_examples(operation, "422"), name
        if "application/json" in operation.get("requestBody", {}).get("content", {}):
            assert "malformed-json" in problem_examples(operation, "400"), name
            assert "http-415" in problem_examples(operation, "415"), name
        if any(parameter["name"] == "cursor" for parameter in operation.get("parameters", [])):
            assert "invalid-cursor" in problem_examples(operation, "400"), name


def test_every_operation_on_the_database_documents_503_with_retry_after(
    document: dict[str, Any],
) -> None:
    for name, operation in operations(document):
        if name == "GET /healthz":
            assert "503" not in operation["responses"]
        elif name == "GET /readyz":
            assert problem_examples(operation, "503") == {"not-ready"}
        else:
            response = operation["responses"]["503"]
            assert list(response["content"]) == [PROBLEM_JSON], name
            assert response["headers"]["Retry-After"]["schema"]["type"] == "integer", name


def test_the_stripe_webhook_documents_its_404_when_stripe_is_not_configured(
    document: dict[str, Any],
) -> None:
    operation = document["paths"]["/v1/stripe/webhook"]["post"]
    assert problem_examples(operation, "404") == {"stripe-not-configured"}
    with_app = create_app(Settings(database_url="sqlite://"))
    from fastapi.testclient import TestClient

    with TestClient(with_app) as client:
        answer = client.post("/v1/stripe/webhook", content=b"{}")
    assert answer.status_code == 404
    assert answer.headers["content-type"] == PROBLEM_JSON
    assert answer.json()["type"] == "/problems/stripe-not-configured"
    assert "METERING_STRIPE_WEBHOOK_SECRET" in answer.json()["detail"]


def _example_of(media: dict[str, Any], schemas: dict[str, Any]) -> list[Any]:
    """The examples a reader sees for a body: the media type's own, else its schema's (or,
    for a `$ref`, the component's)."""
    if "example" in media:
        return [media["example"]]
    if "examples" in media:
        return [example["value"] for example in media["examples"].values()]
    schema = media.get("schema", {})
    refs = [branch for branch in schema.get("anyOf", []) if "$ref" in branch]  # optional body
    schema = refs[0] if refs else schema
    schema = schemas.get(schema.get("$ref", "").rpartition("/")[2], schema)
    if "examples" in schema:
        return list(schema["examples"])
    return [schema["example"]] if "example" in schema else []


def _escaped(*parts: str) -> str:
    return "/".join(part.replace("~", "~0").replace("/", "~1") for part in parts)


def test_request_bodies_and_answers_have_examples_valid_against_their_schema(
    document: dict[str, Any],
) -> None:
    schemas = document["components"]["schemas"]
    registry: Registry[Any] = Registry().with_resource(
        DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    checked = 0
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            bodies = [(("requestBody",), operation.get("requestBody", {}))]
            bodies += [
                (("responses", status), response)
                for status, response in operation["responses"].items()
                if status.startswith("2")
            ]
            for where, body in bodies:
                for media_type, media in body.get("content", {}).items():
                    name = f"{method.upper()} {path} {where[-1]} {media_type}"
                    examples = _example_of(media, schemas)
                    assert examples, f"{name}: no example"
                    pointer = _escaped(path, method, *where, "content", media_type, "schema")
                    # The event doors read their body themselves: examples, no schema.
                    schema = (
                        {"$ref": f"{DOCUMENT_URI}#/paths/{pointer}"} if "schema" in media else {}
                    )
                    validator = Draft202012Validator(schema, registry=registry)
                    for example in examples:
                        errors = [error.message for error in validator.iter_errors(example)]
                        assert errors == [], name
                        checked += 1
    assert checked > 60
