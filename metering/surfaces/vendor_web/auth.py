"""Who is looking at a vendor page: the vendor whose API key signed in.

`/vendor/login` takes the API key once, checks it as the REST API does (its SHA-256 names an
unrevoked key), and sets a signed, HttpOnly, SameSite=Lax cookie naming that key's id
(never the key) and a CSRF token. Every page reads the key row again, so revoking the key
signs its browser sessions out. The login form itself carries a CSRF token bound to a
short-lived signed cookie (double submit), so another site cannot sign a browser in.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import Response
from itsdangerous import BadSignature
from sqlmodel import Session, col, select

from metering.catalog.vendors.credentials import hash_api_key
from metering.catalog.vendors.models import ApiKey, Vendor
from metering.platform.db.session import get_session
from metering.surfaces.portal.keys import serializer

COOKIE_NAME = "vendor_session"
COOKIE_SALT = "vendor-session"
LOGIN_COOKIE_NAME = "vendor_login"
LOGIN_COOKIE_SALT = "vendor-login"
COOKIE_PATH = "/vendor"
SESSION_LIFETIME = timedelta(hours=12)
LOGIN_FORM_LIFETIME = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class VendorContext:
    """The signed-in vendor, the key it signed in with, and its session's CSRF token."""

    vendor: Vendor
    api_key_id: str
    csrf_token: str


class SignInRequired(Exception):
    """No valid vendor session: the page answers with a redirect to the login form."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


def key_row(session: Session, api_key: str) -> ApiKey | None:
    """The unrevoked key this text is, checked as `metering.catalog.vendors.auth` checks
    bearer keys."""
    statement = select(ApiKey).where(
        ApiKey.hash == hash_api_key(api_key.strip()), col(ApiKey.revoked_at).is_(None)
    )
    return session.exec(statement).first()


def _loads(request: Request, name: str, salt: str, max_age: timedelta) -> dict[str, Any] | None:
    raw = request.cookies.get(name)
    if not raw:
        return None
    try:
        payload = serializer(request, salt).loads(raw, max_age=int(max_age.total_seconds()))
    except BadSignature:  # also SignatureExpired
        return None
    return payload if isinstance(payload, dict) else None


def _set_cookie(
    request: Request, response: Response, name: str, value: str, lifetime: timedelta
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=int(lifetime.total_seconds()),
        path=COOKIE_PATH,
        httponly=True,
        secure=request.url.scheme == "https",
        samesite="lax",
    )


def vendor_context(request: Request, session: Session = Depends(get_session)) -> VendorContext:
    """The signed-in vendor of this request; `SignInRequired` when there is none."""
    payload = _loads(request, COOKIE_NAME, COOKIE_SALT, SESSION_LIFETIME)
    if payload is not None and {"key", "csrf"} <= payload.keys():
        row = session.get(ApiKey, str(payload["key"]))
        vendor = session.get(Vendor, row.vendor_id) if row is not None else None
        if row is not None and row.revoked_at is None and vendor is not None:
            return VendorContext(vendor, row.id, str(payload["csrf"]))
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    raise SignInRequired(target)


def sign_in(request: Request, response: Response, key: ApiKey) -> None:
    """Start a session for `key` on `response`, and drop the login form's cookie."""
    value = serializer(request, COOKIE_SALT).dumps(
        {"key": key.id, "csrf": secrets.token_urlsafe(24)}
    )
    _set_cookie(request, response, COOKIE_NAME, value, SESSION_LIFETIME)
    response.delete_cookie(LOGIN_COOKIE_NAME, path=COOKIE_PATH)


def sign_out(response: Response) -> None:
    response.delete_cookie(COOKIE_NAME, path=COOKIE_PATH)


def new_login_token() -> str:
    """A CSRF token for one login form (`bind_login_token` puts it in a cookie too)."""
    return secrets.token_urlsafe(24)


def bind_login_token(request: Request, response: Response, token: str) -> None:
    value = serializer(request, LOGIN_COOKIE_SALT).dumps({"csrf": token})
    _set_cookie(request, response, LOGIN_COOKIE_NAME, value, LOGIN_FORM_LIFETIME)


def _same(expected: object, token: str | None) -> bool:
    if not isinstance(expected, str) or not token:
        return False
    return hmac.compare_digest(expected.encode(), token.encode())


def login_form_valid(request: Request, token: str | None) -> bool:
    """Whether the login form was sent by the page this browser was given."""
    payload = _loads(request, LOGIN_COOKIE_NAME, LOGIN_COOKIE_SALT, LOGIN_FORM_LIFETIME)
    return payload is not None and _same(payload.get("csrf"), token)


def csrf_valid(context: VendorContext, token: str | None) -> bool:
    return _same(context.csrf_token, token)


def safe_next(next_url: str | None, default: str) -> str:
    """Only a path of the vendor pages: never an address on another site."""
    if next_url and next_url.startswith(COOKIE_PATH + "/") and not next_url.startswith("//"):
        return next_url
    return default


def login_url(next_url: str) -> str:
    return f"{COOKIE_PATH}/login?next={quote(next_url, safe='')}"
