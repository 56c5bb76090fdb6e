"""localstripe, extended just enough to stand in for Stripe in the invoice sync tests.

Run as its own process: `python -m tests.stripe_fake.server` prints `port N` once listening
on 127.0.0.1 (a free port). `tests/stripe_fake/harness.py` starts and drives it.

localstripe (1.15.10) keeps its own objects, ids, validation and payment logic here:
customers, payment methods (including its decline test cards), payment intents, charges,
invoices, invoice items. What it lacks, and this module adds or patches, is only this:

* One-off invoices. localstripe only invoices subscriptions (`POST /v1/invoices` without
  `subscription` is a 404 or 400), ignores `metadata`, and knows no `collection_method`,
  `days_until_due`, `currency`, `auto_advance` or `pending_invoice_items_behavior` (when
  not `include`, the customer's pending items stay pending, as in Stripe).
* Invoice items created with `invoice=` are added to that draft invoice's lines (localstripe
  only sweeps pending items in when an invoice is created); `period[start]`/`period[end]`
  are accepted (localstripe knows the legacy `period_start`/`period_end` only); an item
  whose currency differs from its invoice's is refused.
* `POST /v1/invoices/{id}/finalize` and `/send` do not exist there; added. Finalizing gives
  the invoice a number and a hosted URL. `void` no longer fails on an invoice that has no
  payment intent. `pay` answers as Stripe does where localstripe does not: a declined card is
  a 402 `card_declined` (localstripe leaves the invoice open and answers 200), a card that
  asks for authentication a 402 `invoice_payment_intent_requires_action` (localstripe
  answers 200 with the invoice open), a customer without a payment method a 400
  `invalid_request_error` (localstripe: a 404); `paid_out_of_band` is accepted. These record
  Stripe's `invoice.finalized`, `.sent`, `.paid`, `.payment_failed` and `.voided` events
  (`GET /v1/events`), as localstripe does for the events it knows.
* `total` may be negative (credit lines above the charges), as in Stripe; `amount_due` stays
  at least zero. localstripe clamped `total` at zero.
* `GET /v1/invoiceitems?invoice=in_...` lists that invoice's items, as Stripe does
  (localstripe only lists pending items; without `invoice` it still does).
* `GET /v1/customers/search?query=metadata['key']:'value'`: Stripe's search, for this one
  form of query only (localstripe has no search); the results are immediate here, while
  Stripe's search index may lag a minute behind.
* `pm_card_authenticationRequired`, Stripe's test card that always asks for authentication,
  is known (localstripe knows three test payment methods).
* Idempotency-Key: localstripe ignores it. Here, as Stripe documents it, a POST with a key
  seen in the last 24 hours replays the first answer, whatever its status, 500 included
  (`Idempotent-Replayed: true`); the same key with other parameters is Stripe's 400
  `idempotency_error`. Answers Stripe does not keep are not kept: a 429 (rate limited) and a
  409 (conflict) are not saved, as no endpoint ran.
* The API version asked for (`Stripe-Version`) is recorded with each request; localstripe
  answers every version the same.
* Checkout Sessions in `setup` mode only (localstripe has no Checkout): `POST
  /v1/checkout/sessions` with `mode=setup`, `customer`, `success_url`, `cancel_url` and
  `currency` or `allowed_payment_method_types` makes an open session with its SetupIntent and
  a `url`; `GET /v1/checkout/sessions/{id}` reads it back. The hosted page itself is not
  served: `POST /_config/checkout/{id}/complete` (body `{"payment_method": "pm_card_visa"}`)
  does what the customer does on it (the SetupIntent succeeds with that method, attached to
  the customer) and answers the `setup_intent.succeeded` and `checkout.session.completed`
  events Stripe would send, for the test to deliver signed to our webhook.
* Stripe Tax, as far as the sync uses it: `automatic_tax[enabled]=true` on a one-off invoice
  is accepted; finalizing it without a customer address is Stripe's 400
  `customer_tax_location_invalid`; with one, the tax is a FIXED rate for a test country:
  19 % VAT for an address in DE (a `txr_` "VAT" rate with jurisdiction DE, made once), 0 for
  any other country. Stripe computes real rates per product, place and registration; the
  sync only reads the answer (`total_taxes`, with `tax_rate_details`), which has Stripe's
  shape here. `total` and `amount_due` include the tax; `subtotal` does not.
* No state on disk: localstripe pickles its store to one fixed file in /tmp after every
  write; here each process keeps its own store in memory (parallel test runs stay apart).

Test controls, under `/_config/` (no API key, like localstripe's own `/_config/` routes):
`GET/DELETE /_config/requests` (the API requests seen, in order), `POST /_config/faults`
(answer the next matching requests with an error, as a failing Stripe endpoint would, or
carry them out and answer too late for the client: its answer is lost), `POST /_config/kill`
(SIGKILL a client process when it sends its n-th request, before or after the request is
carried out), `DELETE /_config/idempotency` (Stripe's 24-hour expiry of idempotency keys,
now), `DELETE /_config/state` (forget everything).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import re
import signal
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from localstripe import resources, server
from localstripe.errors import UserError
from localstripe.resources import Event, Invoice, InvoiceItem, InvoiceLineItem, store
from localstripe.webhooks import schedule_webhook

# --- no disk: every harness process keeps its own store ------------------------------------

resources.Store.dump_to_disk = lambda self: None  # type: ignore[method-assign]
resources.Store.try_load_from_disk = lambda self: None  # type: ignore[method-assign]


# --- Stripe's test card that always asks for authentication --------------------------------

_canonical_test_article = resources.PaymentMethod._try_get_canonical_test_article


def canonical_test_article(cls: Any, id: str) -> Any:
    """localstripe's three test payment methods, and Stripe's `pm_card_authenticationRequired`
    (4000 0027 6000 3184, one localstripe already treats as asking for authentication)."""
    if id == "pm_card_authenticationRequired":
        card = {"number": "4000002760003184", "exp_month": "12", "exp_year": "2030", "cvc": "123"}
        return resources.PaymentMethod(type="card", card=card)
    return _canonical_test_article(id)


resources.PaymentMethod._try_get_canonical_test_article = classmethod(canonical_test_article)


# --- Checkout Sessions in setup mode -------------------------------------------------------


class CheckoutSession(resources.StripeObject):  # type: ignore[misc]
    """Stripe's `checkout.session`, in `setup` mode only: what a customer uses to add a
    payment method on Stripe's hosted page."""

    object = "checkout.session"
    _id_prefix = "cs_test_"

    def __init__(
        self,
        mode: Any = None,
        customer: Any = None,
        success_url: Any = None,
        cancel_url: Any = None,
        currency: Any = None,
        allowed_payment_method_types: Any = None,
        setup_intent_data: Any = None,
        metadata: Any = None,
        **rest: Any,
    ) -> None:
        if rest:
            raise _bad_request("Received unknown parameters: " + ", ".join(sorted(rest)))
        if mode != "setup":
            raise _bad_request("Only mode=setup is supported by this fake.", "mode")
        if not isinstance(success_url, str) or not success_url.startswith("http"):
            raise _bad_request("success_url must be an absolute URL.", "success_url")
        if currency is None and allowed_payment_method_types is None:
            raise _bad_request(
                "currency is required in setup mode when allowed_payment_method_types is not set.",
                "currency",
            )
        resources.Customer._api_retrieve(customer)  # 404 if unknown
        intent_metadata = (setup_intent_data or {}).get("metadata")
        intent = resources.SetupIntent(customer=customer, metadata=intent_metadata)
        super().__init__()
        self.mode = "setup"
        self.customer = customer
        self.success_url = success_url
        self.cancel_url = cancel_url
        self.currency = currency
        self.metadata = metadata or {}
        self.setup_intent = intent.id
        self.status = "open"
        self.url = f"https://checkout.stripe.test/c/pay/{self.id}"
        self.expires_at = self.created + 24 * 3600


