"""The two vendors' books of `scenario`, and a client signed in as vendor A."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from tests.metering.surfaces.vendor_web.scenario import Books, build, sign_in


@pytest.fixture
def books(engine: Engine) -> Books:
    return build(engine)


@pytest.fixture
def signed_in(books: Books, app_client: TestClient) -> Books:
    """The books, with `app_client` signed in to the console as their vendor (A)."""
    sign_in(app_client, books.vendor.api_key)
    return books
