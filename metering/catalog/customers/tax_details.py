"""A customer's billing address and tax ids, as the API takes them: where a tax provider
(Stripe Tax) computes tax, and the ids printed on its invoices. Checked here so a bad value is
a 422 naming the field, never a failed sync later."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from babel import Locale
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

# ISO 3166-1 alpha-2 country codes (babel's territories, without the numeric regions).
COUNTRIES = frozenset(
    str(code) for code in Locale("en").territories if re.fullmatch("[A-Z]{2}", str(code))
)

# EU VAT number prefixes (Greece is EL; XI is Northern Ireland).
EU_VAT_PREFIXES = frozenset(
    re.findall(
        "[A-Z]{2}",
        "AT BE BG CY CZ DE DK EE EL ES FI FR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK XI",
    )
)

# The tax id types taken, each with the shape Stripe documents for it (spaces removed).
TAX_ID_PATTERNS: dict[str, str] = {
    "eu_vat": r"[A-Z]{2}[0-9A-Z]{2,13}",
    "gb_vat": r"GB(?:[0-9]{9}|[0-9]{12})",
    "ch_vat": r"CHE-?[0-9]{3}\.?[0-9]{3}\.?[0-9]{3}(?:MWST|TVA|IVA)",
    "no_vat": r"[0-9]{9}MVA",
    "us_ein": r"[0-9]{2}-?[0-9]{7}",
    "ca_bn": r"[0-9]{9}",
    "au_abn": r"[0-9]{11}",
    "nz_gst": r"[0-9]{8,9}",
}
TaxIdType = Literal["eu_vat", "gb_vat", "ch_vat", "no_vat", "us_ein", "ca_bn", "au_abn", "nz_gst"]

Text = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]


class Address(BaseModel):
    """The customer's billing address; `country` (ISO 3166-1 alpha-2) decides its tax."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "line1": "Unter den Linden 1",
                    "city": "Berlin",
                    "postal_code": "10117",
                    "country": "DE",
                }
            ]
        },
    )

    line1: Text | None = None
    line2: Text | None = None
    city: Text | None = None
    postal_code: Annotated[str, StringConstraints(max_length=20, strip_whitespace=True)] | None = (
        None
    )
    state: Text | None = None
    country: str = Field(description="ISO 3166-1 alpha-2, such as DE or US.")

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        code = value.strip().upper()
        if code not in COUNTRIES:
            raise ValueError(f"'{value}' is not an ISO 3166-1 alpha-2 country code (DE, US...)")
        return code


class TaxId(BaseModel):
    """One of the customer's tax ids: its type and value in the shape that type has."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"type": "eu_vat", "value": "DE123456789"}]}
    )

    type: TaxIdType
    value: Annotated[str, StringConstraints(min_length=1, max_length=40)]

    @model_validator(mode="after")
    def _shape(self) -> TaxId:
        value = re.sub(r"\s", "", self.value).upper()
        if not re.fullmatch(TAX_ID_PATTERNS[self.type], value):
            raise ValueError(f"'{self.value}' is not a valid {self.type} number")
        if self.type == "eu_vat" and value[:2] not in EU_VAT_PREFIXES:
            raise ValueError(
                f"'{self.value}' does not start with an EU country prefix (DE, FR, EL...)"
            )
        self.value = value
        return self


TaxIds = Annotated[list[TaxId], Field(max_length=5)]
