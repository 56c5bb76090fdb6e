"""Vendors and their credentials: creation, new API keys, signing-secret rotation.

Functions add and flush; the caller commits, so a request or CLI command is one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session

from metering.catalog.vendors import repository
from metering.catalog.vendors.credentials import (
    display_prefix,
    hash_api_key,
    new_api_key,
    new_signing_secret,
)
from metering.catalog.vendors.models import ApiKey, SigningSecret, Vendor
from metering.platform.db.ids import new_id
from metering.platform.db.types import utcnow


@dataclass(frozen=True)
class IssuedKey:
    record: ApiKey
    key: str


@dataclass(frozen=True)
class NewVendor:
    """A created vendor with the only copy of its first API key in clear."""

    vendor: Vendor
    api_key: str
    signing_secret: str
    api_key_id: str
    signing_secret_id: str


def issue_api_key(session: Session, vendor: Vendor) -> IssuedKey:
    key = new_api_key()
    record = ApiKey(
        id=new_id("key"), vendor_id=vendor.id, prefix=display_prefix(key), hash=hash_api_key(key)
    )
    session.add(record)
    session.flush()
    return IssuedKey(record=record, key=key)


def create_vendor(session: Session, name: str) -> NewVendor:
    vendor = Vendor(id=new_id("ven"), name=name)
    session.add(vendor)
    session.flush()
    secret = SigningSecret(id=new_id("whs"), vendor_id=vendor.id, secret=new_signing_secret())
    session.add(secret)
    issued = issue_api_key(session, vendor)
    return NewVendor(
        vendor=vendor,
        api_key=issued.key,
        signing_secret=secret.secret,
        api_key_id=issued.record.id,
        signing_secret_id=secret.id,
    )


@dataclass(frozen=True)
class Rotation:
    secret: SigningSecret
    previous_expires_at: datetime | None


def rotate_signing_secret(
    session: Session, vendor: Vendor, grace: timedelta, now: datetime | None = None
) -> Rotation:
    """Make a new current secret; the old one keeps verifying until `now + grace`."""
    now = now or utcnow()
    previous = repository.current_secret(session, vendor.id)
    expires_at = None
    if previous is not None:
        expires_at = now + grace
        previous.expires_at = expires_at
        session.add(previous)
        session.flush()
    secret = SigningSecret(
        id=new_id("whs"), vendor_id=vendor.id, secret=new_signing_secret(), created_at=now
    )
    session.add(secret)
    session.flush()
    return Rotation(secret=secret, previous_expires_at=expires_at)


class VendorNotFound(LookupError):
    pass


def find_vendor(session: Session, ref: str) -> Vendor:
    """The vendor with id `ref`, or the only one named `ref` (for the CLI)."""
    vendor = repository.get_vendor(session, ref)
    if vendor is not None:
        return vendor
    named = repository.vendors_named(session, ref)
    if len(named) == 1:
        return named[0]
    if not named:
        raise VendorNotFound(f"no vendor with id or name '{ref}'")
    ids = ", ".join(vendor.id for vendor in named)
    raise VendorNotFound(f"several vendors are named '{ref}' ({ids}); pass the id")
