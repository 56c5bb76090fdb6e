"""Stripe as a payment provider (`provider.StripeProvider`).

An issued invoice becomes a one-off Stripe invoice, one invoice item per line;
charge_automatically invoices are paid at once (a declined card, a card asking for
authentication or a customer without a payment method makes ours `payment_failed`, retried
by `metering.billing.payments.dunning`), send_invoice ones are sent and their payment comes
back by webhook. A void invoice is voided in Stripe (a Stripe draft is deleted); one paid
outside Stripe is marked paid out of band. The steps, their order, the lease, the backoff
and the dunning are the provider-neutral sync's (`metering.billing.payments`).

* `client`: the client, pinned to the API version the sync was written for.
* `provider`: the Stripe calls of each step; every write has an idempotency key made from
  our ids and the invoice's key round, so a lost answer is asked for again under the same
  key and a new attempt after a definite answer is a new request; before making an object
  under a new round, it is looked up by our metadata.
* `failures`: network, 409, 429 and 5xx are transient (retried with backoff); other 4xx
  stop with the error kept; which answers Stripe keeps; why a payment was declined.
* `endpoints` + `webhook`: `POST /v1/stripe/webhook` (signed with `stripe_webhook_secret`),
  each event id applied once (`models.StripeEventSeen`).

Settings: `METERING_STRIPE_API_KEY` (none: Stripe's invoices wait), `METERING_STRIPE_API_BASE`,
`METERING_STRIPE_WEBHOOK_SECRET`.
"""
