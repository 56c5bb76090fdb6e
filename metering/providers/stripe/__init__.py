"""Stripe as a payment provider (`provider.StripeProvider`).

An issued invoice becomes a one-off Stripe invoice, one invoice item per line;
charge_automatically invoices are paid at once (a declined card makes ours
`payment_failed`), send_invoice ones are sent and their payment comes back by webhook. A
void invoice is voided in Stripe (a Stripe draft is deleted). The steps, their order, the
lease and the backoff are the provider-neutral sync's (`metering.billing.payments`).

* `provider`: the Stripe calls of each step; every write has an idempotency key made from
  our ids, so a worker killed between a Stripe call and our commit is resumed without
  duplicates.
* `failures`: network, 409, 429 and 5xx are transient (retried with backoff); other 4xx
  stop with the error kept.
* `endpoints` + `webhook`: `POST /v1/stripe/webhook` (signed with `stripe_webhook_secret`),
  each event id applied once (`models.StripeEventSeen`).

Settings: `METERING_STRIPE_API_KEY` (none: no sync), `METERING_STRIPE_API_BASE`,
`METERING_STRIPE_WEBHOOK_SECRET`.
"""
