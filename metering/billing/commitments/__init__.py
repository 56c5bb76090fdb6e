"""Commitments across periods: where a period stands in its term, and the consumption a
customer has against its commitment (the pure pricing is `pricing_rules.commitments`)."""
