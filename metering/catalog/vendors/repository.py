"""Queries of vendors, API keys and signing secrets."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel import Session, col, or_, select

from metering.catalog.vendors.models import ApiKey, SigningSecret, Vendor


def get_vendor(session: Session, vendor_id: str) -> Vendor | None:
    return session.get(Vendor, vendor_id)


def vendors_named(session: Session, name: str) -> Sequence[Vendor]:
    return session.exec(select(Vendor).where(Vendor.name == name).order_by(col(Vendor.id))).all()


def vendor_by_key_hash(session: Session, key_hash: str) -> Vendor | None:
    statement = (
        select(Vendor)
        .join(ApiKey, col(ApiKey.vendor_id) == col(Vendor.id))
        .where(ApiKey.hash == key_hash, col(ApiKey.revoked_at).is_(None))
    )
    return session.exec(statement).first()


def valid_secrets(session: Session, vendor_id: str, now: datetime) -> Sequence[SigningSecret]:
    """The current secret first, then old ones still in their grace period."""
    statement = (
        select(SigningSecret)
        .where(
            SigningSecret.vendor_id == vendor_id,
            or_(col(SigningSecret.expires_at).is_(None), col(SigningSecret.expires_at) > now),
        )
        .order_by(col(SigningSecret.expires_at).is_not(None), col(SigningSecret.id).desc())
    )
    return session.exec(statement).all()


def current_secret(session: Session, vendor_id: str) -> SigningSecret | None:
    statement = select(SigningSecret).where(
        SigningSecret.vendor_id == vendor_id, col(SigningSecret.expires_at).is_(None)
    )
    return session.exec(statement).first()
