"""API shapes of the calling vendor and its credentials."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class VendorOut(BaseModel):
    id: str
    name: str
    created_at: datetime
    webhook_path: str = Field(description="Where this vendor's signed events are posted.")


class ApiKeyCreated(BaseModel):
    """A new API key; `key` is shown here once and never again."""

    id: str
    prefix: str
    key: str
    created_at: datetime


class SigningSecretRotated(BaseModel):
    """The new signing secret (shown once) and until when the previous one still works."""

    secret: str
    previous_secret_expires_at: datetime | None
