"""Webhook deliveries signed with `standardwebhooks` as a vendor's sender would sign them."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from metering.catalog.vendors import service
from metering.catalog.vendors.auth import verify_webhook
from metering.catalog.vendors.models import SigningSecret, Vendor
from metering.catalog.vendors.service import NewVendor
from metering.platform.api.problems import ProblemError
from metering.platform.settings import Settings
from tests.metering.platform.api.support import as_json, make_vendor, minutes_ago, signed_headers

BODY = as_json({"events": [{"id": "evt_1", "type": "conversation.resolved"}]})
SETTINGS = Settings(database_url="sqlite://")


def _verify(engine: Engine, vendor_id: str, headers: dict[str, str], body: str = BODY) -> Vendor:
    with Session(engine) as session:
        return verify_webhook(session, vendor_id, body.encode(), headers, settings=SETTINGS)


def _refused(
    engine: Engine, vendor_id: str, headers: dict[str, str], body: str = BODY
) -> ProblemError:
    with pytest.raises(ProblemError) as refused:
        _verify(engine, vendor_id, headers, body)
    return refused.value


@pytest.fixture
def vendor(engine: Engine) -> NewVendor:
    return make_vendor(engine)


def test_a_delivery_signed_with_the_current_secret_is_accepted(
    engine: Engine, vendor: NewVendor
) -> None:
    headers = signed_headers(vendor.signing_secret, BODY)
    assert _verify(engine, vendor.vendor.id, headers).id == vendor.vendor.id


def test_a_delivery_signed_one_minute_ago_is_accepted(engine: Engine, vendor: NewVendor) -> None:
    headers = signed_headers(vendor.signing_secret, BODY, sent_at=minutes_ago(1))
    assert _verify(engine, vendor.vendor.id, headers).id == vendor.vendor.id


def test_unknown_vendor_is_a_404(engine: Engine, vendor: NewVendor) -> None:
    problem = _refused(engine, "ven_nobody", signed_headers(vendor.signing_secret, BODY))
    assert (problem.status, problem.detail) == (404, "No vendor 'ven_nobody'.")


def test_missing_headers_are_named(engine: Engine, vendor: NewVendor) -> None:
    headers = signed_headers(vendor.signing_secret, BODY)
    del headers["webhook-signature"], headers["webhook-timestamp"]
    problem = _refused(engine, vendor.vendor.id, headers)
    assert problem.status == 401
    assert problem.type == "/problems/missing-signature"
    assert problem.detail == (
        "Missing webhook header(s): webhook-timestamp, webhook-signature. "
        "Sign the request with the Standard Webhooks scheme."
    )


def test_stale_timestamp_is_refused_as_a_replay(engine: Engine, vendor: NewVendor) -> None:
    headers = signed_headers(vendor.signing_secret, BODY, sent_at=minutes_ago(6))
    problem = _refused(engine, vendor.vendor.id, headers)
    assert problem.status == 401
    assert problem.type == "/problems/stale-webhook-timestamp"
    assert problem.detail.startswith("webhook-timestamp is 36")
    assert problem.detail.endswith(
        "seconds old; the tolerance is 300 seconds. "
        "Sign each delivery when sending it (replays are refused)."
    )


def test_future_timestamp_is_refused(engine: Engine, vendor: NewVendor) -> None:
    headers = signed_headers(vendor.signing_secret, BODY, sent_at=minutes_ago(-6))
    problem = _refused(engine, vendor.vendor.id, headers)
    assert problem.type == "/problems/future-webhook-timestamp"
    assert "seconds in the future; the tolerance is 300 seconds." in problem.detail


def test_non_numeric_timestamp_is_refused(engine: Engine, vendor: NewVendor) -> None:
    headers = signed_headers(vendor.signing_secret, BODY)
    headers["webhook-timestamp"] = "yesterday"
    problem = _refused(engine, vendor.vendor.id, headers)
    assert problem.detail == "webhook-timestamp 'yesterday' is not a Unix timestamp in seconds."


def test_signature_with_another_secret_is_refused(engine: Engine, vendor: NewVendor) -> None:
    other = make_vendor(engine, "Other")
    problem = _refused(engine, vendor.vendor.id, signed_headers(other.signing_secret, BODY))
    assert problem.status == 401
    assert problem.type == "/problems/invalid-signature"
    assert problem.detail.startswith("webhook-signature matches none of the vendor's")


def test_body_changed_after_signing_is_refused(engine: Engine, vendor: NewVendor) -> None:
    headers = signed_headers(vendor.signing_secret, BODY)
    problem = _refused(engine, vendor.vendor.id, headers, BODY.replace("evt_1", "evt_2"))
    assert problem.type == "/problems/invalid-signature"


def test_malformed_signature_header_is_refused(engine: Engine, vendor: NewVendor) -> None:
    headers = signed_headers(vendor.signing_secret, BODY)
    headers["webhook-signature"] = "not-a-signature"
    problem = _refused(engine, vendor.vendor.id, headers)
    assert problem.status == 401
    assert problem.type == "/problems/invalid-signature-headers"


def test_tolerance_comes_from_the_settings(engine: Engine, vendor: NewVendor) -> None:
    headers = signed_headers(vendor.signing_secret, BODY, sent_at=minutes_ago(2))
    strict = Settings(database_url="sqlite://", webhook_tolerance=timedelta(minutes=1))
    with Session(engine) as session, pytest.raises(ProblemError) as refused:
        verify_webhook(session, vendor.vendor.id, BODY.encode(), headers, settings=strict)
    assert "the tolerance is 60 seconds" in refused.value.detail


def test_old_secret_works_during_the_grace_period_then_stops(
    engine: Engine, vendor: NewVendor
) -> None:
    with Session(engine, expire_on_commit=False) as session:
        rotation = service.rotate_signing_secret(session, vendor.vendor, timedelta(hours=24))
        session.commit()
    new_secret = rotation.secret.secret
    assert new_secret != vendor.signing_secret
    for secret in (new_secret, vendor.signing_secret):
        assert _verify(engine, vendor.vendor.id, signed_headers(secret, BODY)).id

    with Session(engine) as session:  # the grace period ends
        old = session.exec(
            select(SigningSecret).where(SigningSecret.secret == vendor.signing_secret)
        ).one()
        old.expires_at = minutes_ago(1)
        session.add(old)
        session.commit()
    problem = _refused(engine, vendor.vendor.id, signed_headers(vendor.signing_secret, BODY))
    assert problem.type == "/problems/invalid-signature"
    assert _verify(engine, vendor.vendor.id, signed_headers(new_secret, BODY)).id


def test_rotating_twice_keeps_only_secrets_still_in_grace(
    engine: Engine, vendor: NewVendor
) -> None:
    with Session(engine, expire_on_commit=False) as session:
        first = service.rotate_signing_secret(
            session, vendor.vendor, timedelta(hours=24), now=minutes_ago(60 * 25)
        )
        second = service.rotate_signing_secret(session, vendor.vendor, timedelta(hours=24))
        session.commit()
    assert _refused(engine, vendor.vendor.id, signed_headers(vendor.signing_secret, BODY)).type == (
        "/problems/invalid-signature"
    )
    for secret in (first.secret.secret, second.secret.secret):
        assert _verify(engine, vendor.vendor.id, signed_headers(secret, BODY)).id
