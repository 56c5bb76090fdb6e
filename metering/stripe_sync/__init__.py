"""Producing invoices through Stripe: a resumable, idempotent sync per invoice."""
