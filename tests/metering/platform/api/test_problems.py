"""Every error is an RFC 9457 problem: raised ones, validation, unknown routes, crashes."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel

from metering.platform.api import problems
from metering.platform.api.problem_docs import problem_responses
from metering.platform.api.problem_handlers import install_problem_handlers
from metering.platform.api.problems import ProblemError


class Thing(BaseModel):
    name: str
    count: int


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/things")
    def create(thing: Thing, limit: int = 10) -> dict[str, str]:
        return {"name": thing.name}

    @app.get("/conflict")
    def conflict() -> None:
        raise ProblemError(409, "Conflict", "It is taken.", extra={"status": 999, "owner": "b"})

    @app.get("/crash")
    def crash() -> None:
        raise RuntimeError("secret database password in this message")

    return app


client = TestClient(_app(), raise_server_exceptions=False)


def test_problem_error_is_rendered_with_its_extension_members() -> None:
    response = client.get("/conflict")
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Conflict",
        "status": 409,
        "detail": "It is taken.",
        "owner": "b",
    }


def test_validation_errors_name_every_field() -> None:
    response = client.post("/things?limit=x", json={"count": "many"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["title"] == "Invalid Request"
    assert body["errors"] == [
        {
            "field": "query parameter limit",
            "message": "Input should be a valid integer, unable to parse string as an integer",
        },
        {"field": "name", "message": "Field required"},
        {
            "field": "count",
            "message": "Input should be a valid integer, unable to parse string as an integer",
        },
    ]
    assert body["detail"].startswith("query parameter limit: Input should be a valid integer")
    assert "; name: Field required; " in body["detail"]


def test_malformed_json_is_a_400_saying_where() -> None:
    response = client.post(
        "/things", content=b'{"name": "a",', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["title"] == "Malformed JSON"
    assert body["detail"] == (
        "The body is not valid JSON: Expecting property name enclosed in double quotes "
        "at character 13."
    )


def test_a_body_that_is_not_json_is_a_415_naming_its_content_type() -> None:
    for content_type in ("application/x-www-form-urlencoded", "text/plain", None):
        headers = {"content-type": content_type} if content_type else {}
        response = client.post("/things", content=b'{"name": "a", "count": 1}', headers=headers)
        assert response.status_code == 415, content_type
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == (
            "Send the body as JSON with 'Content-Type: application/json' "
            f"(Content-Type was '{content_type or 'none'}')."
        )
    missing = client.post("/things", headers={"content-type": "text/plain"})
    assert missing.status_code == 422
    assert missing.json()["errors"] == [{"field": "body", "message": "Field required"}]


def test_unknown_route_is_a_404_problem() -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "No route for GET /v1/nothing-here."


def test_wrong_method_is_a_405_problem_with_allow() -> None:
    response = client.delete("/things")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"
    assert response.json()["detail"] == "DELETE is not allowed on /things."


def test_crash_is_a_500_problem_without_internals() -> None:
    response = client.get("/crash")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["title"] == "Internal Server Error"
    assert "secret" not in response.text
    assert "Traceback" not in response.text


def test_reusable_responses_document_the_problem_shape() -> None:
    documented = problem_responses(
        problems.MALFORMED_JSON,
        problems.MISSING_API_KEY,
        problems.NOT_FOUND,
        problems.CUSTOMER_EXISTS,
        problems.BODY_TOO_LARGE,
        problems.INVALID_REQUEST,
    )
    assert sorted(documented) == [400, 401, 404, 409, 413, 422]
    content = documented[413]["content"]["application/problem+json"]
    assert content["examples"]["body-too-large"]["value"]["status"] == 413
    assert set(content["schema"]["required"]) == {"title", "status", "detail"}
