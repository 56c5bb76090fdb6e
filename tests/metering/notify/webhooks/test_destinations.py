"""Outbound webhooks go only to https URLs on public addresses.

Refused at registration (and on update) when the URL shows an internal host, and again at
delivery after DNS, when the name resolves to one; the POST goes to the checked address,
and no redirect is followed. The operator's allow-list opens hosts for development.
"""

from __future__ import annotations

import random
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import AnyHttpUrl, TypeAdapter
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.notify.webhooks import destinations
from metering.notify.webhooks.delivery import deliver_due
from metering.platform.outbox.service import enqueue
from metering.platform.settings import Settings
from metering.surfaces.app import create_app
from tests.metering.conftest import VendorFixture, receiving_settings
from tests.metering.notify.webhooks.helpers import add_endpoint, deliveries
from tests.metering.notify.webhooks.receiver import Receiver, running
from tests.metering.platform.api.support import bearer

HOOKS = "hooks.example.test"  # a reserved name: it resolves only where a test says so

REFUSED = [
    ("http://127.0.0.1:8080/hooks", "127.0.0.1 is a loopback address"),
    ("https://127.0.0.1/hooks", "127.0.0.1 is a loopback address"),
    ("https://2130706433/hooks", "127.0.0.1 is a loopback address"),
    ("https://10.1.2.3/hooks", "10.1.2.3 is a private address (RFC 1918)"),
    ("https://172.16.5.4/hooks", "172.16.5.4 is a private address (RFC 1918)"),
    ("https://192.168.1.1/hooks", "192.168.1.1 is a private address (RFC 1918)"),
    (
        "https://169.254.169.254/latest/meta-data",
        "169.254.169.254 is the cloud metadata address (link-local)",
    ),
    ("https://169.254.10.1/hooks", "169.254.10.1 is a link-local address"),
    ("https://100.64.0.1/hooks", "100.64.0.1 is a shared address (carrier-grade NAT"),
    ("https://0.0.0.0/hooks", "0.0.0.0 is the unspecified address"),
    ("https://224.0.0.1/hooks", "224.0.0.1 is a multicast address"),
    ("https://240.0.0.1/hooks", "240.0.0.1 is a reserved address"),
    ("https://[::1]/hooks", "::1 is a loopback address"),
    ("https://[::]/hooks", ":: is the unspecified address"),
    ("https://[fe80::1]/hooks", "fe80::1 is a link-local address"),
    ("https://[fd00::1]/hooks", "fd00::1 is a unique local address (fc00::/7)"),
    ("https://[ff02::1]/hooks", "ff02::1 is a multicast address"),
    (
        "https://[::ffff:127.0.0.1]/hooks",
        "::ffff:7f00:1 is a loopback address in IPv6 form (127.0.0.1)",
    ),
    (
        "https://[::ffff:10.0.0.1]/hooks",
        "::ffff:a00:1 is a private address (RFC 1918) in IPv6 form (10.0.0.1)",
    ),
    ("https://localhost/hooks", "localhost is a loopback name"),
    ("https://api.localhost./hooks", "api.localhost. is a loopback name"),
    ("http://hooks.example.com/x", "http is not https"),
]
ACCEPTED = [
    "https://hooks.example.com/x",
    "https://93.184.216.34/hooks",
    "https://[2606:4700:4700::1111]/hooks",
]


@pytest.fixture
def strict(engine: Engine, database_url: str) -> Iterator[TestClient]:
    """The API as shipped: no host allowed beyond public ones."""
    with TestClient(create_app(Settings(database_url=database_url))) as client:
        yield client


def register(client: TestClient, vendor: VendorFixture, url: str) -> httpx.Response:
    response: httpx.Response = client.post(
        "/v1/webhook_endpoints",
        json={"url": url, "event_types": ["invoice.issued"]},
        headers=bearer(vendor.api_key),
    )
    return response


