"""Schemathesis against the app in process: every answer must be one the OpenAPI document
describes, and none a server error.

The run is `st run` with a vendor's API key, all operations and the four phases (examples,
coverage, fuzzing, stateful), a fixed seed and a bounded number of examples, on SQLite and
PostgreSQL; requests go through the ASGI transport, no server. A failure names the
operation, the check and the request that reproduces it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pytest
import schemathesis
from schemathesis.engine import events, from_schema
from sqlalchemy.engine import Engine

from metering.platform.settings import Settings
from metering.surfaces.app import create_app
from tests.metering.conftest import create_customer, create_plan, create_vendor

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
SEED = 20261203
MAX_EXAMPLES = 10
"""Examples per operation in the fuzzing phase (the coverage phase derives its own cases
from the schema): about a minute per backend on a loaded two-core machine."""


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
        for checks in recorder.checks.values():
            for check in checks:
                info = check.failure_info
                key = (recorder.label, check.name, info.failure.title if info else "")
                if info is not None and key not in self.failures:
                    self.failures[key] = f"{info.failure.message}\n{info.code_sample}"

    def report(self) -> str:
        found = [
            f"{operation} [{check}] {title}\n{detail}"
            for (operation, check, title), detail in sorted(self.failures.items())
        ]
        return "\n\n".join(found + self.errors)


def fuzz(app: Any, api_key: str) -> Run:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=_config(api_key))
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
