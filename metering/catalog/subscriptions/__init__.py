"""Subscriptions: which plan version prices a customer's events, from when to when."""