def refused_with(response: httpx.Response, url: str, reason: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "/problems/webhook-url-refused"
    assert problem["title"] == "Webhook URL Refused"
    [error] = problem["errors"]
    assert error["field"] == "url"
    assert error["message"].startswith(f"{url} is refused: {reason}"), error["message"]
    assert error["message"].endswith("webhooks go to https URLs on public addresses")
    assert problem["detail"] == f"url: {error['message']}."


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_registration_refuses_internal_hosts_and_plain_http(
    strict: TestClient, vendor: VendorFixture, url: str, reason: str
) -> None:
    response = register(strict, vendor, url)

    refused_with(response, str(TypeAdapter(AnyHttpUrl).validate_python(url)), reason)
    listed = strict.get("/v1/webhook_endpoints", headers=bearer(vendor.api_key)).json()
    assert listed["data"] == []


@pytest.mark.parametrize("url", ACCEPTED)
def test_registration_accepts_https_on_public_hosts(
    strict: TestClient, vendor: VendorFixture, url: str
) -> None:
    response = register(strict, vendor, url)
    assert response.status_code == 201, response.text
    assert response.json()["url"] == url


def test_an_update_is_checked_like_a_registration(
    strict: TestClient, vendor: VendorFixture
) -> None:
    made = register(strict, vendor, "https://hooks.example.com/x").json()
    path = f"/v1/webhook_endpoints/{made['id']}"

    moved = strict.patch(
        path, json={"url": "https://169.254.169.254/x"}, headers=bearer(vendor.api_key)
    )

    refused_with(
        moved,
        "https://169.254.169.254/x",
        "169.254.169.254 is the cloud metadata address (link-local)",
    )
    kept = strict.get(path, headers=bearer(vendor.api_key)).json()
    assert kept["url"] == "https://hooks.example.com/x"


def test_the_operators_allow_list_opens_its_hosts_and_no_other(
    engine: Engine, database_url: str, vendor: VendorFixture
) -> None:
    settings = Settings(
        database_url=database_url, webhook_allowed_hosts=["localhost", "10.0.0.0/8", "::1"]
    )
    with TestClient(create_app(settings)) as client:
        for url in ("http://localhost:9000/hooks", "http://10.1.2.3/hooks", "https://[::1]/h"):
            assert register(client, vendor, url).status_code == 201, url
        refused_with(
            register(client, vendor, "http://192.168.1.1/hooks"),
            "http://192.168.1.1/hooks",
            "192.168.1.1 is a private address (RFC 1918)",
        )
        refused_with(
            register(client, vendor, "http://hooks.example.com/x"),
            "http://hooks.example.com/x",
            "http is not https",
        )


def test_the_allow_list_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METERING_WEBHOOK_ALLOWED_HOSTS", "127.0.0.1, receiver.local,10.0.0.0/8")
    assert Settings().webhook_allowed_hosts == ["127.0.0.1", "receiver.local", "10.0.0.0/8"]
    monkeypatch.delenv("METERING_WEBHOOK_ALLOWED_HOSTS")
    assert Settings().webhook_allowed_hosts == []


# --- at delivery ----------------------------------------------------------------------------


def issue_event(engine: Engine, vendor: VendorFixture) -> None:
    with Session(engine) as session:
        enqueue(session, vendor.id, "invoice.issued", {"invoice": "inv_x"})
        session.commit()


def deliver(engine: Engine, settings: Settings, client: httpx.Client | None = None) -> Any:
    return deliver_due(engine, settings, owner="test", client=client, rng=random.Random(1))


def only_attempt(engine: Engine, client: TestClient, vendor: VendorFixture) -> dict[str, Any]:
    [delivery] = deliveries(engine)
    detail = client.get(
        f"/v1/webhook_deliveries/{delivery.id}", headers=bearer(vendor.api_key)
    ).json()
    [attempt] = detail["attempts"]
    assert detail["last_error"] == attempt["error"]
    return {"status": detail["status"], **attempt}


def test_an_endpoint_allowed_once_is_refused_at_delivery_and_given_up(
    engine: Engine, strict: TestClient, vendor: VendorFixture
) -> None:
    """Registered while the operator allowed 127.0.0.1; the allow-list is gone since."""
    with running(Receiver()) as receiver:
        add_endpoint(engine, vendor.id, receiver.url, ["invoice.issued"])
        issue_event(engine, vendor)

        report = deliver(engine, Settings())

    assert (report.delivered, report.retrying, report.failed) == (0, 0, 1)
    assert receiver.received == []
    attempt = only_attempt(engine, strict, vendor)
    assert attempt["status"] == "failed"
    assert attempt["status_code"] is None
    assert attempt["error"] == (
        f"refused: {receiver.url} is refused: 127.0.0.1 is a loopback address"
    )


@pytest.mark.parametrize(
    ("addresses", "why"),
    [
        (["127.0.0.1"], "127.0.0.1, a loopback address"),
        (["93.184.216.34", "10.0.0.5"], "10.0.0.5, a private address (RFC 1918)"),
        (["169.254.169.254"], "169.254.169.254, the cloud metadata address (link-local)"),
        (["::1"], "::1, a loopback address"),
        (["2606:4700::1111", "fd00::5"], "fd00::5, a unique local address (fc00::/7)"),
        (
            ["::ffff:192.168.0.9"],
            "::ffff:c0a8:9, a private address (RFC 1918) in IPv6 form (192.168.0.9)",
        ),
    ],
)
def test_a_name_that_resolves_to_an_internal_address_is_refused_at_delivery(
    engine: Engine,
    strict: TestClient,
    vendor: VendorFixture,
    monkeypatch: pytest.MonkeyPatch,
    addresses: list[str],
    why: str,
) -> None:
    url = f"https://{HOOKS}/hooks"
    assert register(strict, vendor, url).status_code == 201  # a name is not resolved then
    asked: list[tuple[str, int]] = []

    def resolve(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return addresses

    monkeypatch.setattr(destinations, "resolve", resolve)
    issue_event(engine, vendor)

    report = deliver(engine, Settings())

    assert asked == [(HOOKS, 443)]
    assert report.failed == 1
    attempt = only_attempt(engine, strict, vendor)
    assert attempt["error"] == f"refused: {url} is refused: {HOOKS} resolves to {why}"


def test_names_are_resolved_for_real() -> None:
    assert set(destinations.resolve("localhost", 443)) <= {"127.0.0.1", "::1"}
    with pytest.raises(OSError):
        destinations.resolve(HOOKS, 443)


def test_a_name_that_does_not_resolve_is_retried_like_a_connection_error(
    engine: Engine, strict: TestClient, vendor: VendorFixture
) -> None:
    register(strict, vendor, f"https://{HOOKS}/hooks")
    issue_event(engine, vendor)

    report = deliver(engine, Settings())

    assert report.retrying == 1
    attempt = only_attempt(engine, strict, vendor)
    assert attempt["status"] == "pending" and attempt["error"].startswith("gaierror: ")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for the played name (key, certificate)."""
    folder = tmp_path_factory.mktemp("tls")
    key, cert = folder / "key.pem", folder / "cert.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-nodes", "-days", "1"),
            *("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-keyout", str(key), "-out", str(cert), "-subj", f"/CN={HOOKS}"),
            *("-addext", f"subjectAltName=DNS:{HOOKS}"),
        ],
        check=True,
        capture_output=True,
    )
    return key, cert


def test_the_post_goes_to_the_checked_address_with_the_names_host_and_certificate(
    engine: Engine,
    vendor: VendorFixture,
    monkeypatch: pytest.MonkeyPatch,
    certificate: tuple[Path, Path],
) -> None:
    """The name resolves once, to an address the operator allows; the connection goes to
    that address (the name itself resolves nowhere else), while the receiver sees the name
    in `Host` and the TLS server name, and its certificate verifies against the name."""
    key, cert = certificate
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)
    answers = iter([["127.0.0.1"]])
    monkeypatch.setattr(destinations, "resolve", lambda host, port: next(answers))
    settings = receiving_settings()  # 127.0.0.1 allowed as an address, not the name
    with (
        running(Receiver(tls=server)) as receiver,
        httpx.Client(verify=ssl.create_default_context(cafile=cert)) as client,
    ):
        endpoint = add_endpoint(
            engine, vendor.id, f"https://{HOOKS}:{receiver.port}/hooks", ["invoice.issued"]
        )
        receiver.secrets = [endpoint.secret]
        issue_event(engine, vendor)

        report = deliver(engine, settings, client)

    assert report.delivered == 1, deliveries(engine)[0].last_error
    [(_, headers)] = receiver.raw
    assert headers["host"] == f"{HOOKS}:{receiver.port}"
    assert receiver.received[0].verified


def test_a_redirect_is_not_followed(engine: Engine, vendor: VendorFixture) -> None:
    with running(Receiver()) as elsewhere, running(Receiver(script=[302])) as receiver:
        receiver.location = elsewhere.url
        add_endpoint(engine, vendor.id, receiver.url, ["invoice.issued"])
        issue_event(engine, vendor)

        report = deliver(engine, receiving_settings())

    assert report.retrying == 1
    assert [r.answered for r in receiver.received] == [302]
    assert elsewhere.received == []
    [delivery] = deliveries(engine)
    assert delivery.last_error == f"HTTP 302: redirect to {elsewhere.url} not followed"
