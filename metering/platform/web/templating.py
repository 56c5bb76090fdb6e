"""Server-rendered pages: one Jinja2 environment (autoescaped) and the static files beside it.

Templates live in `metering/web/templates/`, assets in `metering/web/static/`, served by the
app itself at `/static` (no CDN, so the pages work offline and behind strict networks).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from metering.platform.web.tables import label_cells

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True


def humanize(name: str) -> str:
    """A rule-file name as words: `resolved_conversation` -> `Resolved conversation`."""
    words = name.replace("_", " ").replace("-", " ").strip()
    return words[:1].upper() + words[1:]


templates.env.filters["humanize"] = humanize

# Pages are per customer and may show amounts: never kept by shared caches, never framed by
# another site (a framed form could be clicked blindly), scripts and styles from here only
# (the one inline style is the vendor's colours).
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
}


def render(
    request: Request,
    name: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """Render template `name` with `context` (the request is added as `request`)."""
    response = templates.TemplateResponse(
        request,
        name,
        dict(context or {}),
        status_code=status_code,
        headers={**PAGE_HEADERS, **(headers or {})},
    )
    assert isinstance(response, HTMLResponse)
    labelled = label_cells(bytes(response.body).decode()).encode()
    if labelled != response.body:
        response.body = labelled
        response.headers["content-length"] = str(len(labelled))
    return response


def mount_static(app: FastAPI) -> None:
    """Serve `metering/web/static` at `/static` (`url_for('static', path=...)` in templates)."""
    app.mount("/static", StaticFiles(directory=str(STATIC_DIR)), name="static")
