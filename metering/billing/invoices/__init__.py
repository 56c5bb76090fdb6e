"""Invoices: closing billing periods, rating them from outcome rows, corrections."""
