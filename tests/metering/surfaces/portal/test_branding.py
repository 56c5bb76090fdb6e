"""The vendor's portal name and colour: API, defaults from settings, readable contrast."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from metering.platform.settings import Settings
from metering.surfaces.app import create_app
from metering.surfaces.portal.branding import contrast, darkened_for_white, parse_color, text_on
from tests.metering.conftest import VendorFixture, create_customer
from tests.metering.platform.api.support import bearer
from tests.metering.surfaces.portal.helpers import sign_in


def test_text_on_the_brand_colour_stays_readable() -> None:
    assert text_on("#4f46e5") == "#ffffff"
    assert text_on("#fde047") == "#111827"  # yellow: dark text
    for color in ("#4f46e5", "#fde047", "#22c55e", "#000000", "#ffffff", "#7dd3fc"):
        assert contrast(color, text_on(color)) >= 4.5
        assert contrast(darkened_for_white(color), "#ffffff") >= 4.5
    assert darkened_for_white("#1e3a8a") == "#1e3a8a"  # already dark enough: unchanged
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0


def test_colours_are_validated() -> None:
    assert parse_color("#4F46E5") == "#4f46e5"
    assert parse_color("#abc") == "#aabbcc"
    for bad in ("4f46e5", "#4f46e", "red", "#ggghhh"):
        with pytest.raises(ValueError, match="is not a hex colour"):
            parse_color(bad)


def test_vendor_sets_its_portal_name_and_colour(
    app_client: TestClient, engine: Engine, vendor: VendorFixture, plan_id: str
) -> None:
    headers = bearer(vendor.api_key)
    shown = app_client.get("/v1/vendor/portal", headers=headers).json()
    assert shown == {
        "portal_name": None,
        "portal_color": None,
        "shown_name": "Acme AI",
        "shown_color": "#4f46e5",
        "text_color": "#ffffff",
        "customer_spend_limits": False,
    }
    changed = app_client.patch(
        "/v1/vendor/portal",
        json={"portal_name": "Acme Support", "portal_color": "#FDE047"},
        headers=headers,
    )
    assert changed.status_code == 200
    assert changed.json()["shown_color"] == "#fde047"
    assert changed.json()["text_color"] == "#111827"
    yellow = {"portal_color": "yellow"}
    refused = app_client.patch("/v1/vendor/portal", json=yellow, headers=headers)
    assert refused.status_code == 422 and "is not a hex colour" in refused.json()["detail"]

    customer = create_customer(engine, vendor.id, "acme", plan_id)
    sign_in(app_client, vendor.api_key, customer)
    page = app_client.get("/portal").text
    assert "--brand: #fde047; --on-brand: #111827;" in page
    assert "<title>Overview · Acme Support</title>" in page
    link = page.split("--link: ", 1)[1].split(";", 1)[0]
    assert contrast(link, "#ffffff") >= 4.5

    back = app_client.patch("/v1/vendor/portal", json={"portal_name": None}, headers=headers)
    assert back.json()["shown_name"] == "Acme AI"


def test_defaults_come_from_settings(
    engine: Engine, database_url: str, vendor: VendorFixture, plan_id: str
) -> None:
    settings = Settings(
        database_url=database_url,
        portal_vendor_name="Acme Billing",
        portal_brand_color="#0f766e",
    )
    customer = create_customer(engine, vendor.id, "acme", plan_id)
    with TestClient(create_app(settings)) as client:
        sign_in(client, vendor.api_key, customer)
        page = client.get("/portal").text
    assert "--brand: #0f766e;" in page and "Acme Billing" in page


def test_customer_locale_through_the_api(app_client: TestClient, vendor: VendorFixture) -> None:
    headers = bearer(vendor.api_key)
    made = app_client.post(
        "/v1/customers", json={"external_id": "acme", "locale": "fr-fr"}, headers=headers
    )
    assert made.status_code == 201 and made.json()["locale"] == "fr_FR"
    plain = app_client.post("/v1/customers", json={"external_id": "globex"}, headers=headers)
    assert plain.json()["locale"] == "en_US"
    bad = app_client.patch(
        f"/v1/customers/{plain.json()['id']}", json={"locale": "xx_YY"}, headers=headers
    )
    assert bad.status_code == 422 and "is not a known locale" in bad.json()["detail"]
    null = app_client.patch(
        f"/v1/customers/{plain.json()['id']}", json={"locale": None}, headers=headers
    )
    assert null.status_code == 422 and "locale: cannot be null" in null.json()["detail"]
