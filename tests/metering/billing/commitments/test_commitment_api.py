"""`GET /v1/customers/{id}/commitment`: used, remaining, projected and term end (both DBs)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from metering.platform.db.types import utcnow
from tests.metering.billing.commitments.helpers import RULES, reopened, resolved
from tests.metering.billing.invoices.helpers import send
from tests.metering.conftest import SUPPORT_RULES, VendorFixture, create_customer, create_plan
from tests.metering.platform.api.support import bearer


def months_before(instant: datetime, months: int) -> datetime:
    index = instant.year * 12 + instant.month - 1 - months
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def test_consumption_against_the_commitment(
    engine: Engine, vendor: VendorFixture, app_client: TestClient
) -> None:
    now = utcnow()
    start = months_before(now, 2)
    plan = create_plan(engine, vendor.id, RULES)
    customer = create_customer(engine, vendor.id, "acme", plan, starts_at=start)
    earlier = now - timedelta(days=3)
    send(engine, vendor.id, [resolved(f"r{i}", earlier) for i in range(4)], earlier)
    send(engine, vendor.id, [reopened("o1", "r1", earlier)], earlier)
    # Not settled yet (24h): not used.
    send(engine, vendor.id, [resolved("fresh", now - timedelta(minutes=1))], now)

    answer = app_client.get(f"/v1/customers/{customer}/commitment", headers=bearer(vendor.api_key))

    assert answer.status_code == 200, answer.text
    body = answer.json()
    as_of = datetime.fromisoformat(body["as_of"].replace("Z", "+00:00"))
    term_end = months_before(start, -12)
    share = Decimal((term_end - start).total_seconds()) / Decimal((as_of - start).total_seconds())
    assert body == {
        "customer_id": customer,
        "form": "units",
        "outcome": "resolved_conversation",
        "committed": "12",
        "used": "3",
        "remaining": "9",
        "projected": str((3 * share).quantize(Decimal(1), ROUND_HALF_UP)),
        "price": "0.50",
        "term_start": start.isoformat().replace("+00:00", "Z"),
        "term_end": term_end.isoformat().replace("+00:00", "Z"),
        "as_of": body["as_of"],
    }


def test_no_commitment_and_unknown_customer_are_404(
    engine: Engine, vendor: VendorFixture, app_client: TestClient
) -> None:
    plan = create_plan(engine, vendor.id, SUPPORT_RULES)
    customer = create_customer(engine, vendor.id, "acme", plan)
    headers = bearer(vendor.api_key)

    plain = app_client.get(f"/v1/customers/{customer}/commitment", headers=headers)
    unknown = app_client.get("/v1/customers/cus_nope/commitment", headers=headers)

    assert plain.status_code == 404
    assert plain.json()["type"] == "/problems/no-commitment"
    assert unknown.status_code == 404
    assert unknown.json()["detail"] == "No customer 'cus_nope'."