async def create_checkout_session(request: web.Request) -> web.Response:
    data = await server.get_post_data(request) or {}
    return server.json_response(CheckoutSession(**data)._export())


async def retrieve_checkout_session(request: web.Request) -> web.Response:
    session = CheckoutSession._api_retrieve(request.match_info["id"])
    return server.json_response(session._export())


async def complete_checkout_session(request: web.Request) -> web.Response:
    """What the customer does on the hosted page: the session's SetupIntent succeeds with the
    payment method (attached to the customer); answers the events Stripe sends for it."""
    body = await request.json()
    session = CheckoutSession._api_retrieve(request.match_info["id"])
    intent = resources.SetupIntent._api_retrieve(session.setup_intent)
    method = resources.PaymentMethod._api_retrieve(body["payment_method"])
    resources.PaymentMethod._api_attach(method.id, customer=session.customer)
    intent._attach_pm(method)
    session.status = "complete"
    events = [
        Event("setup_intent.succeeded", intent),
        Event("checkout.session.completed", session),
    ]
    for made in events:
        schedule_webhook(made)
    return server.json_response([made._export() for made in events])


# --- one-off invoices ----------------------------------------------------------------------

_subscription_invoice_create = Invoice._api_create
COLLECTION_METHODS = ("charge_automatically", "send_invoice")


