"""Who is calling: a vendor's API key (REST API) or its webhook signature (event webhook).

Signatures follow Standard Webhooks and are checked by the `standardwebhooks` package. We
check the headers and the timestamp first ourselves, so each failure gets its own detail
(missing header, stale or future timestamp, no matching signature) instead of the
package's one exception type, and so the tolerance comes from the settings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session
from standardwebhooks import Webhook, WebhookVerificationError

from metering.catalog.vendors import repository
from metering.catalog.vendors.credentials import hash_api_key
from metering.catalog.vendors.models import Vendor
from metering.platform.api import problems
from metering.platform.api.problems import ProblemError, not_found
from metering.platform.db.faults import retried_once
from metering.platform.db.session import get_session
from metering.platform.db.types import utcnow
from metering.platform.settings import Settings, get_settings

WEBHOOK_HEADERS = ("webhook-id", "webhook-timestamp", "webhook-signature")
BEARER = {"WWW-Authenticate": "Bearer"}

API_KEY_PROBLEMS = (problems.MISSING_API_KEY, problems.INVALID_API_KEY)
"""What `current_vendor` can answer, for the documented responses of the routes using it."""
SIGNATURE_PROBLEMS = (
    problems.NOT_FOUND,
    problems.HTTP_BAD_REQUEST,
    problems.MISSING_SIGNATURE,
    problems.INVALID_SIGNATURE_HEADERS,
    problems.STALE_WEBHOOK_TIMESTAMP,
    problems.FUTURE_WEBHOOK_TIMESTAMP,
    problems.INVALID_SIGNATURE,
)
"""What `verify_webhook` can answer."""


API_KEY = HTTPBearer(
    auto_error=False,
    scheme_name="vendorApiKey",
    description="The vendor's API key: `Authorization: Bearer <key>` (`metering vendors "
    "create` prints the first one; `POST /v1/vendor/api_keys` makes more).",
)
"""Declares the bearer key in OpenAPI for every route that depends on `current_vendor`."""


async def api_key(
    request: Request,
    credentials: HTTPAuthorizationCredentials | None = Security(API_KEY),
) -> str:
    """The key in `Authorization: Bearer <key>`; a 401 problem without one. Async, so
    reading a header takes no worker thread."""
    if credentials is None or not credentials.credentials.strip():
        detail = (
            "The Authorization header must be 'Bearer <key>'."
            if request.headers.get("authorization")
            else "Send your API key as 'Authorization: Bearer <key>'."
        )
        raise problems.MISSING_API_KEY.error(detail, headers=BEARER)
    return credentials.credentials.strip()


def invalid_api_key() -> ProblemError:
    """The 401 of a key that is unknown or revoked."""
    return problems.INVALID_API_KEY.error(
        "The API key is not valid (unknown or revoked).", headers=BEARER
    )


def current_vendor(session: Session = Depends(get_session), key: str = Depends(api_key)) -> Vendor:
    """The vendor whose API key is in `Authorization: Bearer <key>`; a 401 problem otherwise."""
    key_hash = hash_api_key(key)
    # A read, so safe to run again when the connection was lost under it.
    vendor = retried_once(
        session, lambda: repository.vendor_by_key_hash(session, key_hash), commit=False
    )
    if vendor is None:
        raise invalid_api_key()
    return vendor


def _sent_at(value: str) -> datetime:
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise problems.INVALID_SIGNATURE_HEADERS.error(
            f"webhook-timestamp '{value}' is not a Unix timestamp in seconds.",
        ) from None


def _check_timestamp(sent_at: datetime, now: datetime, tolerance: timedelta) -> None:
    skew = int((now - sent_at).total_seconds())
    limit = int(tolerance.total_seconds())
    if skew > limit:
        raise problems.STALE_WEBHOOK_TIMESTAMP.error(
            f"webhook-timestamp is {skew} seconds old; the tolerance is {limit} seconds. "
            "Sign each delivery when sending it (replays are refused).",
        )
    if -skew > limit:
        raise problems.FUTURE_WEBHOOK_TIMESTAMP.error(
            f"webhook-timestamp is {-skew} seconds in the future; the tolerance is {limit} "
            "seconds. Check the sender's clock.",
        )


SIGNATURE_ITEMS = re.compile(
    r"v[0-9a-z]+,[A-Za-z0-9+/]+={0,2}(?: +v[0-9a-z]+,[A-Za-z0-9+/]+={0,2})*"
)
"""The syntax of `webhook-signature`: space-separated `<version>,<base64 signature>` items."""


def _package_problem(error: WebhookVerificationError) -> ProblemError:
    """The package also checks the timestamp (fixed 5 minutes) and the header syntax."""
    message = str(error)
    if "too old" in message or "too new" in message:
        return problems.STALE_WEBHOOK_TIMESTAMP.error(f"webhook-timestamp refused: {message}.")
    if "No matching signature" in message:
        return problems.INVALID_SIGNATURE.error(
            "webhook-signature matches none of the vendor's signing secrets "
            "(signed with another secret, or the body changed after signing).",
        )
    return problems.INVALID_SIGNATURE_HEADERS.error(f"Webhook headers refused: {message}.")


def check_signature(
    secrets: Sequence[str],
    body: bytes,
    headers: Mapping[str, str],
    *,
    tolerance: timedelta,
    now: datetime,
) -> None:
    """Raise a 401 problem unless `headers` sign `body` with one of `secrets` in time."""
    lowered = {name.lower(): value for name, value in headers.items()}
    missing = [name for name in WEBHOOK_HEADERS if not lowered.get(name)]
    if missing:
        raise problems.MISSING_SIGNATURE.error(
            f"Missing webhook header(s): {', '.join(missing)}. "
            "Sign the request with the Standard Webhooks scheme.",
        )
    _check_timestamp(_sent_at(lowered["webhook-timestamp"]), now, tolerance)
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        raise problems.HTTP_BAD_REQUEST.error("The body is not UTF-8 text.") from None
    if not SIGNATURE_ITEMS.fullmatch(lowered["webhook-signature"].strip()):
        # Checked here, not left to the package: its versions disagree on what they raise.
        raise problems.INVALID_SIGNATURE_HEADERS.error(
            "webhook-signature is malformed: expected space-separated 'v1,<base64>' items.",
        )
    problem: ProblemError | None = None
    for secret in secrets:
        try:
            Webhook(secret).verify(body, lowered, json_parse=False)
            return
        except WebhookVerificationError as error:
            problem = _package_problem(error)
        except ValueError:
            problem = problems.INVALID_SIGNATURE_HEADERS.error(
                "webhook-signature is malformed: expected space-separated 'v1,<base64>' items.",
            )
    raise problem or problems.INVALID_SIGNATURE.error("The vendor has no signing secret.")


def verify_webhook(
    session: Session,
    vendor_id: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    settings: Settings | None = None,
    now: datetime | None = None,
) -> Vendor:
    """The vendor of `/v1/webhooks/{vendor_id}/events` once the delivery's signature checks out.

    404 for an unknown vendor; 401 for a missing, malformed, stale or wrong signature. The
    current secret and any old one still in its rotation grace period are accepted.
    """
    settings = settings or get_settings()
    now = now or utcnow()
    vendor = repository.get_vendor(session, vendor_id)
    if vendor is None:
        raise not_found("vendor", vendor_id)
    secrets = [row.secret for row in repository.valid_secrets(session, vendor.id, now)]
    check_signature(secrets, body, headers, tolerance=settings.webhook_tolerance, now=now)
    return vendor
