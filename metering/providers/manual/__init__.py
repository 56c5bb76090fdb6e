"""The vendor collects its invoices itself (`provider.ManualProvider`).

The invoice is issued and "sent" (the vendor mails it, or the customer reads it in the
portal); it stays open until payments recorded through `POST /v1/invoices/{id}/payments`
pay it. Nothing is called anywhere: every step only says what the vendor's side of it is.
"""