def _bad_request(message: str, param: str | None = None) -> UserError:
    return UserError(400, message, {"param": param} if param else None)


def create_invoice(
    cls: type[Invoice],
    customer: Any = None,
    subscription: Any = None,
    collection_method: Any = "charge_automatically",
    days_until_due: Any = None,
    currency: Any = None,
    auto_advance: Any = None,
    pending_invoice_items_behavior: Any = None,
    metadata: Any = None,
    description: Any = None,
    automatic_tax: Any = None,
    **rest: Any,
) -> Invoice:
    """Subscription invoices stay localstripe's; one-off invoices are made here."""
    if subscription is not None:
        return _subscription_invoice_create(
            customer=customer,
            subscription=subscription,
            metadata=metadata,
            description=description,
            pending_invoice_items_behavior=pending_invoice_items_behavior,
            **rest,
        )
    if rest:
        raise _bad_request("Received unknown parameters: " + ", ".join(sorted(rest)))
    if collection_method not in COLLECTION_METHODS:
        raise _bad_request("Invalid collection_method", "collection_method")
    days = resources.try_convert_to_int(days_until_due)
    if collection_method == "send_invoice":
        if not isinstance(days, int) or days < 0:
            raise _bad_request(
                "Missing required param: days_until_due (send_invoice)", "days_until_due"
            )
    elif days is not None:
        raise _bad_request(
            "days_until_due can only be set when collection_method is send_invoice",
            "days_until_due",
        )
    if currency is not None and not (isinstance(currency, str) and len(currency) == 3):
        raise _bad_request("Invalid currency", "currency")
    advance = resources.try_convert_to_bool(auto_advance)
    if advance is not None and not isinstance(advance, bool):
        raise _bad_request("Invalid boolean: auto_advance", "auto_advance")
    if pending_invoice_items_behavior not in (None, "exclude", "include"):
        raise _bad_request("Invalid pending_invoice_items_behavior")
    if metadata is not None and not isinstance(metadata, dict):
        raise _bad_request("Invalid metadata", "metadata")

    invoice = Invoice(customer=customer, metadata=metadata, description=description)
    if pending_invoice_items_behavior != "include":
        # Invoice() swept the customer's pending items in; Stripe's default leaves them out.
        for line in invoice.lines._list:
            InvoiceItem._api_retrieve(line.invoice_item).invoice = None
        invoice.lines._list = []
    invoice.currency = currency or invoice.currency
    invoice.collection_method = collection_method
    invoice.days_until_due = days
    invoice.due_date = invoice.date + days * 86400 if days is not None else None
    invoice.auto_advance = bool(advance)
    invoice.number = None
    invoice.hosted_invoice_url = None
    enabled = resources.try_convert_to_bool((automatic_tax or {}).get("enabled"))
    invoice.automatic_tax = {"enabled": enabled is True, "status": None, "liability": None}
    invoice._tax_rate = None
    return invoice


