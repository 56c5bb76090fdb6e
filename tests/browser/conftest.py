"""Fixtures of the real-browser tests: Debian's Chromium driven by Playwright, the service
running as its own process on a fresh database, seeded through its HTTP API.

Chromium is the system one (`apt-get install -y chromium`, which `make test` does), never
a browser downloaded by `playwright install`. When it is missing or does not start, every
browser test fails with a message saying so: CI must not skip them quietly.

Each page a test visits is saved as a full-page PNG into the artifacts folder:
$METERING_ARTIFACTS_DIR, or tests/browser/artifacts/ (not versioned).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Error,
    Page,
    Playwright,
    Request,
    Response,
    ViewportSize,
    sync_playwright,
)
from sqlalchemy.engine import Engine

from metering.platform.db.engine import make_engine
from tests.browser.seed import Seeded, VendorApi, seed
from tests.browser.server import running_app
from tests.metering.conftest import BACKENDS, create_vendor, migrated_database

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
ARTIFACTS = Path(os.environ.get("METERING_ARTIFACTS_DIR") or Path(__file__).parent / "artifacts")
PHONE: ViewportSize = {"width": 390, "height": 844}

Shot = Callable[[Page, str], Path]


@pytest.fixture(scope="session")
def chromium_path() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail(
            "BROWSER TESTS CANNOT RUN: no `chromium` on PATH. Install Debian's Chromium "
            "(`apt-get install -y chromium`, which `make browser` and `make test` try) - "
            "never `playwright install`.",
            pytrace=False,
        )
    return found


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright, chromium_path: str) -> Iterator[Browser]:
    try:
        launched = playwright.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
    except Error as error:
        pytest.fail(
            f"BROWSER TESTS CANNOT RUN: Chromium at {chromium_path} did not start: {error}",
            pytrace=False,
        )
    yield launched
    launched.close()


@dataclass(frozen=True)
class PortalApp:
    """The running service, the vendor's API on it, and the seeded customers."""

    url: str
    api: VendorApi
    seeded: Seeded
    backend: str
    engine: Engine


@pytest.fixture(scope="session", params=BACKENDS)
def portal_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PortalApp]:
    """One service process per backend (and xdist worker), seeded once: tests only read
    its customers or make their own."""
    backend: str = request.param
    directory = tmp_path_factory.mktemp(f"portal-{backend}")
    with migrated_database(backend, directory, "portal") as database_url:
        engine = make_engine(database_url)
        keys = create_vendor(engine, "Acme AI")
        try:
            with (
                running_app(database_url, directory / "service.log") as url,
                httpx.Client(base_url=url, timeout=30) as http,
            ):
                api = VendorApi(http, keys)
                yield PortalApp(url, api, seed(api, engine), backend, engine)
        finally:
            engine.dispose()


@contextmanager
def watched(context: BrowserContext, app: PortalApp) -> Iterator[Page]:
    """A page of `context` that must not fail: no JavaScript error, no request leaving the
    service (every asset is served by the app, no CDN), no static file missing."""
    problems: list[str] = []

    def request(made: Request) -> None:
        if not made.url.startswith((f"{app.url}/", "data:", "blob:", "about:")):
            problems.append(f"request outside the service: {made.url}")

    def response(answer: Response) -> None:
        if answer.url.startswith(f"{app.url}/static/") and answer.status >= 400:
            problems.append(f"static file {answer.url}: {answer.status}")

    context.on("request", request)
    context.on("response", response)
    context.on("weberror", lambda error: problems.append(f"JavaScript error: {error.error}"))
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()
    assert problems == [], problems


@pytest.fixture
def page(browser: Browser, portal_app: PortalApp) -> Iterator[Page]:
    """A fresh browser context (no cookies) on the service, downloads accepted."""
    context = browser.new_context(base_url=portal_app.url, accept_downloads=True)
    with watched(context, portal_app) as opened:
        yield opened


@pytest.fixture
def phone_page(browser: Browser, portal_app: PortalApp) -> Iterator[Page]:
    """A phone-sized, touch browser context."""
    context = browser.new_context(
        base_url=portal_app.url, viewport=PHONE, is_mobile=True, has_touch=True
    )
    with watched(context, portal_app) as opened:
        yield opened


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Shot:
    """`shot(page, "overview")` saves the whole page as <test>-<name>.png in ARTIFACTS."""
    test = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name).strip("-")

    def save(page: Page, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{test}-{name}.png"
        for attempt in range(3):
            try:
                page.screenshot(path=str(path), full_page=True)
                return path
            except Error as error:
                # Chromium sometimes has no compositor frame ready on a loaded 2-core machine
                # ("Unable to capture screenshot"); the page is fine, so wait a frame and retry.
                if "Unable to capture screenshot" not in str(error) or attempt == 2:
                    raise
                page.wait_for_timeout(250)
        return path

    return save
