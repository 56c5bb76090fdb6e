"""The payment method a customer's invoices are charged to: shown in the portal, added or
replaced on the provider's hosted page (Stripe: a Checkout Session in setup mode), opened from
the portal or by the vendor (`POST /v1/customers/{id}/payment_method_session`).

* `service`: which provider keeps the customer's methods, its account there (made when it has
  none yet), the method on file, the setup page. Every call goes through the payment-provider
  protocol; a provider that keeps no methods (`manual`) is a clean "not supported".
* `endpoints`: the vendor API.

When the provider reports the new method (webhook), it becomes the customer's default and its
failed payments are tried again at once (`metering.billing.payments.webhooks`).
"""