# --- Stripe Tax: a fixed rate for a test country -------------------------------------------

TAX_COUNTRY, TAX_PERCENT = "DE", 19.0
_tax_rates: dict[str, str] = {}


def _fixed_rate(country: str) -> Any:
    """The test country's VAT rate (made once per store), or None: no tax elsewhere."""
    if country != TAX_COUNTRY:
        return None
    made = _tax_rates.get(country)
    if made is None:
        rate = resources.TaxRate(
            display_name="VAT", inclusive=False, percentage=TAX_PERCENT, jurisdiction=country
        )
        _tax_rates[country] = made = rate.id
    return resources.TaxRate._api_retrieve(made)


def compute_automatic_tax(invoice: Invoice) -> None:
    """At finalization, as Stripe Tax: the customer's address decides the rate."""
    if not (getattr(invoice, "automatic_tax", None) or {}).get("enabled"):
        return
    customer = resources.Customer._api_retrieve(invoice.customer)
    country = (customer.address or {}).get("country")
    if not country:
        invoice.automatic_tax["status"] = "requires_location_input"
        raise UserError(
            400,
            "The customer's location isn't recognized. Add a valid address to the customer "
            "to calculate tax.",
            {"code": "customer_tax_location_invalid"},
        )
    invoice._tax_rate = _fixed_rate(country)
    invoice.automatic_tax["status"] = "complete"


def _automatic_tax_amount(self: Invoice) -> int:
    rate = getattr(self, "_tax_rate", None)
    if rate is None or self.subtotal <= 0:
        return 0
    amount: int = rate._tax_amount(self.subtotal)["amount"]
    return amount


def _total_taxes(self: Invoice) -> list[dict[str, Any]]:
    rate = getattr(self, "_tax_rate", None)
    if rate is None:
        return []
    return [
        {
            "amount": _automatic_tax_amount(self),
            "tax_behavior": "exclusive",
            "taxable_amount": max(0, self.subtotal),
            "taxability_reason": "standard_rated",
            "type": "tax_rate_details",
            "tax_rate_details": {"tax_rate": rate.id},
        }
    ]


Invoice.total_taxes = property(_total_taxes)  # type: ignore[attr-defined]


Invoice._api_create = classmethod(create_invoice)  # type: ignore[method-assign,assignment]


def _tax(self: Invoice) -> int:
    return int(self.tax) + _automatic_tax_amount(self)


def _total(self: Invoice) -> int:
    return int(self.subtotal + _tax(self))


def _amount_due(self: Invoice) -> int:
    return max(0, int(self.subtotal + _tax(self) - self.starting_balance))


_localstripe_status = Invoice.status


def _status(self: Invoice) -> str:
    if getattr(self, "_paid_out_of_band", False) and not self._voided:
        return "paid"
    status: str = _localstripe_status.fget(self)
    return status


Invoice.status = property(_status)  # type: ignore[method-assign,assignment]
Invoice.total = property(_total)  # type: ignore[method-assign,assignment]
Invoice.amount_due = property(_amount_due)  # type: ignore[method-assign,assignment]


# --- invoice items on a draft invoice ------------------------------------------------------


def create_invoice_item(cls: type[InvoiceItem], period: Any = None, **data: Any) -> InvoiceItem:
    """localstripe's item, also added to the lines of the draft invoice it names."""
    if period is not None:
        if not isinstance(period, dict) or set(period) != {"start", "end"}:
            raise _bad_request("Invalid period: needs start and end", "period")
        data["period_start"], data["period_end"] = period["start"], period["end"]
    invoice = None
    if isinstance(data.get("invoice"), str):
        invoice = Invoice._api_retrieve(data["invoice"])
        if invoice.status != "draft":
            raise _bad_request("You can only add invoice items to draft invoices.", "invoice")
        if data.get("currency") != invoice.currency:
            raise _bad_request(
                f"The currency of the invoice item ({data.get('currency')}) must match the "
                f"currency of the invoice ({invoice.currency}).",
                "currency",
            )
        if data.get("customer") != invoice.customer:
            raise _bad_request("The invoice belongs to another customer.", "invoice")
    item = InvoiceItem(**data)
    if invoice is not None:
        invoice.lines._list.append(InvoiceLineItem(item))
    return item


