"""Links made outside the API: `metering portal link` and the one `make run` prints."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from demo.seed import main as demo
from metering.platform.settings import get_settings
from metering.surfaces.cli.main import app as cli
from tests.metering.conftest import VendorFixture, create_customer


@pytest.fixture
def cli_database(
    database_url: str, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    monkeypatch.setenv("METERING_DATABASE_URL", database_url)
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def _path(link: str) -> str:
    return link[link.index("/portal/session/") :]


def test_portal_link_command(
    cli_database: str, engine: Engine, vendor: VendorFixture, plan_id: str, app_client: TestClient
) -> None:
    create_customer(engine, vendor.id, "acme", plan_id)
    result = CliRunner().invoke(cli, ["portal", "link", "acme", "--base-url", "https://b.test/"])
    assert result.exit_code == 0, result.output
    link = result.output.splitlines()[0]
    assert re.fullmatch(r"https://b\.test/portal/session/[\w-]{40,}", link)
    assert "opens once, until" in result.output
    assert app_client.get(_path(link), follow_redirects=False).status_code == 303
    missing = CliRunner().invoke(cli, ["portal", "link", "nobody"])
    assert missing.exit_code == 1 and "no customer 'nobody'" in missing.output


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def test_the_demo_prints_a_working_portal_link(
    cli_database: str, app_client: TestClient, capsys: pytest.CaptureFixture[str]
) -> None:
    port = _free_port()
    assert demo(["--once", "--port", str(port)]) == 0
    output = capsys.readouterr().out
    found = re.search(rf"(http://127\.0\.0\.1:{port}/portal/session/\S+)", output)
    assert found is not None, output
    assert "acme's portal" in output and "metering portal link acme" in output
    opened = app_client.get(_path(found.group(1)), follow_redirects=False)
    assert opened.status_code == 303
    overview = app_client.get("/portal")
    assert overview.status_code == 200
    assert "Projected invoice" in overview.text and "Acme Corp" in overview.text
    assert "Back to Demo Vendor" in overview.text
    invoices = app_client.get("/portal/invoices")
    assert re.search(r">#\d+</a>", invoices.text)  # last month was closed and invoiced
