"""API shapes of portal sessions and of the vendor's portal branding."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

from metering.surfaces.portal.branding import parse_color

HexColor = Annotated[str, AfterValidator(parse_color)]
ReturnUrl = Annotated[
    str, StringConstraints(pattern=r"^https?://[^\s]+$", max_length=2000, strip_whitespace=True)
]


class PortalSessionCreate(BaseModel):
    """A sign-in link to the billing portal for one of your customers."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"customer": "cus_01jd3k2m8n4p6q8r0s2t4v6w8y", "return_url": "https://app.test"}
            ]
        },
    )

    customer: str = Field(description="Our customer id (cus_...).", min_length=1, max_length=40)
    return_url: ReturnUrl | None = Field(
        default=None, description="Shown in the portal as 'Back to <your name>'."
    )


class PortalSessionOut(BaseModel):
    """The link to hand to the customer: it opens once, within 15 minutes."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "url": "https://billing.example.com/portal/session/-q3alGZprqmbhJYskQwcWdQe-L7gXxUJ4au87A6Eekk",
                    "expires_at": "2026-11-28T14:18:00Z",
                }
            ]
        }
    )

    url: str
    expires_at: datetime


class PortalBrandingUpdate(BaseModel):
    """Your name and colour in the portal; null goes back to the service's defaults. Whether
    your customers may set their own spend limit there (off unless you turn it on)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "portal_name": "Acme AI",
                    "portal_color": "#0f766e",
                    "customer_spend_limits": True,
                }
            ]
        },
    )

    portal_name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    portal_color: HexColor | None = Field(default=None, description="A hex colour, #rrggbb.")
    customer_spend_limits: bool | None = Field(
        default=None,
        description="true: customers set, change or remove their own spend limit in the "
        "portal (never above the plan's maximum); null or false: only you set it.",
    )


class PortalBrandingOut(BaseModel):
    """What is set, and what the portal shows (defaults filled in, text colour chosen)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "portal_name": "Acme AI",
                    "portal_color": "#0f766e",
                    "shown_name": "Acme AI",
                    "shown_color": "#0f766e",
                    "text_color": "#ffffff",
                    "customer_spend_limits": False,
                }
            ]
        }
    )

    portal_name: str | None
    portal_color: str | None
    shown_name: str
    shown_color: str
    text_color: str = Field(description="White or near-black, whichever reads on the colour.")
    customer_spend_limits: bool = Field(
        description="Whether customers may set their own spend limit in the portal."
    )