InvoiceItem._api_create = classmethod(create_invoice_item)  # type: ignore[method-assign,assignment]

_pending_items = InvoiceItem._api_list_all


def list_invoice_items(cls: type[InvoiceItem], url: str, invoice: Any = None, **query: Any) -> Any:
    """Stripe's `invoice=` filter: that invoice's items; without it, localstripe's list."""
    if invoice is None:
        return _pending_items(url, **query)
    if not isinstance(invoice, str) or not invoice.startswith("in_"):
        raise _bad_request("Invalid invoice", "invoice")
    Invoice._api_retrieve(invoice)  # 404 if unknown
    unknown = set(query) - {"limit", "starting_after", "customer"}
    if unknown:
        raise _bad_request("Received unknown parameters: " + ", ".join(sorted(unknown)))
    listed = resources.List(url, limit=query.get("limit"))
    listed._list = [
        item for item in store.values() if isinstance(item, InvoiceItem) and item.invoice == invoice
    ]
    return listed


InvoiceItem._api_list_all = classmethod(list_invoice_items)  # type: ignore[method-assign,assignment]


# --- customers found by our metadata -------------------------------------------------------

METADATA_QUERY = re.compile(r"^metadata\['([^'\]]+)'\]:'([^']*)'$")


async def search_customers(request: web.Request) -> web.Response:
    """`GET /v1/customers/search?query=metadata['key']:'value'`, Stripe's search for this form."""
    query = request.query.get("query", "")
    matched = METADATA_QUERY.match(query.strip())
    if matched is None:
        raise _bad_request(f"This harness only searches metadata['key']:'value', not {query!r}")
    key, value = matched.groups()
    found = [
        customer._export()
        for customer in store.values()
        if isinstance(customer, resources.Customer)
        and not getattr(customer, "deleted", False)
        and (customer.metadata or {}).get(key) == value
    ]
    return server.json_response(
        {
            "object": "search_result",
            "url": "/v1/customers/search",
            "has_more": False,
            "next_page": None,
            "data": found,
        }
    )


# --- finalize, send, pay, void -------------------------------------------------------------

_invoice_numbers: dict[str, int] = {}


def _open_invoice(id: str) -> Invoice:
    invoice = Invoice._api_retrieve(id)
    if invoice.status == "draft":
        raise _bad_request("This invoice has not been finalized.")
    return invoice


def finalize_invoice(id: str, auto_advance: Any = None, **rest: Any) -> Invoice:
    if rest:
        raise _bad_request("Received unknown parameters: " + ", ".join(sorted(rest)))
    invoice = Invoice._api_retrieve(id)
    if invoice.status != "draft":
        raise _bad_request(
            "This invoice is already finalized, you can't re-finalize a non-draft invoice."
        )
    compute_automatic_tax(invoice)
    invoice._finalize()
    count = _invoice_numbers.get(invoice.customer, 0) + 1
    _invoice_numbers[invoice.customer] = count
    invoice.number = f"{invoice.customer[-8:].upper()}-{count:04d}"
    invoice.hosted_invoice_url = f"https://invoice.stripe.test/i/{invoice.id}"
    if auto_advance is not None:
        invoice.auto_advance = resources.try_convert_to_bool(auto_advance)
    schedule_webhook(Event("invoice.finalized", invoice))
    if invoice.status == "paid":  # nothing to collect (total <= 0)
        invoice.status_transitions["paid_at"] = int(time.time())
        schedule_webhook(Event("invoice.paid", invoice))
    return invoice


def send_invoice(id: str, **rest: Any) -> Invoice:
    if rest:
        raise _bad_request("Received unknown parameters: " + ", ".join(sorted(rest)))
    invoice = _open_invoice(id)
    if invoice.collection_method != "send_invoice":
        raise _bad_request(
            "You can only manually send an invoice if its collection method is 'send_invoice'."
        )
    if invoice.status != "open":
        raise _bad_request(f"You can't send an invoice that is {invoice.status}.")
    invoice.sent_at = int(time.time())
    schedule_webhook(Event("invoice.sent", invoice))
    return invoice


