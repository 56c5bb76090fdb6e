"""`/v1/vendor`: the calling vendor, new API keys and signing-secret rotation."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlmodel import Session

from metering.catalog.vendors import service
from metering.catalog.vendors.auth import API_KEY_PROBLEMS, current_vendor
from metering.catalog.vendors.models import Vendor
from metering.catalog.vendors.schemas import ApiKeyCreated, SigningSecretRotated, VendorOut
from metering.platform.api.deps import app_settings
from metering.platform.api.problem_docs import problem_responses
from metering.platform.db.session import get_session
from metering.platform.settings import Settings

router = APIRouter(
    prefix="/v1/vendor", tags=["vendor"], responses=problem_responses(*API_KEY_PROBLEMS)
)


@router.get("", response_model=VendorOut, summary="The calling vendor")
def get_vendor(vendor: Vendor = Depends(current_vendor)) -> VendorOut:
    return VendorOut(
        id=vendor.id,
        name=vendor.name,
        created_at=vendor.created_at,
        webhook_path=f"/v1/webhooks/{vendor.id}/events",
    )


@router.post(
    "/api_keys", response_model=ApiKeyCreated, status_code=201, summary="Create an API key"
)
def create_api_key(
    vendor: Vendor = Depends(current_vendor), session: Session = Depends(get_session)
) -> ApiKeyCreated:
    """The key is in this response only; store it now (we keep only its hash)."""
    issued = service.issue_api_key(session, vendor)
    session.commit()
    return ApiKeyCreated(
        id=issued.record.id,
        prefix=issued.record.prefix,
        key=issued.key,
        created_at=issued.record.created_at,
    )


@router.post(
    "/signing_secrets/rotate",
    response_model=SigningSecretRotated,
    summary="Rotate the webhook signing secret",
)
def rotate_signing_secret(
    vendor: Vendor = Depends(current_vendor),
    session: Session = Depends(get_session),
    settings: Settings = Depends(app_settings),
) -> SigningSecretRotated:
    """The new secret is shown once; the previous one is still accepted until
    `previous_secret_expires_at` (the grace period), so senders can switch without loss."""
    rotation = service.rotate_signing_secret(session, vendor, settings.secret_grace_period)
    session.commit()
    return SigningSecretRotated(
        secret=rotation.secret.secret, previous_secret_expires_at=rotation.previous_expires_at
    )
