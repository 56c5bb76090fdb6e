"""The catalogue of the API's problem types (RFC 9457): each one declared once, raised by name.

A service raises `problems.INVOICE_PAID.error(f"Invoice '{id}' is paid ...")`: the status,
title and `type` come from here, the detail, extension members and headers from the call
site. `problem_handlers` renders every error in this shape, `problem_docs` documents each type
in OpenAPI, and a test keeps the rest of `metering/` from building a problem of its own.

A type is the relative URI `/problems/<slug>`. Plain types keep `about:blank`, with the HTTP
status phrase as title: they say nothing more than the status (RFC 9457, section 4.2.1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

PROBLEM_JSON = "application/problem+json"
RETRY_AFTER_SECONDS = 2
"""What a 503 the client may retry (the database, the event log) asks it to wait first."""


class ProblemError(Exception):
    """An error the client can act on, rendered as `application/problem+json`.

    Raise one through its catalogue entry (`NOT_FOUND.error(...)`), never built inline.
    """

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        type: str = "about:blank",
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.type = type
        self.extra = dict(extra or {})
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The problem document; extension members never override the standard ones."""
        document: dict[str, Any] = dict(self.extra)
        document.update(type=self.type, title=self.title, status=self.status, detail=self.detail)
        return document


@dataclass(frozen=True)
class ProblemType:
    """One kind of problem: the same status, title and `type` in every answer."""

    slug: str
    status: int
    title: str
    description: str
    """When it happens, in one line (for the OpenAPI document)."""
    plain: bool = False
    """`about:blank`: the title is the status phrase and the type adds nothing to it."""
    retry_after: int | None = None
    """Seconds every answer of this kind asks the client to wait (`Retry-After`)."""

    @property
    def uri(self) -> str:
        return "about:blank" if self.plain else f"/problems/{self.slug}"

    def error(
        self,
        detail: str,
        *,
        extra: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> ProblemError:
        """This problem, with what the call site knows: `detail`, members, headers."""
        if self.retry_after is not None:
            headers = {"Retry-After": str(self.retry_after), **(headers or {})}
        return ProblemError(
            self.status, self.title, detail, type=self.uri, extra=extra, headers=headers
        )


_DECLARED: dict[str, ProblemType] = {}


def _declare(
    slug: str,
    status: int,
    title: str,
    description: str,
    plain: bool = False,
    retry_after: int | None = None,
) -> ProblemType:
    if slug in _DECLARED:
        raise ValueError(f"problem type '{slug}' is declared twice")
    _DECLARED[slug] = ProblemType(slug, status, title, description, plain, retry_after)
    return _DECLARED[slug]


def _status_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def _plain(status: int, description: str) -> ProblemType:
    return _declare(f"http-{status}", status, _status_phrase(status), description, plain=True)


# Plain statuses: framework answers and request-reading failures.
HTTP_BAD_REQUEST = _plain(
    400,
    "The request cannot be read: a body that is not UTF-8 text, a Content-Length that is not "
    "a number, or a body the framework cannot parse.",
)
HTTP_NOT_FOUND = _plain(
    404, "No route has this path, or the plan was deleted while it was being simulated."
)
HTTP_METHOD_NOT_ALLOWED = _plain(405, "The path takes other methods, listed in the `Allow` header.")
HTTP_UNSUPPORTED_MEDIA_TYPE = _plain(
    415,
    "A body in a media type the operation does not take: a rule file as neither YAML nor JSON "
    '`{"yaml": ...}`, any other body as anything but JSON.',
)
HTTP_INTERNAL_SERVER_ERROR = _plain(
    500, "An unexpected error; it is logged, and retrying the request is safe."
)

# Any endpoint.
MALFORMED_JSON = _declare(
    "malformed-json", 400, "Malformed JSON", "The body is empty, not UTF-8, or not valid JSON."
)
INVALID_REQUEST = _declare(
    "invalid-request",
    422,
    "Invalid Request",
    "A field of the body, query or path is missing or invalid; `errors` lists each field "
    "when the request's schema refused it.",
)
BODY_TOO_LARGE = _declare(
    "body-too-large", 413, "Content Too Large", "The body exceeds the size limit (5 MiB)."
)
INVALID_CURSOR = _declare(
    "invalid-cursor",
    400,
    "Invalid Cursor",
    "The cursor was not issued by this list; pass `next_cursor` of a previous page.",
)
NOT_FOUND = _declare(
    "not-found",
    404,
    "Not Found",
    "No such object; one of another vendor is answered the same way.",
)
NOT_READY = _declare(
    "not-ready",
    503,
    "Service Unavailable",
    "The database is unreachable or its schema is not current.",
)
DATABASE_UNAVAILABLE = _declare(
    "database-unavailable",
    503,
    "Service Unavailable",
    "The database could not be reached or the connection to it was lost; send the request "
    "again after the seconds in `Retry-After` (an event id is stored once, so resending "
    "events never doubles them).",
    retry_after=RETRY_AFTER_SECONDS,
)
EVENTLOG_UNAVAILABLE = _declare(
    "eventlog-unavailable",
    503,
    "Service Unavailable",
    "The vendor's event log (ClickHouse) did not take the batch, so nothing was stored; send "
    "the request again after the seconds in `Retry-After` (an event id is stored once, so "
    "resending never doubles events).",
    retry_after=RETRY_AFTER_SECONDS,
)

# Credentials: the vendor's API key, or the Standard Webhooks signature of the event webhook.
MISSING_API_KEY = _declare(
    "missing-api-key", 401, "Unauthorized", "No `Authorization: Bearer <key>` header."
)
INVALID_API_KEY = _declare(
    "invalid-api-key", 401, "Unauthorized", "The API key is unknown or revoked."
)
MISSING_SIGNATURE = _declare(
    "missing-signature",
    401,
    "Unauthorized",
    "A webhook header is missing: webhook-id, webhook-timestamp or webhook-signature.",
)
INVALID_SIGNATURE_HEADERS = _declare(
    "invalid-signature-headers",
    401,
    "Unauthorized",
    "A webhook header is malformed: a timestamp not in Unix seconds, or a signature not "
    "'v1,<base64>'.",
)
STALE_WEBHOOK_TIMESTAMP = _declare(
    "stale-webhook-timestamp",
    401,
    "Unauthorized",
    "webhook-timestamp is older than the tolerance; sign each delivery when sending it.",
)
FUTURE_WEBHOOK_TIMESTAMP = _declare(
    "future-webhook-timestamp",
    401,
    "Unauthorized",
    "webhook-timestamp is further in the future than the tolerance; check the sender's clock.",
)
INVALID_SIGNATURE = _declare(
    "invalid-signature",
    401,
    "Unauthorized",
    "webhook-signature matches none of the vendor's signing secrets.",
)

# Events.
UNSUPPORTED_MEDIA_TYPE = _declare(
    "unsupported-media-type",
    415,
    "Unsupported Media Type",
    "Events sent as neither JSON nor CloudEvents JSON.",
)
INVALID_ENVELOPE = _declare(
    "invalid-envelope",
    422,
    "Invalid Event Envelope",
    'The body is none of: one event, `{"events": [...]}`, a CloudEvent, a CloudEvents batch.',
)
TOO_MANY_EVENTS = _declare(
    "too-many-events",
    413,
    "Too Many Events",
    "The batch has more events than one request accepts (1,000).",
)
EVENT_CONFLICT = _declare(
    "event-conflict",
    409,
    "Conflict",
    "The event id was stored with other content; a stored event is never overwritten.",
)
INVALID_EVENT = _declare(
    "invalid-event",
    422,
    "Invalid Event",
    "The single event sent is invalid; `rejected` names the field at fault.",
)

# Plans and subscriptions.
INVALID_RULE_FILE = _declare(
    "invalid-rule-file",
    422,
    "Invalid Rule File",
    "The rule file has errors; `errors` lists each with its line and column.",
)
INVALID_OVERRIDE = _declare(
    "invalid-override",
    422,
    "Invalid Override",
    "The customer's override has errors; `errors` lists each with its line and column (a "
    "charge the plan does not have, a key no charge takes, a price the charge refuses).",
)
PLAN_VERSION_EXISTS = _declare(
    "plan-version-exists",
    409,
    "Version Already Exists",
    "This version of the plan exists with other YAML; versions are immutable.",
)
PLAN_WITHOUT_VERSION = _declare(
    "plan-without-version",
    409,
    "Plan Has No Version",
    "The plan has no version yet; upload a rule file first.",
)
SUBSCRIPTIONS_OVERLAP = _declare(
    "subscriptions-overlap",
    409,
    "Subscriptions Overlap",
    "The subscription would start before the end of the customer's last one.",
)
NO_SUBSCRIPTION = _declare(
    "no-subscription", 404, "No Subscription", "The customer has no plan in force now."
)

# Customers and disputes.
CUSTOMER_EXISTS = _declare(
    "customer-exists",
    409,
    "Customer Already Exists",
    "A customer has this external_id already; `customer_id` names it.",
)
INVALID_REASON = _declare(
    "invalid-reason",
    422,
    "Invalid Reason",
    "A dispute says why the outcome is disputed, in 1 to 4,000 characters.",
)
NOT_DISPUTABLE = _declare(
    "not-disputable", 409, "Not Disputable", "Only counted outcomes can be disputed."
)
DISPUTE_OPEN = _declare(
    "dispute-open",
    409,
    "Dispute Already Open",
    "The outcome already has an open dispute, waiting for the vendor's answer.",
)
DISPUTE_RESOLVED = _declare(
    "dispute-resolved",
    409,
    "Dispute Resolved",
    "The dispute was already accepted, rejected or withdrawn; a dispute is closed once.",
)

# Invoices and payments.
INVOICE_PAID = _declare(
    "invoice-paid",
    409,
    "Invoice Paid",
    "A paid invoice cannot be voided; refund the payment instead.",
)
NOTHING_TO_RETRY = _declare(
    "nothing-to-retry",
    409,
    "Nothing To Retry",
    "The invoice has no payment sync to retry: it is a draft, or its sync finished.",
)
INVOICE_NOT_PAYABLE = _declare(
    "invoice-not-payable",
    409,
    "Invoice Not Payable",
    "Payments are recorded against issued and payment_failed invoices; this one is a draft, "
    "paid or void.",
)
INVALID_PAYMENT = _declare(
    "invalid-payment",
    422,
    "Invalid Payment",
    "The amount is not above zero, has more decimals than the invoice's currency, or is more "
    "than the amount due; or the date is in the future.",
)
PAYMENT_REFERENCE_CONFLICT = _declare(
    "payment-reference-conflict",
    409,
    "Payment Reference Conflict",
    "A payment with this reference was recorded for the invoice with another amount, date or "
    "method; a reference names one payment.",
)
STRIPE_NOT_CONFIGURED = _declare(
    "stripe-not-configured",
    404,
    "Stripe Not Configured",
    "The service has no Stripe webhook secret (METERING_STRIPE_WEBHOOK_SECRET), so it takes no "
    "Stripe webhooks.",
)
STRIPE_CUSTOMER_INVALID = _declare(
    "stripe-customer-invalid",
    422,
    "Stripe Customer Invalid",
    "`stripe_customer_id` names no customer in Stripe (or a deleted one), or Stripe is not "
    "configured (no stripe_api_key).",
)
STRIPE_CUSTOMER_CONFLICT = _declare(
    "stripe-customer-conflict",
    409,
    "Stripe Customer Conflict",
    "The Stripe customer is linked to another customer (`customer_id` names it), or one of "
    "this customer's invoices is being made in Stripe under its current Stripe customer.",
)
PAYMENT_METHOD_NOT_SUPPORTED = _declare(
    "payment-method-not-supported",
    409,
    "Payment Method Not Supported",
    "The customer's payment provider keeps no payment methods (`manual`: the vendor collects "
    "its invoices itself), or it is not configured.",
)
PROVIDER_UNAVAILABLE = _declare(
    "provider-unavailable",
    503,
    "Payment Provider Unavailable",
    "The payment provider did not answer or failed; nothing was changed, try again.",
)
STRIPE_SIGNATURE_INVALID = _declare(
    "stripe-signature-invalid",
    400,
    "Bad Request",
    "Stripe-Signature does not verify with the endpoint secret, or the body is not an event.",
)

# Outbound webhooks.
WEBHOOK_URL_REFUSED = _declare(
    "webhook-url-refused",
    422,
    "Webhook URL Refused",
    "Webhooks go to https URLs on public addresses only: the URL is not https, or its host "
    "is a loopback, private, link-local or other non-public address; `errors` names the field.",
)

# Alerts, reports and simulations.
INVALID_ALERT = _declare(
    "invalid-alert",
    422,
    "Invalid Alert",
    "The alert names an outcome, or a maximum, that its plan does not have.",
)
INVALID_PERIOD = _declare(
    "invalid-period",
    422,
    "Invalid Period",
    "The period is not a label of a billing interval (2026-11-28, 2026-W48, 2026-11, ...).",
)
INVALID_SIMULATION_RANGE = _declare(
    "invalid-simulation-range",
    422,
    "Invalid Simulation Range",
    "'from' or 'to' lacks a timezone, 'from' is not before 'to', or the range is over 366 days.",
)
CANNOT_SIMULATE = _declare(
    "cannot-simulate",
    422,
    "Cannot Simulate",
    "The plan's history cannot be priced over this range (for example, it starts after now).",
)

# Credits.
INVALID_CREDIT_GRANT = _declare(
    "invalid-credit-grant",
    422,
    "Invalid Credit Grant",
    "The grant's amount, currency, dates or applies_to cannot be used for this customer; "
    "`errors` names the field. Nothing was written.",
)
CREDIT_GRANT_VOIDED = _declare(
    "credit-grant-voided",
    409,
    "Credit Grant Voided",
    "The grant is voided already: it cannot be voided or adjusted again.",
)
INVALID_CREDIT_ADJUSTMENT = _declare(
    "invalid-credit-adjustment",
    422,
    "Invalid Credit Adjustment",
    "The adjustment is zero, has more decimals than the currency, or would leave the grant "
    "below zero; `errors` names the field.",
)
IDEMPOTENCY_KEY_REUSED = _declare(
    "idempotency-key-reused",
    409,
    "Idempotency Key Reused",
    "The Idempotency-Key was sent before with another request body; a key stands for one "
    "request, so a new request needs a new key.",
)
CREDIT_PURCHASE_UNAVAILABLE = _declare(
    "credit-purchase-unavailable",
    422,
    "Credit Purchase Unavailable",
    "The grant cannot be bought through an invoice: it is promotional, or the customer has "
    "no payment provider to issue its purchase invoice; `errors` names the field.",
)

NO_COMMITMENT = _declare(
    "no-commitment",
    404,
    "No Commitment",
    "The customer's plan in force has no commitment, so there is no consumption against one.",
)

CATALOGUE: tuple[ProblemType, ...] = tuple(_DECLARED.values())
"""Every problem type the API answers with, in declaration order."""


def not_found(kind: str, identifier: str) -> ProblemError:
    """The same 404 whether the object does not exist or belongs to another vendor."""
    return NOT_FOUND.error(f"No {kind} '{identifier}'.")


def plain(status: int) -> ProblemType:
    """The plain type of an HTTP error the framework raised (an unknown route, a wrong
    method, an unreadable body); `about:blank` with the phrase for one it does not list."""
    for kind in CATALOGUE:
        if kind.plain and kind.status == status:
            return kind
    phrase = _status_phrase(status)
    return ProblemType(f"http-{status}", status, phrase, phrase, plain=True)