NO_PAYMENT_METHOD = (
    "This customer has no attached payment source or default payment method. Please consider "
    "adding a default payment method."
)


def _card_error(message: str, code: str, **details: Any) -> UserError:
    error = UserError(402, message, {"code": code, **details})
    error.body["error"]["type"] = "card_error"
    return error


def pay_invoice(id: str, paid_out_of_band: Any = None, **rest: Any) -> Invoice:
    """localstripe's pay, answering as Stripe where localstripe does not (see the module's
    docstring). `paid_out_of_band` (the customer paid outside Stripe) marks it paid."""
    if rest:
        raise _bad_request("Received unknown parameters: " + ", ".join(sorted(rest)))
    if resources.try_convert_to_bool(paid_out_of_band) is True:
        invoice = _open_invoice(id)
        if invoice.status != "open":
            raise _bad_request(f"Invoice is already {invoice.status}")
        invoice._paid_out_of_band = True
        invoice.status_transitions["paid_at"] = int(time.time())
        schedule_webhook(Event("invoice.paid", invoice))
        return invoice
    invoice = Invoice._api_retrieve(id)
    if invoice.status == "open" and invoice.total > 0:
        customer = resources.Customer._api_retrieve(invoice.customer)
        if customer._get_default_payment_method_or_source() is None:
            raise _bad_request(NO_PAYMENT_METHOD)
    invoice = Invoice._api_pay_invoice(id)
    if invoice.status == "paid":
        schedule_webhook(Event("invoice.paid", invoice))
        return invoice
    charge = invoice.charge
    if charge is not None and charge.status == "failed":
        invoice.attempt_count += 1
        schedule_webhook(Event("invoice.payment_failed", invoice))
        raise _card_error(
            charge.failure_message,
            charge.failure_code,
            decline_code="generic_decline",
            charge=charge.id,
        )
    intent = resources.PaymentIntent._api_retrieve(invoice.payment_intent)
    if intent.status == "requires_action":
        invoice.attempt_count += 1
        schedule_webhook(Event("invoice.payment_action_required", invoice))
        raise _card_error(
            "This payment requires additional user action before it can be completed "
            "successfully. Payment can be completed using the PaymentIntent associated with "
            "the invoice.",
            "invoice_payment_intent_requires_action",
            payment_intent={"id": intent.id, "status": intent.status},
        )
    return invoice


def void_invoice(id: str, **rest: Any) -> Invoice:
    if rest:
        raise _bad_request("Received unknown parameters: " + ", ".join(sorted(rest)))
    invoice = Invoice._api_retrieve(id)
    if invoice.status not in ("draft", "open"):
        raise _bad_request(f"You can't void an invoice that is {invoice.status}.")
    if invoice.payment_intent is not None:
        resources.PaymentIntent._api_cancel(invoice.payment_intent)
    invoice._draft = False
    invoice._voided = True
    invoice.status_transitions["voided_at"] = int(time.time())
    schedule_webhook(Event("invoice.voided", invoice))
    return invoice


INVOICE_ACTIONS = {
    "/v1/invoices/{id}/finalize": finalize_invoice,
    "/v1/invoices/{id}/send": send_invoice,
    "/v1/invoices/{id}/pay": pay_invoice,
    "/v1/invoices/{id}/void": void_invoice,
}


async def invoice_action(request: web.Request) -> web.Response:
    data = await server.get_post_data(request) or {}
    expand = data.pop("expand", None)
    resource = request.match_info.route.resource
    assert resource is not None
    action = INVOICE_ACTIONS[resource.canonical]
    invoice = action(request.match_info["id"], **data)
    return server.json_response(invoice._export(expand=expand))


# --- requests log, faults, kills, idempotency ----------------------------------------------


# Stripe keeps an idempotency key's first answer this long.
IDEMPOTENCY_WINDOW = 24 * 3600
# Answers Stripe does not keep under the key, as no endpoint ran: rate limited, conflicting.
NOT_KEPT = (409, 429)


