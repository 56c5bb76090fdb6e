"""Vendor pages in a browser: a login with the vendor's API key, then server-rendered reports."""
