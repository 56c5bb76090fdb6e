"""API shapes of the calling vendor and its credentials."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

VENDOR_ID = "ven_01m8y51gwpanchj0nm1y7yy87y"


class VendorOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": VENDOR_ID,
                    "name": "Acme AI",
                    "created_at": "2026-11-02T09:12:00Z",
                    "webhook_path": f"/v1/webhooks/{VENDOR_ID}/events",
                }
            ]
        }
    )

    id: str
    name: str
    created_at: datetime
    webhook_path: str = Field(description="Where this vendor's signed events are posted.")


class ApiKeyCreated(BaseModel):
    """A new API key; `key` is shown here once and never again."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "key_01m8y51hdqt6aay2gx5x0hqdp4",
                    "prefix": "mk_live_zDL5Pm",
                    "key": "mk_live_zDL5PmUQ4jHNYIjQ8Urov7Cr1rR89MqydObkmzGC4bs",
                    "created_at": "2026-11-02T09:12:00Z",
                }
            ]
        }
    )

    id: str
    prefix: str
    key: str
    created_at: datetime


class SigningSecretRotated(BaseModel):
    """The new signing secret (shown once) and until when the previous one still works."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "secret": "whsec_SDijufIEMRxlWDQD4kZIYbE95MQr7G0hulSYazxVZ6E=",
                    "previous_secret_expires_at": "2026-11-03T09:12:00Z",
                }
            ]
        }
    )

    secret: str
    previous_secret_expires_at: datetime | None
