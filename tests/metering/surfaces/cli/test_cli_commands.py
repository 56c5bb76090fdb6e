"""The operator's commands, run through typer's CliRunner on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import re
import socket
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from metering.catalog.plans.models import PlanVersion
from metering.catalog.vendors.models import ApiKey, SigningSecret, Vendor
from metering.ledger.events.models import StoredEvent
from metering.platform.db import migrate
from metering.platform.db.engine import make_engine
from metering.platform.monitoring.logs import logging_config
from metering.platform.settings import Settings, get_settings
from metering.surfaces.app import create_app
from metering.surfaces.cli import serve
from metering.surfaces.cli.apply import apply_command
from metering.surfaces.cli.db import db_app
from metering.surfaces.cli.events import events_app
from metering.surfaces.cli.vendors import vendors_app
from tests.metering.platform.api.support import make_vendor
from tests.metering.surfaces.cli.server import BackgroundServer

EXAMPLES = Path(__file__).resolve().parents[4] / "pricing_rules" / "examples"
runner = CliRunner()

# The registrations proposed for metering/cli/main.py (the lead owns it).
cli = typer.Typer()
rules_app = typer.Typer()
rules_app.command("apply")(apply_command)
cli.add_typer(rules_app, name="rules")
cli.add_typer(db_app, name="db")
cli.add_typer(vendors_app, name="vendors")
cli.add_typer(events_app, name="events")
cli.command("serve")(serve.serve_command)


def test_vendors_create_prints_the_key_and_secret_once(cli_database: str, engine: Engine) -> None:
    result = runner.invoke(cli, ["vendors", "create", "Acme AI"])
    assert result.exit_code == 0, result.output
    key = re.search(r"API key:\s+(mk_live_\S+)", result.output)
    secret = re.search(r"signing secret:\s+(whsec_\S+)", result.output)
    assert key and secret
    with Session(engine) as session:
        stored = session.exec(select(ApiKey)).one()
    assert stored.hash == hashlib.sha256(key.group(1).encode()).hexdigest()
    assert "only its hash is kept" in result.output


def test_vendors_create_json_gives_ids_key_and_secret_that_work(
    cli_database: str, engine: Engine
) -> None:
    result = runner.invoke(cli, ["vendors", "create", "Acme AI", "--json"])

    assert result.exit_code == 0, result.output
    created = json.loads(result.stdout)
    assert set(created) == {
        "vendor_id",
        "name",
        "api_key_id",
        "api_key",
        "signing_secret_id",
        "signing_secret",
        "webhook_path",
    }
    assert "only its hash is kept" in result.stderr
    with Session(engine) as session:
        vendor = session.exec(select(Vendor)).one()
        key = session.exec(select(ApiKey)).one()
        secret = session.exec(select(SigningSecret)).one()
    assert created["vendor_id"] == vendor.id and created["name"] == "Acme AI"
    assert created["api_key_id"] == key.id
    assert key.hash == hashlib.sha256(created["api_key"].encode()).hexdigest()
    assert (created["signing_secret_id"], created["signing_secret"]) == (secret.id, secret.secret)
    assert created["webhook_path"] == f"/v1/webhooks/{vendor.id}/events"
    with TestClient(create_app(Settings(database_url=cli_database))) as client:
        headers = {"authorization": f"Bearer {created['api_key']}"}
        assert client.get("/v1/customers", headers=headers).status_code == 200


def test_rules_apply_stores_a_version_then_is_a_no_op(cli_database: str, engine: Engine) -> None:
    vendor = make_vendor(engine, "Acme AI")
    path = str(EXAMPLES / "support-agent.yaml")
    first = runner.invoke(cli, ["rules", "apply", path, "--vendor", "Acme AI"])
    assert first.exit_code == 0, first.output
    assert first.output.startswith("plan support-agent version 1 stored as plv_")
    assert first.output.rstrip().endswith(f"for vendor {vendor.vendor.id}")
    again = runner.invoke(cli, ["rules", "apply", path, "--vendor", vendor.vendor.id])
    assert again.output.startswith("plan support-agent version 1 unchanged, already plv_")
    with Session(engine) as session:
        assert len(session.exec(select(PlanVersion)).all()) == 1


def test_rules_apply_prints_located_errors(
    cli_database: str, engine: Engine, tmp_path: Path
) -> None:
    make_vendor(engine, "Acme AI")
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        'plan: x\nversion: 1\ncurrency: usx\ncharges:\n  - {model: flat, price: "1"}\n'
    )
    result = runner.invoke(cli, ["rules", "apply", str(broken), "--vendor", "Acme AI"])
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{broken}:3:11: unknown currency 'usx'")


def test_rules_apply_for_an_unknown_vendor(cli_database: str) -> None:
    path = str(EXAMPLES / "support-agent.yaml")
    result = runner.invoke(cli, ["rules", "apply", path, "--vendor", "Nobody"])
    assert result.exit_code == 1
    assert result.stderr == "error: no vendor with id or name 'Nobody'\n"


def test_rules_apply_conflicting_version(cli_database: str, engine: Engine, tmp_path: Path) -> None:
    make_vendor(engine, "Acme AI")
    original = (EXAMPLES / "support-agent.yaml").read_text()
    changed = tmp_path / "support-agent.yaml"
    changed.write_text(original.replace('"20.00"', '"25.00"'))
    runner.invoke(
        cli, ["rules", "apply", str(EXAMPLES / "support-agent.yaml"), "--vendor", "Acme AI"]
    )
    result = runner.invoke(cli, ["rules", "apply", str(changed), "--vendor", "Acme AI"])
    assert result.exit_code == 1
    assert "Version 1 of plan 'support-agent' already exists with different YAML" in result.stderr


def _events_file(tmp_path: Path) -> Path:
    """Eight good events, one the server refuses (line 7) and one that is not JSON (line 3)."""
    sent_at = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    events = [
        {
            "id": f"evt_{n}",
            "type": "conversation.resolved",
            "customer": "acme",
            "timestamp": sent_at,
            "properties": {"conversation_id": f"c-{n}", "channel": "chat", "handled_by": "ai"},
        }
        for n in range(9)
    ]
    del events[5]["type"]
    lines = [json.dumps(event) for event in events]
    lines.insert(2, "{not json")
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def _stored_ids(engine: Engine) -> list[str]:
    with Session(engine) as session:
        return sorted(event.event_id for event in session.exec(select(StoredEvent)))


def test_events_send_signs_batches_and_reports_by_line(
    cli_database: str, engine: Engine, tmp_path: Path
) -> None:
    vendor = make_vendor(engine, "Acme AI")
    path = _events_file(tmp_path)
    with BackgroundServer(Settings(database_url=cli_database)) as server:
        args = [
            "events",
            "send",
            str(path),
            "--vendor",
            "Acme AI",
            "--url",
            server.url,
            "--batch-size",
            "4",
        ]
        first = runner.invoke(cli, args)
        second = runner.invoke(cli, args)
    assert first.exit_code == 1
    assert "accepted 8, duplicates 0, rejected 2" in first.output
    assert re.search(r"│ 3\s+│\s+│ 400\s+│ not JSON: Expecting property name", first.output)
    assert re.search(r"│ 7\s+│ evt_5\s+│ 422\s+│ type: ", first.output)
    assert "accepted 0, duplicates 8, rejected 2" in second.output
    assert _stored_ids(engine) == [f"evt_{n}" for n in (0, 1, 2, 3, 4, 6, 7, 8)]
    assert vendor.vendor.id


def test_events_send_with_a_wrong_secret_stores_nothing(
    cli_database: str, engine: Engine, tmp_path: Path
) -> None:
    vendor = make_vendor(engine, "Acme AI")
    other = make_vendor(engine, "Other")
    path = _events_file(tmp_path)
    with BackgroundServer(Settings(database_url=cli_database)) as server:
        result = runner.invoke(
            cli,
            [
                "events",
                "send",
                str(path),
                "--vendor",
                vendor.vendor.id,
                "--url",
                server.url,
                "--secret",
                other.signing_secret,
            ],
        )
    assert result.exit_code == 1
    assert "accepted 0, duplicates 0, rejected 10" in result.output
    assert "webhook-signature matches none" in result.output
    assert _stored_ids(engine) == []


def test_events_send_to_a_server_that_is_not_there(cli_database: str, engine: Engine) -> None:
    make_vendor(engine, "Acme AI")
    path = str(EXAMPLES / "support-events.jsonl")
    result = runner.invoke(
        cli, ["events", "send", path, "--vendor", "Acme AI", "--url", "http://127.0.0.1:9"]
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "error: cannot reach http://127.0.0.1:9: [Errno 111] Connection refused"
    )


def test_db_upgrade_migrates_a_fresh_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    monkeypatch.setenv("METERING_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        result = runner.invoke(cli, ["db", "upgrade"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert result.output == f"{url} is at revision {migrate.head_revision()}\n"
    engine = make_engine(url)
    assert migrate.is_current(engine)
    engine.dispose()


def test_serve_migrates_then_runs_uvicorn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'served.db'}"
    monkeypatch.setenv("METERING_DATABASE_URL", url)
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(serve.uvicorn, "run", lambda *a, **kw: calls.append((a, kw)))
    get_settings.cache_clear()
    try:
        result = runner.invoke(cli, ["serve", "--port", "8123"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert calls == [
        (
            ("metering.surfaces.cli.serve:served_app",),
            {
                "factory": True,
                "host": "127.0.0.1",
                "port": 8123,
                "log_config": logging_config("json"),
            },
        )
    ]
    engine = make_engine(url)
    assert migrate.is_current(engine)
    engine.dispose()


def test_serve_with_workers_shares_one_explicit_tcp_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """asyncio sets TCP_NODELAY only on sockets whose protocol is TCP; without it every
    keep-alive response of a worker waits for a delayed ACK."""
    monkeypatch.setenv("METERING_DATABASE_URL", f"sqlite:///{tmp_path / 'served.db'}")
    started: list[tuple[int, list[socket.socket]]] = []

    class Recorder:
        def __init__(self, config: Any, sockets: list[socket.socket]) -> None:
            started.append((config.workers, sockets))

        def run(self) -> None:
            pass

    monkeypatch.setattr(serve, "Multiprocess", Recorder)
    get_settings.cache_clear()
    try:
        result = runner.invoke(cli, ["serve", "--port", "0", "--workers", "2"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    ((workers, (sock,)),) = started
    try:
        assert workers == 2
        assert (sock.family, sock.type, sock.proto) == (
            socket.AF_INET,
            socket.SOCK_STREAM,
            socket.IPPROTO_TCP,
        )
        assert sock.get_inheritable()
    finally:
        sock.close()
