"""Getting into the portal, in Chromium: a link opens once into a cookie session scoped to
one customer; reused or forged links, missing sessions and other customers' pages get a
page that says so. Every page visited is saved as a PNG in the artifacts folder (see
conftest: $METERING_ARTIFACTS_DIR or tests/browser/artifacts/)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from playwright.sync_api import Browser, Page
from sqlmodel import col

from metering.surfaces.portal.models import PortalSession
from metering.surfaces.portal.repository import hash_token
from tests.browser.conftest import PortalApp, Shot
from tests.browser.pages import follow, heading, sign_in


def test_a_link_opens_the_portal_once(
    page: Page, browser: Browser, portal_app: PortalApp, shot: Shot
) -> None:
    link = portal_app.api.portal_link(portal_app.seeded.acme)
    opened = page.goto(link)
    assert opened is not None
    assert (opened.status, page.url) == (200, f"{portal_app.url}/portal")
    assert "Acme Corp" in page.locator("header").inner_text()
    cookie = next(c for c in page.context.cookies() if c["name"] == "portal_session")
    assert (cookie["httpOnly"], cookie["sameSite"]) == (True, "Lax")
    shot(page, "overview")

    other = browser.new_context(base_url=portal_app.url)
    try:
        again = other.new_page()
        reused = again.goto(link)
        assert reused is not None
        assert reused.status == 410
        assert heading(again) == "This link has already been used"
        assert "Traceback" not in again.content()
        shot(again, "reused-link")
    finally:
        other.close()


def test_a_forged_link_is_refused(page: Page, portal_app: PortalApp, shot: Shot) -> None:
    link = portal_app.api.portal_link(portal_app.seeded.acme)
    forged = link[:-4] + ("aaaa" if not link.endswith("aaaa") else "bbbb")
    response = page.goto(forged)
    assert response is not None
    assert response.status == 403
    assert heading(page) == "This link is not valid"
    assert [c["name"] for c in page.context.cookies()] == []
    shot(page, "forged-link")


def test_an_expired_link_is_refused(page: Page, portal_app: PortalApp, shot: Shot) -> None:
    """A link left 15 minutes unused (its expiry moved to a minute ago in the database)."""
    link = portal_app.api.portal_link(portal_app.seeded.acme)
    with portal_app.engine.begin() as connection:
        expired = connection.execute(
            sa.update(PortalSession)
            .where(col(PortalSession.token_hash) == hash_token(link.rsplit("/", 1)[-1]))
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )
        assert expired.rowcount == 1
    response = page.goto(link)
    assert response is not None
    assert response.status == 410
    assert heading(page) == "This link has expired"
    assert [c["name"] for c in page.context.cookies()] == []
    shot(page, "expired-link")


def test_without_a_session_every_page_asks_for_a_link(
    page: Page, portal_app: PortalApp, shot: Shot
) -> None:
    for path in ("/portal", "/portal/outcomes", "/portal/invoices", "/portal/outcomes.csv"):
        response = page.goto(path)
        assert response is not None
        assert (path, response.status) == (path, 401)
        assert heading(page) == "You are not signed in"
    shot(page, "signed-out")


def test_logging_out_ends_the_session(page: Page, portal_app: PortalApp, shot: Shot) -> None:
    sign_in(page, portal_app, portal_app.seeded.acme)
    follow(page, page.get_by_role("button", name="Log out"))
    assert heading(page) == "You are signed out"
    shot(page, "logged-out")
    response = page.goto("/portal")
    assert response is not None
    assert response.status == 401


def test_another_customers_pages_are_not_found(
    page: Page, portal_app: PortalApp, shot: Shot
) -> None:
    """Signed in as acme, globex's invoice, outcome, line and exports by URL: 404, and none
    of globex's data on the page."""
    api = portal_app.api
    (theirs,) = api.invoices(portal_app.seeded.globex)
    line = theirs["lines"][0]
    outcome = api.line_outcomes(theirs, line)[0]
    sign_in(page, portal_app, portal_app.seeded.acme)
    paths = {
        "invoice": f"/portal/invoices/{theirs['id']}",
        "outcome": f"/portal/outcomes/{outcome['id']}",
        "line": f"/portal/outcomes?invoice={theirs['id']}&line={line['id']}",
        "export": f"/portal/outcomes.csv?invoice={theirs['id']}",
        "line-export": f"/portal/outcomes.csv?invoice={theirs['id']}&line={line['id']}",
    }
    for name, path in paths.items():
        response = page.goto(path)
        assert response is not None
        assert (name, response.status) == (name, 404)
        assert heading(page) == "Not found"
        assert "Globex" not in page.content()
        shot(page, name)
    (mine,) = api.invoices(portal_app.seeded.acme)
    response = page.goto(f"/portal/invoices/{mine['id']}")
    assert response is not None
    assert response.status == 200
