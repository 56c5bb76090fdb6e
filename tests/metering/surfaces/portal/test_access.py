"""Portal access: single-use links, signed cookies, one customer per session, CSRF."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from metering.catalog.customers.models import Customer
from metering.surfaces.portal import service
from metering.surfaces.portal.auth import COOKIE_NAME
from metering.surfaces.portal.errors import PortalPageError
from metering.surfaces.portal.models import PortalSession
from tests.metering.conftest import VendorFixture, create_customer, create_vendor
from tests.metering.platform.api.support import bearer
from tests.metering.surfaces.portal.helpers import csrf_of, portal_link, sign_in


@pytest.fixture
def acme(engine: Engine, vendor: VendorFixture, plan_id: str) -> str:
    return create_customer(engine, vendor.id, "acme", plan_id)


def test_link_opens_once_into_a_cookie_session(
    app_client: TestClient, vendor: VendorFixture, acme: str, engine: Engine
) -> None:
    answer = app_client.post(
        "/v1/portal_sessions",
        json={"customer": acme, "return_url": "https://app.acme.test/settings"},
        headers=bearer(vendor.api_key),
    )
    assert answer.status_code == 201
    body = answer.json()
    assert body["url"].startswith("http://testserver/portal/session/")
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(minutes=14) < expires - datetime.now(UTC) <= timedelta(minutes=15)
    token = body["url"].rsplit("/", 1)[1]
    with Session(engine) as session:
        row = session.exec(select(PortalSession)).one()
        assert token not in row.token_hash and len(row.token_hash) == 64
        assert row.used_at is None

    path = body["url"][len("http://testserver") :]
    opened = app_client.get(path, follow_redirects=False)
    assert opened.status_code == 303
    cookie = opened.headers["set-cookie"]
    assert f"{COOKIE_NAME}=" in cookie
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=43200" in cookie
    assert "Secure" not in cookie  # plain http here; https requests get Secure
    page = app_client.get("/portal")
    assert page.status_code == 200
    assert "Back to Acme AI" in page.text and "https://app.acme.test/settings" in page.text
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]

    again = app_client.get(path, follow_redirects=False)
    assert again.status_code == 410
    assert "already been used" in again.text and "new link" in again.text
    assert again.headers["content-type"].startswith("text/html")
    assert "<title>This link has already been used · Acme AI</title>" in again.text
    assert 'href="https://app.acme.test/settings">Back to Acme AI</a>' in again.text


def test_unknown_or_other_vendors_customer_is_a_404_problem(
    app_client: TestClient, engine: Engine, vendor: VendorFixture
) -> None:
    other = create_vendor(engine, "Other AI")
    theirs = create_customer(engine, other.id, "theirs")
    for customer in ("cus_missing", theirs):
        answer = app_client.post(
            "/v1/portal_sessions", json={"customer": customer}, headers=bearer(vendor.api_key)
        )
        assert answer.status_code == 404
        assert answer.json()["detail"] == f"No customer '{customer}'."
    no_key = app_client.post("/v1/portal_sessions", json={"customer": theirs})
    assert no_key.status_code == 401


def test_expired_link_is_refused_with_a_page(
    app_client: TestClient, engine: Engine, acme: str
) -> None:
    made_at = datetime(2026, 11, 28, 12, tzinfo=UTC)
    with Session(engine, expire_on_commit=False) as session:
        customer = session.get(Customer, acme)
        assert customer is not None
        link = service.create_link(session, customer, None, made_at, timedelta(minutes=15))
        session.commit()
    with Session(engine) as session:
        with pytest.raises(PortalPageError) as refused:
            service.open_link(session, link.token, made_at + timedelta(minutes=15))
        assert (refused.value.status, refused.value.title) == (410, "This link has expired")
        row = service.open_link(session, link.token, made_at + timedelta(minutes=14, seconds=59))
        assert row.customer_id == acme
        session.commit()
    page = app_client.get(f"/portal/session/{link.token}")
    assert page.status_code == 410 and "already been used" in page.text


def test_forged_token_gets_a_clear_page_not_a_trace(app_client: TestClient, acme: str) -> None:
    page = app_client.get("/portal/session/not-a-real-token")
    assert page.status_code == 403
    assert "This link is not valid" in page.text
    assert "Traceback" not in page.text and '"detail"' not in page.text


def test_two_opens_of_one_link_cannot_both_win(engine: Engine, acme: str) -> None:
    now = datetime.now(UTC)
    with Session(engine, expire_on_commit=False) as session:
        customer = session.get(Customer, acme)
        assert customer is not None
        link = service.create_link(session, customer, None, now, timedelta(minutes=15))
        session.commit()
    with Session(engine) as first, Session(engine) as second:
        service.open_link(first, link.token, now)
        first.commit()
        with pytest.raises(PortalPageError) as refused:
            service.open_link(second, link.token, now)
        assert refused.value.status == 410


def test_no_tampered_or_missing_cookie_gets_in(
    app_client: TestClient, vendor: VendorFixture, acme: str
) -> None:
    assert app_client.get("/portal").status_code == 401
    sign_in(app_client, vendor.api_key, acme)
    good = app_client.cookies[COOKIE_NAME]
    payload, _, signature = good.rpartition(".")
    # The first character: all its bits count (the last one may carry padding bits only).
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    app_client.cookies.set(COOKIE_NAME, f"{payload}.{flipped}")
    refused = app_client.get("/portal")
    assert refused.status_code == 401 and "not valid" in refused.text
    forged = URLSafeTimedSerializer("a-guessed-key", salt="portal-session")
    app_client.cookies.set(COOKIE_NAME, forged.dumps({"sid": "pts_any", "csrf": "x"}))
    assert app_client.get("/portal").status_code == 401
    app_client.cookies.set(COOKIE_NAME, good)
    assert app_client.get("/portal").status_code == 200


def test_logout_ends_the_session_on_the_server(
    app_client: TestClient, vendor: VendorFixture, acme: str
) -> None:
    sign_in(app_client, vendor.api_key, acme)
    cookie = app_client.cookies[COOKIE_NAME]
    page = app_client.get("/portal")
    out = app_client.post("/portal/logout", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 200 and "You are signed out" in out.text
    app_client.cookies.set(COOKIE_NAME, cookie)  # a copy of the cookie kept from before
    again = app_client.get("/portal")
    assert again.status_code == 401 and "signed out" in again.text


def test_forms_without_this_sessions_csrf_token_are_refused(
    app_client: TestClient, vendor: VendorFixture, acme: str
) -> None:
    sign_in(app_client, vendor.api_key, acme)
    for data in ({}, {"csrf_token": "forged"}):
        refused = app_client.post("/portal/logout", data=data)
        assert refused.status_code == 403
        assert "This form has expired" in refused.text
    assert app_client.get("/portal").status_code == 200  # still signed in


def test_each_link_makes_its_own_csrf_token(
    app_client: TestClient, app: Any, vendor: VendorFixture, acme: str
) -> None:
    sign_in(app_client, vendor.api_key, acme)
    first = csrf_of(app_client.get("/portal").text)
    with TestClient(app) as other:
        sign_in(other, vendor.api_key, acme)
        second = csrf_of(other.get("/portal").text)
        assert other.post("/portal/logout", data={"csrf_token": first}).status_code == 403
    assert first != second


def test_links_point_at_the_configured_portal_address(
    engine: Engine, database_url: str, vendor: VendorFixture, acme: str
) -> None:
    from metering.platform.settings import Settings
    from metering.surfaces.app import create_app

    settings = Settings(database_url=database_url, portal_base_url="https://billing.acme.test/")
    with TestClient(create_app(settings)) as client:
        path = portal_link(client, vendor.api_key, acme)
        answer = client.post(
            "/v1/portal_sessions", json={"customer": acme}, headers=bearer(vendor.api_key)
        )
    assert path.startswith("/portal/session/")
    assert answer.json()["url"].startswith("https://billing.acme.test/portal/session/")


def test_cookie_is_secure_over_https(app: Any, vendor: VendorFixture, acme: str) -> None:
    with TestClient(app, base_url="https://testserver") as client:
        opened = client.get(portal_link(client, vendor.api_key, acme), follow_redirects=False)
    assert opened.status_code == 303
    assert "Secure" in opened.headers["set-cookie"]


def test_portal_errors_are_pages_and_api_errors_stay_problems(
    app: Any, app_client: TestClient, vendor: VendorFixture, acme: str
) -> None:
    from fastapi import APIRouter

    crash = APIRouter()

    @crash.get("/portal/crash-for-test")
    def crashing() -> None:
        raise RuntimeError("secret internals")

    app.include_router(crash)
    with TestClient(app, raise_server_exceptions=False) as client:
        sign_in(client, vendor.api_key, acme)
        failed = client.get("/portal/crash-for-test")
        assert failed.status_code == 500
        assert failed.headers["content-type"].startswith("text/html")
        assert "Something went wrong on our side" in failed.text
        assert "secret internals" not in failed.text and "Traceback" not in failed.text
        missing = client.get("/portal/no-such-page")
        assert missing.status_code == 404 and "Page not found" in missing.text
    api = app_client.get("/v1/no-such-route")
    assert api.status_code == 404
    assert api.headers["content-type"] == "application/problem+json"


def test_every_process_signs_with_the_same_stored_key(
    engine: Engine, database_url: str, vendor: VendorFixture, acme: str
) -> None:
    from metering.platform.settings import Settings
    from metering.surfaces.app import create_app
    from metering.surfaces.portal.models import PortalKey

    settings = Settings(database_url=database_url)
    with TestClient(create_app(settings)) as first, TestClient(create_app(settings)) as second:
        sign_in(first, vendor.api_key, acme)
        second.cookies.set(COOKIE_NAME, first.cookies[COOKIE_NAME])
        assert second.get("/portal").status_code == 200
    with Session(engine) as session:
        assert len(session.exec(select(PortalKey)).all()) == 1
    keyed = Settings(database_url=database_url, portal_secret_key="from-the-environment")
    with TestClient(create_app(keyed)) as third:
        third.cookies.set(COOKIE_NAME, first.cookies[COOKIE_NAME])
        assert third.get("/portal").status_code == 401  # another key: not ours
        sign_in(third, vendor.api_key, acme)
        assert third.get("/portal").status_code == 200


def test_sessions_end_twelve_hours_after_the_link_was_opened(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, acme: str
) -> None:
    sign_in(app_client, vendor.api_key, acme)
    assert app_client.get("/portal").status_code == 200
    with Session(engine) as session:
        row = session.exec(select(PortalSession)).one()
        assert row.used_at is not None
        row.used_at = row.used_at - timedelta(hours=12)
        session.add(row)
        session.commit()
    expired = app_client.get("/portal")
    assert expired.status_code == 401
    assert "Your session has expired" in expired.text


def test_every_signed_in_form_needs_the_csrf_token(
    app: Any, vendor: VendorFixture, acme: str
) -> None:
    """The router-wide guard refuses a POST without the token, even from a handler that
    forgets to check it."""
    from fastapi import APIRouter, Depends

    from metering.surfaces.portal.auth import require_csrf

    forgetful = APIRouter()

    @forgetful.post("/portal/forgetful-form")
    def change_something() -> dict[str, str]:
        return {"changed": "yes"}

    app.include_router(forgetful, dependencies=[Depends(require_csrf)])
    with TestClient(app) as client:
        sign_in(client, vendor.api_key, acme)
        for data in ({}, {"csrf_token": "forged", "note": "x"}):
            refused = client.post("/portal/forgetful-form", data=data)
            assert refused.status_code == 403 and "This form has expired" in refused.text
        token = csrf_of(client.get("/portal").text)
        accepted = client.post("/portal/forgetful-form", data={"csrf_token": token})
        assert accepted.json() == {"changed": "yes"}
        assert client.get("/portal/invoices").status_code == 200  # reading needs no token
