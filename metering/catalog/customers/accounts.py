"""A customer's existing account at a payment provider (`stripe_customer_id`), linked through
the customers API.

The links live in the billing layer's tables and are checked at the provider, neither of
which the catalog may import: the surfaces layer installs an implementation of
`ProviderAccounts` on the app (`app.state.provider_accounts`), and the customer endpoints
reach it through the `provider_accounts` dependency.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from fastapi import Request
from sqlmodel import Session


class ProviderAccounts(Protocol):
    def stripe_ids(self, session: Session, customer_ids: Sequence[str]) -> dict[str, str]:
        """Customer id -> its Stripe customer, for the customers that have one."""

    def link_stripe(self, session: Session, customer_id: str, stripe_customer_id: str) -> None:
        """Link the customer to an existing Stripe customer, checked to exist there (in the
        caller's transaction); a `ProblemError` saying why it cannot be."""


def provider_accounts(request: Request) -> ProviderAccounts:
    accounts: ProviderAccounts = request.app.state.provider_accounts
    return accounts
