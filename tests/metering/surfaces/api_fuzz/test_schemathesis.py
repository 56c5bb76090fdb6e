"""Schemathesis against the app in process: every answer must be one the OpenAPI document
describes, and none a server error.

The run is `st run` with a vendor's API key, all operations and the four phases (examples,
coverage, fuzzing, stateful), a fixed seed and a bounded number of examples, on SQLite and
PostgreSQL; requests go through the ASGI transport, no server. A failure names the
operation, the check and the request that reproduces it.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from schemathesis.engine import events, from_schema
from sqlalchemy.engine import Engine

from metering.platform.api.problem_handlers import install_problem_handlers
from metering.platform.settings import Settings
from metering.surfaces.app import create_app
from tests.metering.conftest import create_customer, create_plan, create_vendor

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
CRASH_HEADER = "x-test-crash"
SEED = int(os.environ.get("METERING_FUZZ_SEED", "20261203"))
MAX_EXAMPLES = int(os.environ.get("METERING_FUZZ_EXAMPLES", "10"))
"""Examples per operation in the fuzzing phase (the coverage phase derives its own cases
from the schema): about a minute per backend on a loaded two-core machine. Set
METERING_FUZZ_EXAMPLES (and METERING_FUZZ_SEED) to search longer."""


def as_served(app: Any) -> Any:
    """The app as a server runs it: a request that crashes answers the app's 500 problem, and
    nothing else escapes. Starlette re-raises the crash after sending that answer, which the
    in-process transport would turn into an error of the test run (the stateful phase can
    lose those); here the answer is kept and names the crash in CRASH_HEADER, so a failure
    says what crashed."""

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        messages: list[dict[str, Any]] = []

        async def hold(message: dict[str, Any]) -> None:
            messages.append(message)

        try:
            await app(scope, receive, hold)
        except Exception as crash:
            if not messages:
                raise
            text = f"{type(crash).__name__}: {str(crash).splitlines()[0] if str(crash) else ''}"
            named = (CRASH_HEADER.encode(), text.encode("ascii", "backslashreplace")[:300])
            messages[0]["headers"] = [*messages[0].get("headers", []), named]
        for message in messages:
            await send(message)

    return asgi


def _config(api_key: str) -> schemathesis.Config:
    return schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "headers": {"Authorization": f"Bearer {api_key}"},
            "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": True, "max-steps": 10},
            },
            "checks": {
                "enabled": False,
                **{name: {"enabled": True} for name in CHECKS},
            },
        }
    )


@dataclass
class Run:
    """What one run did: cases by phase, operations tested, failures by (operation, check)."""

    cases: Counter[str] = field(default_factory=Counter)
    operations: set[str] = field(default_factory=set)
    failures: dict[tuple[str, str, str], str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def record(self, finished: events.ScenarioFinished) -> None:
        recorder = finished.recorder
        self.cases[finished.phase.value] += len(recorder.cases)
        if finished.phase.value != "stateful":
            self.operations.add(recorder.label)
        for case_id, checks in recorder.checks.items():
            operation = recorder.cases[case_id].value.operation.label
            crash = _crash(recorder, case_id)
            for check in checks:
                info = check.failure_info
                if info is None:
                    continue
                key = (operation, check.name, info.failure.title)
                if key not in self.failures:
                    detail = f"{info.failure.message}\n{info.code_sample}"
                    self.failures[key] = detail + (f"\ncrash: {crash}" if crash else "")

    def report(self) -> str:
        found = [
            f"{operation} [{check}] {title}\n{detail}"
            for (operation, check, title), detail in sorted(self.failures.items())
        ]
        return "\n\n".join(found + self.errors)


def _crash(recorder: Any, case_id: str) -> str | None:
    interaction = recorder.interactions.get(case_id)
    response = interaction.response if interaction is not None else None
    named = response.headers.get(CRASH_HEADER) if response is not None else None
    return named[0] if named else None


def fuzz(app: Any, api_key: str) -> Run:
    schema = schemathesis.openapi.from_asgi(
        "/openapi.json", as_served(app), config=_config(api_key)
    )
    run = Run()
    for event in from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            run.record(event)
        elif isinstance(event, events.NonFatalError | events.FatalError):
            run.errors.append(repr(event))
        elif isinstance(event, events.EngineFinished):
            run.seconds = event.running_time
    return run


@pytest.fixture
def seeded(engine: Engine, database_url: str) -> tuple[Any, str]:
    """The app on a database with a vendor, a plan and a subscribed customer, so examples
    and stateful links reach real objects; the vendor's API key."""
    vendor = create_vendor(engine, "Acme AI")
    create_customer(engine, vendor.id, "acme", create_plan(engine, vendor.id))
    return create_app(Settings(database_url=database_url)), vendor.api_key


def test_every_answer_is_described_and_none_is_a_server_error(
    seeded: tuple[Any, str], backend: str
) -> None:
    app, api_key = seeded
    documented = {
        f"{method.upper()} {path}"
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }

    run = fuzz(app, api_key)

    print(
        f"\nschemathesis on {backend}: {len(run.operations)} operations, "
        f"{sum(run.cases.values())} cases {dict(run.cases)}, {len(run.failures)} failures, "
        f"{run.seconds:.0f}s"
    )
    assert run.report() == ""
    assert run.operations == documented
    assert set(run.cases) == {"examples", "coverage", "fuzzing", "stateful"}


def test_the_run_reports_a_crash_and_an_undocumented_answer() -> None:
    """The harness can fail: a crash is a failure naming the exception, an answer the
    document does not list is another."""
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/crash")
    def crash() -> dict[str, str]:
        raise RuntimeError("the ledger is on fire")

    @app.get("/teapot")
    def teapot() -> JSONResponse:
        return JSONResponse({"brewing": True}, status_code=418)

    run = fuzz(app, "no-key")

    assert {(operation, check) for operation, check, _ in run.failures} == {
        ("GET /crash", "not_a_server_error"),
        ("GET /crash", "status_code_conformance"),  # a 500 is no documented answer either
        ("GET /teapot", "status_code_conformance"),
    }
    assert "crash: RuntimeError: the ledger is on fire" in run.report()
