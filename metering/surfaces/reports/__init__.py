"""Vendor reports: margin per outcome (price earned against the AI cost spent on it)."""