@dataclass(frozen=True)
class Saved:
    """The first answer given under an idempotency key, and when the key was first used."""

    fingerprint: str
    status: int
    body: bytes
    content_type: str
    at: float


@dataclass
class Controls:
    requests: list[dict[str, Any]] = field(default_factory=list)
    faults: list[dict[str, Any]] = field(default_factory=list)
    kills: list[dict[str, Any]] = field(default_factory=list)
    idempotent: dict[tuple[str, str], Saved] = field(default_factory=dict)


controls = Controls()


def _stripe_error(status: int, message: str, type: str, code: str | None = None) -> web.Response:
    error: dict[str, Any] = {"type": type, "message": message}
    if code:
        error["code"] = code
    return server.json_response({"error": error}, status=status)


def _fault_for(request: web.Request) -> dict[str, Any] | None:
    for fault in controls.faults:
        if (
            request.method == fault.get("method", request.method)
            and request.path.startswith(fault.get("path", "/v1/"))
            and request.path.endswith(fault.get("suffix", ""))
        ):
            fault["count"] -= 1
            if fault["count"] <= 0:
                controls.faults.remove(fault)
            return fault
    return None


def _faulty_answer(fault: dict[str, Any]) -> web.Response:
    """The error a fault answers with: its own Stripe error body, or a plain one."""
    status = int(fault["status"])
    if fault.get("error"):
        return server.json_response({"error": fault["error"]}, status=status)
    kind = "rate_limit_error" if status == 429 else "api_error"
    return _stripe_error(status, "Injected by the test harness", kind)


def _kill(request_number: int, when: str) -> bool:
    """SIGKILL the client armed for this request, if any; whether one was killed."""
    killed = False
    for kill in list(controls.kills):
        if kill["request"] == request_number and kill["when"] == when:
            controls.kills.remove(kill)
            os.kill(kill["pid"], signal.SIGKILL)
            killed = True
    return killed


