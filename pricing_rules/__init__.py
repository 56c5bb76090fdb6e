"""The pure pricing core: rule files, matching, outcome state, aggregation and pricing.

No database, no HTTP, no clock: time is always a parameter.
"""
