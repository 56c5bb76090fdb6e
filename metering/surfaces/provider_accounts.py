"""Customers' existing Stripe accounts, linked through the customers API
(`metering.catalog.customers.accounts`): checked in Stripe, then kept in the billing
layer's customer links, which the sync uses instead of making a Stripe customer."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session

from metering.billing.payments import links
from metering.billing.payments.provider_calls import ask
from metering.catalog.customers.models import PaymentProviderName
from metering.platform.api import problems
from metering.platform.settings import Settings
from metering.providers.stripe.provider import StripeProvider

STRIPE = PaymentProviderName.STRIPE.value


class LinkedAccounts:
    """The `ProviderAccounts` of the app: Stripe's, when the settings configure it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def stripe_ids(self, session: Session, customer_ids: Sequence[str]) -> dict[str, str]:
        return links.customer_external_ids(session, customer_ids, STRIPE)

    def link_stripe(self, session: Session, customer_id: str, stripe_customer_id: str) -> None:
        """Linked once: the same id again changes nothing; another of our customers linked
        to it, or an invoice being made in Stripe under the current one, is a 409; an id
        Stripe does not know is a 422."""
        if links.customer_external_id(session, customer_id, STRIPE) == stripe_customer_id:
            return
        others = [
            other
            for other in links.customers_at(session, STRIPE, stripe_customer_id)
            if other != customer_id
        ]
        if others:
            raise problems.STRIPE_CUSTOMER_CONFLICT.error(
                f"Stripe customer '{stripe_customer_id}' is linked to customer {others[0]}; "
                "a Stripe customer pays for one of ours.",
                extra={"customer_id": others[0]},
            )
        making = links.invoices_in_the_making(session, customer_id, STRIPE)
        if making:
            raise problems.STRIPE_CUSTOMER_CONFLICT.error(
                f"Invoice {making[0]} is being made in Stripe under the customer's current "
                "Stripe customer; link another once its sync has finalized it.",
                extra={"invoice_id": making[0]},
            )
        if not self.settings.stripe_api_key:
            raise problems.STRIPE_CUSTOMER_INVALID.error(
                "stripe_customer_id: Stripe is not configured (no stripe_api_key), so "
                f"'{stripe_customer_id}' cannot be checked."
            )
        stripe = StripeProvider.from_settings(self.settings)
        if not ask(stripe, lambda: stripe.has_customer(stripe_customer_id)):
            raise problems.STRIPE_CUSTOMER_INVALID.error(
                f"stripe_customer_id: Stripe has no customer '{stripe_customer_id}' (or it "
                "was deleted); send the id of an existing customer (cus_...)."
            )
        links.relink_customer(session, customer_id, STRIPE, stripe_customer_id)
