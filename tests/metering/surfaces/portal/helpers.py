"""Signing a test client into the portal the way a customer does: through a link."""

from __future__ import annotations

import io
import re
from typing import Any

from fastapi.testclient import TestClient
from pypdf import PdfReader

from tests.metering.platform.api.support import bearer


def portal_link(client: TestClient, api_key: str, customer_id: str, **extra: Any) -> str:
    """The path of a fresh sign-in link made through the vendor API."""
    answer = client.post(
        "/v1/portal_sessions", json={"customer": customer_id, **extra}, headers=bearer(api_key)
    )
    assert answer.status_code == 201, answer.text
    url: str = answer.json()["url"]
    return url[url.index("/portal/") :]


def sign_in(client: TestClient, api_key: str, customer_id: str, **extra: Any) -> None:
    """Open a new link with `client`, which then carries the session cookie."""
    opened = client.get(portal_link(client, api_key, customer_id, **extra), follow_redirects=False)
    assert opened.status_code == 303, opened.text
    assert opened.headers["location"] == "/portal"


def csrf_of(page: str) -> str:
    """The CSRF token rendered in a page's forms."""
    marker = 'name="csrf_token" value="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


def pdf_text(content: bytes) -> str:
    """The text of a PDF as pypdf extracts it, runs of spaces made one."""
    reader = PdfReader(io.BytesIO(content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return re.sub(r"[ \t]+", " ", text)
