"""API keys (hashed, shown once) and the vendor's own endpoints."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from metering.catalog.vendors.models import ApiKey, SigningSecret
from metering.platform.db.types import utcnow
from tests.metering.platform.api.support import bearer, make_vendor


def test_the_calling_vendor(app_client: Any, engine: Engine) -> None:
    vendor = make_vendor(engine, "Acme AI")
    body = app_client.get("/v1/vendor", headers=bearer(vendor.api_key)).json()
    assert body["id"] == vendor.vendor.id
    assert body["name"] == "Acme AI"
    assert body["webhook_path"] == f"/v1/webhooks/{vendor.vendor.id}/events"


def test_only_the_hash_and_a_short_prefix_of_a_key_are_stored(engine: Engine) -> None:
    vendor = make_vendor(engine)
    assert vendor.api_key.startswith("mk_live_")
    with Session(engine) as session:
        stored = session.exec(select(ApiKey)).one()
    assert stored.hash == hashlib.sha256(vendor.api_key.encode()).hexdigest()
    assert stored.prefix == vendor.api_key[:14]
    assert len(vendor.api_key) > 40


def test_missing_authorization_is_a_401_with_a_challenge(app_client: Any) -> None:
    response = app_client.get("/v1/customers")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "Send your API key as 'Authorization: Bearer <key>'."


def test_wrong_scheme_and_unknown_key_are_401(app_client: Any, engine: Engine) -> None:
    vendor = make_vendor(engine)
    basic = app_client.get("/v1/vendor", headers={"Authorization": f"Basic {vendor.api_key}"})
    assert basic.json()["detail"] == "The Authorization header must be 'Bearer <key>'."
    unknown = app_client.get("/v1/vendor", headers=bearer(vendor.api_key + "x"))
    assert unknown.status_code == 401
    assert unknown.json()["detail"] == "The API key is not valid (unknown or revoked)."


def test_revoked_key_is_refused(app_client: Any, engine: Engine) -> None:
    vendor = make_vendor(engine)
    with Session(engine) as session:
        key = session.exec(select(ApiKey)).one()
        key.revoked_at = utcnow()
        session.add(key)
        session.commit()
    assert app_client.get("/v1/vendor", headers=bearer(vendor.api_key)).status_code == 401


def test_a_new_api_key_is_shown_once_and_works(app_client: Any, engine: Engine) -> None:
    vendor = make_vendor(engine)
    created = app_client.post("/v1/vendor/api_keys", headers=bearer(vendor.api_key))
    assert created.status_code == 201
    key = created.json()["key"]
    assert created.json()["prefix"] == key[:14]
    assert app_client.get("/v1/vendor", headers=bearer(key)).json()["id"] == vendor.vendor.id
    assert app_client.get("/v1/vendor", headers=bearer(vendor.api_key)).status_code == 200


def test_rotation_returns_the_new_secret_and_the_old_ones_grace(
    app_client: Any, engine: Engine
) -> None:
    vendor = make_vendor(engine)
    response = app_client.post("/v1/vendor/signing_secrets/rotate", headers=bearer(vendor.api_key))
    assert response.status_code == 200
    body = response.json()
    assert body["secret"].startswith("whsec_")
    assert body["secret"] != vendor.signing_secret
    with Session(engine) as session:
        rows = session.exec(select(SigningSecret).order_by(col(SigningSecret.created_at))).all()
    old, new = rows
    assert (old.secret, new.secret) == (vendor.signing_secret, body["secret"])
    assert new.expires_at is None
    assert old.expires_at is not None
    assert old.expires_at - new.created_at == timedelta(hours=24)
    assert body["previous_secret_expires_at"] == old.expires_at.isoformat().replace("+00:00", "Z")


def test_rotation_needs_an_api_key(app_client: Any) -> None:
    assert app_client.post("/v1/vendor/signing_secrets/rotate").status_code == 401
