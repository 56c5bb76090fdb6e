"""Helpers shared by the event-log tests."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlmodel import Session

from metering.catalog.vendors.models import Vendor


def set_eventlog(engine: Engine, vendor_id: str, eventlog: bool = True) -> None:
    """Turn the event log on (or off) for a vendor, as its row says."""
    with Session(engine) as session:
        vendor = session.get(Vendor, vendor_id)
        assert vendor is not None
        vendor.eventlog = eventlog
        session.add(vendor)
        session.commit()
