"""`/portal/invoices`: the customer's invoices and each one's lines."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/portal/invoices", include_in_schema=False)
