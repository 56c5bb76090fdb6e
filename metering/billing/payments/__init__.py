"""Collecting issued invoices through a payment provider, whichever it is.

* `protocol`: what a provider implements (ensure customer, create invoice, add item,
  finalize, collect, void, what its errors mean, parse a webhook) and the values that cross.
* `models` + `links`: the provider-neutral link tables (an invoice's id, hosted page and
  sync state at its provider; a line's item; a customer's customer there).
* `sync` + `steps` + `state`: the driver: due invoices, the per-invoice lease, one
  committed step at a time, backoff of transient failures (`backoff`), `retry_sync`.
* `webhooks`: what a parsed provider event does to our invoice (through `invoices.lifecycle`).

Providers live in `metering.providers.<name>/` and are passed in, built from the settings by
the surfaces layer (`metering.surfaces.providers`): nothing here imports one.
"""