async def _carry_out(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
    except UserError as error:
        response = error.to_response()
    return response


def _saved(request: web.Request, key: str | None) -> tuple[tuple[str, str], Saved | None] | None:
    """The idempotency slot of a POST with a key, and what it holds (None: nothing yet)."""
    if key is None or request.method != "POST":
        return None
    slot = (request.headers.get("Authorization", ""), key)
    saved = controls.idempotent.get(slot)
    if saved is not None and time.time() - saved.at >= IDEMPOTENCY_WINDOW:
        del controls.idempotent[slot]
        saved = None
    return slot, saved


def _replay(saved: Saved, fingerprint: str) -> web.Response:
    if saved.fingerprint != fingerprint:
        return _stripe_error(
            400,
            "Keys for idempotent requests can only be used with the same parameters they "
            "were first used with.",
            "idempotency_error",
        )
    return web.Response(
        body=saved.body,
        status=saved.status,
        content_type=saved.content_type,
        headers={"Idempotent-Replayed": "true"},
    )


def _keep(slot: tuple[str, str], fingerprint: str, response: web.StreamResponse) -> None:
    if isinstance(response, web.Response) and response.status not in NOT_KEPT:
        content = response.body if isinstance(response.body, bytes) else b""
        controls.idempotent[slot] = Saved(
            fingerprint, response.status, content, response.content_type or "", time.time()
        )


@web.middleware
async def harness_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    if request.path.startswith("/_config/"):
        return await _carry_out(request, handler)
    key = request.headers.get("Idempotency-Key")
    entry: dict[str, Any] = {
        "method": request.method,
        "path": request.path,
        "query": request.query_string,
        "idempotency_key": key,
        "stripe_version": request.headers.get("Stripe-Version"),
        "replayed": False,
    }
    controls.requests.append(entry)
    number = len(controls.requests)
    if _kill(number, "before"):  # the client is gone before Stripe did anything
        entry["status"] = 503
        return _stripe_error(503, "The client was killed by the test harness", "api_error")

    route = request.match_info.route.resource
    if route is not None and request.method == "POST" and route.canonical in INVOICE_ACTIONS:
        handler = invoice_action  # localstripe's own pay and void routes are replaced here
    if request.method == "GET" and request.path == "/v1/customers/search":
        handler = search_customers  # localstripe would read "search" as a customer id

    idempotency = _saved(request, key)
    fingerprint = ""
    if idempotency is not None:
        body = await request.read()
        asked = f"{request.method} {request.path} ".encode() + body
        fingerprint = hashlib.sha256(asked).hexdigest()
    fault = None
    response: web.StreamResponse
    if idempotency is not None and idempotency[1] is not None:
        response = _replay(idempotency[1], fingerprint)
        entry["replayed"] = response.status == idempotency[1].status
    else:
        fault = _fault_for(request)
        if fault is not None and "status" in fault:
            if fault.get("carry_out"):  # done, yet answered with the error
                await _carry_out(request, handler)
            response = _faulty_answer(fault)
        else:
            response = await _carry_out(request, handler)
        if idempotency is not None:
            _keep(idempotency[0], fingerprint, response)
    entry["status"] = response.status
    if fault is not None and "delay" in fault:
        # Carried out and kept; the answer comes after the client has given up waiting.
        entry["answer_lost"] = True
        await asyncio.sleep(float(fault["delay"]))
    _kill(number, "after")
    return response


async def get_requests(request: web.Request) -> web.Response:
    return server.json_response(controls.requests)


async def clear_requests(request: web.Request) -> web.Response:
    controls.requests.clear()
    return web.Response()


async def add_fault(request: web.Request) -> web.Response:
    """Body: `{"status": 500, "count": 1, "path": "/v1/invoices", "method": "POST"}`, with
    optionally `"error": {...}` (the Stripe error body to answer with) and `"carry_out":
    true` (carry the request out first, then answer the error); or, instead of a status,
    `"delay": 2.0`: carry the request out, then answer after that many seconds."""
    fault = await request.json()
    if ("status" in fault) == ("delay" in fault):
        raise UserError(400, "a fault has a status or a delay")
    fault.setdefault("count", 1)
    controls.faults.append(fault)
    return web.Response()


async def add_kill(request: web.Request) -> web.Response:
    """Body: {"pid": 123, "request": 3, "when": "before" | "after"}; numbers count requests
    from the last `DELETE /_config/requests`."""
    kill = await request.json()
    if kill.get("when") not in ("before", "after"):
        raise UserError(400, "when must be before or after")
    controls.kills.append(kill)
    return web.Response()


async def forget_idempotency_keys(request: web.Request) -> web.Response:
    """What Stripe does 24 hours after a key was first used."""
    controls.idempotent.clear()
    return web.Response()


async def reset(request: web.Request) -> web.Response:
    store.clear()
    _invoice_numbers.clear()
    _tax_rates.clear()
    controls.requests.clear()
    controls.faults.clear()
    controls.kills.clear()
    controls.idempotent.clear()
    return web.Response()


def build_app() -> web.Application:
    app = server.app
    app.middlewares.append(harness_middleware)
    for path in ("/v1/invoices/{id}/finalize", "/v1/invoices/{id}/send"):
        app.router.add_post(path, invoice_action)
    app.router.add_post("/v1/checkout/sessions", create_checkout_session)
    app.router.add_get("/v1/checkout/sessions/{id}", retrieve_checkout_session)
    app.router.add_post("/_config/checkout/{id}/complete", complete_checkout_session)
    app.router.add_get("/_config/requests", get_requests)
    app.router.add_delete("/_config/requests", clear_requests)
    app.router.add_post("/_config/faults", add_fault)
    app.router.add_post("/_config/kill", add_kill)
    app.router.add_delete("/_config/idempotency", forget_idempotency_keys)
    app.router.add_delete("/_config/state", reset)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    args = parser.parse_args()
    app = build_app()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", args.port))
    print(f"port {sock.getsockname()[1]}", flush=True)
    web.run_app(app, sock=sock, print=None, access_log=None, handle_signals=True)


if __name__ == "__main__":
    main()
