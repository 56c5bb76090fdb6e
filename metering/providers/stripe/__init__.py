"""Producing invoices through Stripe: a resumable, idempotent sync per invoice.

An issued invoice becomes a one-off Stripe invoice, one invoice item per line, in steps that
each commit before the next (`Invoice.sync_state`): not_started -> customer_synced ->
invoice_created -> items_created -> finalized -> paid | failed. charge_automatically
invoices are paid at once (a declined card makes ours `payment_failed`); send_invoice ones
are sent and their payment comes back by webhook. A void invoice is voided in Stripe (a
Stripe draft is deleted). Stripe's total must equal ours to the cent before anything is
collected.

* `sync.sync_due(engine, settings)` works through the due invoices (the `sync_invoices` job
  calls it); `sync.retry_sync` makes a stopped one due again (`POST .../retry_sync`).
* `steps` holds the Stripe calls; every write has an idempotency key made from our ids, so
  a worker killed between a Stripe call and our commit is resumed without duplicates.
* `state` reads and writes our rows: short transactions, never open across a Stripe call,
  each guarded by the worker's lease on the invoice.
* `failures` sorts errors: network, 409, 429 and 5xx are retried with exponential backoff
  (`sync_retry_base`, `sync_retry_cap`); other 4xx stop with `sync_error` set.
* `endpoints` + `webhook`: `POST /v1/stripe/webhook` (signed with `stripe_webhook_secret`).

Settings: `METERING_STRIPE_API_KEY` (none: no sync), `METERING_STRIPE_API_BASE`,
`METERING_STRIPE_WEBHOOK_SECRET`.
"""
