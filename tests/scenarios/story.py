"""What the end-to-end stories share: the two months they run through, and the vendor's
side of the conversation with the real app (signed webhook batches, authorised API calls)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from metering.notify.webhooks.delivery import deliver_due
from metering.platform.settings import Settings
from pricing_rules.periods import Period, period_containing
from tests.metering.conftest import VendorFixture
from tests.metering.platform.api.support import signed_headers


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Months:
    """Month A (last month), month B (this one), and the instants their closes run at."""

    a: Period
    b: Period
    now: datetime
    close_after: timedelta

    @classmethod
    def around(cls, now: datetime, close_after: timedelta) -> Months:
        b = period_containing(now, "month", "UTC")
        a = period_containing(b.start - timedelta(seconds=1), "month", "UTC")
        return cls(a, b, now.replace(microsecond=0), close_after)

    @property
    def close_a(self) -> datetime:
        return self.a.end + self.close_after + timedelta(minutes=30)

    @property
    def close_b(self) -> datetime:
        return self.b.end + self.close_after + timedelta(minutes=30)

    @staticmethod
    def after_api_calls(at: datetime) -> datetime:
        """`at`, or a moment from now once it has passed: what the API does (a payment
        recorded) makes work due on the real clock, which a job run at `at` must follow."""
        return max(at, datetime.now(UTC) + timedelta(seconds=1))

    def in_a(self, days: int) -> datetime:
        return self.a.start + timedelta(days=days)

    def in_b(self, seconds: int) -> datetime:
        """Seconds into B, but never after now (B may have begun a moment ago)."""
        return max(self.b.start, min(self.b.start + timedelta(seconds=seconds), self.now))

    def just_now(self) -> datetime:
        """A minute ago, in B: inside its settle window whatever today's date."""
        return max(self.b.start, self.now - timedelta(minutes=1))


@dataclass
class VendorSide:
    """The vendor's side: its keys and an HTTP client on the real app."""

    http: TestClient
    keys: VendorFixture
    batches: int = 0

    def send(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        """POST a batch to the signed webhook, as the vendor's sender does."""
        self.batches += 1
        body = json.dumps({"events": events})
        headers = signed_headers(self.keys.signing_secret, body, msg_id=f"msg_{self.batches}")
        response = self.http.post(
            f"/v1/webhooks/{self.keys.id}/events", content=body, headers=headers
        )
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        assert result["rejected"] == []
        return result

    def call(self, method: str, path: str, expect: int = 200, **options: Any) -> Any:
        headers = {"Authorization": f"Bearer {self.keys.api_key}", **options.pop("headers", {})}
        response = self.http.request(method, path, headers=headers, **options)
        assert response.status_code == expect, response.text
        return response.json()

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def invoices(self, customer_id: str) -> list[dict[str, Any]]:
        """The customer's invoices with their lines, oldest first."""
        listed = self.get(f"/v1/invoices?customer={customer_id}")["data"]
        return [self.get(f"/v1/invoices/{invoice['id']}") for invoice in listed]

    def line_events(self, invoice: dict[str, Any], line: dict[str, Any]) -> dict[str, str]:
        """The events behind a line, with the state of their outcome now."""
        page = self.get(f"/v1/invoices/{invoice['id']}/lines/{line['id']}/outcomes")
        return {row["event_id"]: row["state"] for row in page["data"]}


def deliver(engine: Engine, settings: Settings) -> None:
    """The `deliver_webhooks` job once: every due delivery, sent now (the receiver answers
    before `deliver_due` returns, so nothing needs waiting for)."""
    report = deliver_due(engine, settings, owner="scenario", rng=random.Random(1))
    assert (report.retrying, report.failed) == (0, 0)
