"""The OpenAPI document, completed with what the platform makes every operation answer.

A route documents what it decides itself (`responses=problem_responses(...)`). What the
platform answers for any route is added here, in one place, from what the operation's
generated description says it takes:
- `422` invalid request as a problem document (in place of FastAPI's `application/json`
  HTTPValidationError), for every route with parameters or a body;
- `400` malformed JSON and `415` a body that is not JSON, for every operation taking a JSON body;
- `400` invalid cursor, for every list (a `cursor` query parameter);
- `503` with `Retry-After` when the database is unavailable, for every route that uses it;
- an example of each list page, made from its item's example; and the nulls FastAPI drops
  from examples, put back.

Security: routes calling `current_vendor` get the bearer API key from FastAPI itself (its
`HTTPBearer` dependency); the signed doors name theirs with `openapi_extra=` one of the
requirements below, and operations without credentials declare an empty `security`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from metering.platform.api import problems
from metering.platform.api.problem_docs import Problem, add_problem_responses
from metering.platform.api.problems import PROBLEM_JSON

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "webhookId": {
        "type": "apiKey",
        "in": "header",
        "name": "webhook-id",
        "description": "Standard Webhooks: the delivery's unique id (sent with the other two).",
    },
    "webhookTimestamp": {
        "type": "apiKey",
        "in": "header",
        "name": "webhook-timestamp",
        "description": "Standard Webhooks: Unix seconds when the delivery was signed; more "
        "than 5 minutes away from our clock is refused.",
    },
    "webhookSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "webhook-signature",
        "description": "Standard Webhooks: `v1,<base64 HMAC-SHA256>` of "
        "`<webhook-id>.<webhook-timestamp>.<body>` with the vendor's signing secret.",
    },
    "stripeSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "Stripe-Signature",
        "description": "Stripe's signature of the event with the endpoint secret "
        "(`METERING_STRIPE_WEBHOOK_SECRET`).",
    },
}

STANDARD_WEBHOOKS: dict[str, Any] = {
    "security": [{"webhookId": [], "webhookTimestamp": [], "webhookSignature": []}]
}
"""`openapi_extra` of a route signed with Standard Webhooks: all three headers together."""
STRIPE_SIGNATURE: dict[str, Any] = {"security": [{"stripeSignature": []}]}
"""`openapi_extra` of the route Stripe signs."""

DATABASE_FREE = frozenset({"/healthz"})
"""Paths that answer without the database (every other one can answer 503)."""
READINESS = "/readyz"
"""Answers its own 503 (`not-ready`, no `Retry-After`): a probe, not a client to slow down."""
UNAVAILABLE = (problems.DATABASE_UNAVAILABLE,)
"""The problem types of a database outage."""

RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 0},
    }
}


def _add_unavailable(responses: dict[str, Any]) -> None:
    """The 503 of a database outage: a problem document with `Retry-After`, beside any 503
    the route documents itself."""
    if "503" not in responses:
        responses["503"] = {
            "description": "Service Unavailable",
            "content": {PROBLEM_JSON: {"schema": Problem.model_json_schema()}},
        }
    add_problem_responses(responses, *UNAVAILABLE)
    response = responses["503"]
    response["description"] += ": the database is unavailable; retry after `Retry-After`."
    response["headers"] = RETRY_AFTER


def _takes_input(operation: dict[str, Any]) -> bool:
    return bool(operation.get("parameters")) or "requestBody" in operation


def _reads_json(operation: dict[str, Any]) -> bool:
    return "application/json" in operation.get("requestBody", {}).get("content", {})


def _lists(operation: dict[str, Any]) -> bool:
    return any(
        parameter["in"] == "query" and parameter["name"] == "cursor"
        for parameter in operation.get("parameters", [])
    )


def _complete(path: str, operation: dict[str, Any]) -> None:
    """Add what the platform answers to one operation, read from what it documents."""
    responses: dict[str, Any] = operation["responses"]
    if _takes_input(operation):
        default = responses.get("422", {}).get("content", {})
        if "application/json" in default:  # FastAPI's HTTPValidationError
            del responses["422"]
        add_problem_responses(responses, problems.INVALID_REQUEST)
    if _reads_json(operation):
        add_problem_responses(
            responses, problems.MALFORMED_JSON, problems.HTTP_UNSUPPORTED_MEDIA_TYPE
        )
    if _lists(operation):
        add_problem_responses(responses, problems.INVALID_CURSOR)
    if path not in DATABASE_FREE and path != READINESS:
        _add_unavailable(responses)
    operation.setdefault("security", [])
    operation["responses"] = dict(sorted(responses.items()))


def _drop_unused_schemas(document: dict[str, Any]) -> None:
    """FastAPI's validation error schemas, once no response names them."""
    if "#/components/schemas/HTTPValidationError" not in str(document["paths"]):
        schemas = document.get("components", {}).get("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)


def _restore_nulls(value: Any, schema: dict[str, Any], schemas: dict[str, Any]) -> None:
    """Put back the nulls FastAPI's encoder drops from examples (it writes the document with
    `exclude_none`): a required, nullable property missing from an example was a null."""
    schema = schemas.get(schema.get("$ref", "").rpartition("/")[2], schema)
    for branch in schema.get("anyOf", []):
        _restore_nulls(value, branch, schemas)
    if isinstance(value, list):
        for item in value:
            _restore_nulls(item, schema.get("items", {}), schemas)
    if not isinstance(value, dict):
        return
    properties = schema.get("properties", {})
    for name in schema.get("required", []):
        nullable = {"type": "null"} in properties.get(name, {}).get("anyOf", [])
        if name not in value and nullable:
            value[name] = None
    for name, item in value.items():
        _restore_nulls(item, properties.get(name, {}), schemas)


def _examples_with_nulls(document: dict[str, Any]) -> None:
    schemas = document.get("components", {}).get("schemas", {})
    for schema in schemas.values():
        for example in [*schema.get("examples", []), schema.get("example")]:
            _restore_nulls(example, schema, schemas)
    for _name, operation in _operations(document):
        bodies = [operation.get("requestBody", {})]
        bodies += [response for response in operation["responses"].values()]
        for body in bodies:
            for media in body.get("content", {}).values():
                examples = [media.get("example")]
                examples += [named.get("value") for named in media.get("examples", {}).values()]
                for example in examples:
                    _restore_nulls(example, media.get("schema", {}), schemas)


def _operations(document: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (path, operation)
        for path, operations in document["paths"].items()
        for operation in operations.values()
    ]


def _example(schema: dict[str, Any]) -> Any:
    examples = schema.get("examples")
    return examples[0] if examples else schema.get("example")


def _page_examples(schemas: dict[str, Any]) -> None:
    """A page of a list (`Page[X]`) is exemplified by one page holding X's example."""
    for name, schema in schemas.items():
        item = schema.get("properties", {}).get("data", {}).get("items", {}).get("$ref", "")
        example = _example(schemas.get(item.rpartition("/")[2], {}))
        if name.startswith("Page_") and example is not None and _example(schema) is None:
            schema["examples"] = [{"data": [example], "next_cursor": None}]


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` (and `/openapi.json`) the completed document."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            for path, operation in _operations(document):
                _complete(path, operation)
            components = document.setdefault("components", {})
            components.setdefault("securitySchemes", {}).update(SECURITY_SCHEMES)
            _drop_unused_schemas(document)
            _examples_with_nulls(document)
            _page_examples(components.get("schemas", {}))
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
