"""Send due deliveries: claim under a lease, POST outside any transaction, record the attempt.

Safe with several workers: a claim takes due rows with `FOR UPDATE SKIP LOCKED` on
PostgreSQL (SQLite has one writer at a time) and moves their due time ahead by the lease,
so no other worker sends them meanwhile; a worker that dies mid-send leaves them due again
once the lease has passed. The HTTP call holds no transaction, and each answer is written
in a short one of its own. A 2xx is delivered; anything else is retried with exponential
backoff and jitter until the delivery's `give_up_at`, with one last attempt there.

Each POST goes only where `destinations` allows, checked again after DNS, to the address
that was checked; redirects are not followed (a 3xx is a failed attempt naming where it
pointed). A destination refused by that check fails the delivery at once, without retries:
waiting does not change it. The vendor points the endpoint elsewhere (or the operator allows
the host) and retries the delivery by hand.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select
from standardwebhooks import Webhook

from metering.notify.webhooks.destinations import AllowedHosts, DestinationRefused, destination
from metering.platform.db.types import utcnow
from metering.platform.monitoring import metrics
from metering.platform.outbox.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from metering.platform.settings import Settings

USER_AGENT = "outcome-metering-webhooks/1"
PARALLEL_SENDS = 8
ERROR_TEXT_LIMIT = 500


@dataclass(frozen=True)
class Claimed:
    """What one send needs, read while the delivery was claimed."""

    delivery_id: str
    event_id: str
    url: str
    payload: str
    secrets: tuple[str, ...]


@dataclass(frozen=True)
class Answer:
    """How one POST went: a status code, or the error when there was no answer."""

    status_code: int | None
    error: str | None
    duration_ms: int
    refused: bool = False
    """The destination failed the address check: not retried."""

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    results: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.delivered} delivered, {self.retrying} to retry, {self.failed} given up"


def backoff(
    attempts: int, base: timedelta, cap: timedelta, rng: random.Random | None = None
) -> timedelta:
    """The wait after the `attempts`-th failure: base doubling each time, capped, +-20 %.

    With a 30 s base and a 1 h cap the waits are 30 s, 1 min, 2 min, ... 1 h, 1 h, ...
    about thirty attempts in a day; the jitter keeps a receiver that comes back from being
    hit by every delayed delivery in the same second.
    """
    exponent = min(attempts - 1, 32)
    delay: timedelta = min(base * (2**exponent), cap)
    factor = (rng or random).uniform(0.8, 1.2)
    return delay * factor


def signing_secrets(endpoint: WebhookEndpoint, now: datetime) -> tuple[str, ...]:
    """The current secret, and the previous one while its rotation grace lasts."""
    until = endpoint.previous_secret_until
    if endpoint.previous_secret and until is not None and until > now:
        return (endpoint.secret, endpoint.previous_secret)
    return (endpoint.secret,)


def claim_due(
    engine: Engine, owner: str, now: datetime, lease: timedelta, limit: int
) -> list[Claimed]:
    """Lease up to `limit` due deliveries to `owner` (one short transaction).

    Deliveries of a disabled endpoint wait: they go out once it is enabled again.
    """
    with Session(engine, expire_on_commit=False) as session, session.begin():
        statement = (
            select(WebhookDelivery)
            .join(WebhookEndpoint, col(WebhookEndpoint.id) == col(WebhookDelivery.endpoint_id))
            .where(
                WebhookDelivery.status == DeliveryStatus.PENDING.value,
                col(WebhookDelivery.next_attempt_at) <= now,
                col(WebhookEndpoint.enabled).is_(True),
            )
            .order_by(col(WebhookDelivery.next_attempt_at), col(WebhookDelivery.id))
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            statement = statement.with_for_update(of=WebhookDelivery, skip_locked=True)
        rows = session.exec(statement).all()
        endpoint_ids = {row.endpoint_id for row in rows}
        endpoints = {
            endpoint.id: endpoint
            for endpoint in session.exec(
                select(WebhookEndpoint).where(col(WebhookEndpoint.id).in_(endpoint_ids))
            ).all()
        }
        claimed = []
        for row in rows:
            row.next_attempt_at = now + lease
            row.lease_owner = owner
            session.add(row)
            endpoint = endpoints[row.endpoint_id]
            claimed.append(
                Claimed(
                    delivery_id=row.id,
                    event_id=row.event_id,
                    url=endpoint.url,
                    payload=row.payload,
                    secrets=signing_secrets(endpoint, now),
                )
            )
        return claimed


def signed_headers(claimed: Claimed, sent_at: datetime) -> dict[str, str]:
    """Standard Webhooks headers; `webhook-id` is the event id, the same on every retry."""
    signatures = " ".join(
        Webhook(secret).sign(claimed.event_id, sent_at, claimed.payload)
        for secret in claimed.secrets
    )
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": claimed.event_id,
        "webhook-timestamp": str(int(sent_at.timestamp())),
        "webhook-signature": signatures,
    }


def send(client: httpx.Client, claimed: Claimed, allowed: AllowedHosts) -> Answer:
    """POST one delivery, signed now (the receiver checks the timestamp against its clock),
    to the checked address of its URL (`destinations.destination`), following no redirect."""
    headers = signed_headers(claimed, utcnow())
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        where = destination(claimed.url, allowed)
        response = client.post(
            where.url,
            content=claimed.payload.encode(),
            headers={**headers, **where.headers},
            extensions=where.extensions,
            follow_redirects=False,
        )
    except DestinationRefused as error:
        text = f"refused: {error}"[:ERROR_TEXT_LIMIT]
        return Answer(status_code=None, error=text, duration_ms=elapsed(), refused=True)
    except (httpx.HTTPError, OSError) as error:  # OSError: the name did not resolve
        text = f"{type(error).__name__}: {error}"[:ERROR_TEXT_LIMIT]
        return Answer(status_code=None, error=text, duration_ms=elapsed())
    note = None
    if response.is_redirect:
        location = response.headers.get("location", "")
        note = f"HTTP {response.status_code}: redirect to {location} not followed"
    return Answer(
        status_code=response.status_code,
        error=note[:ERROR_TEXT_LIMIT] if note else None,
        duration_ms=elapsed(),
    )


def record(
    engine: Engine,
    claimed: Claimed,
    answer: Answer,
    *,
    owner: str,
    attempted_at: datetime,
    settings: Settings,
    rng: random.Random | None = None,
) -> str:
    """Write the attempt and the delivery's next state; its new status.

    The attempt is always kept. The status moves only while `owner` still holds the
    lease: a worker whose lease ran out (another one has sent it since) just logs.
    """
    with Session(engine) as session, session.begin():
        session.add(
            WebhookAttempt(
                delivery_id=claimed.delivery_id,
                attempted_at=attempted_at,
                status_code=answer.status_code,
                error=answer.error,
                duration_ms=answer.duration_ms,
            )
        )
        delivery = session.get(WebhookDelivery, claimed.delivery_id)
        assert delivery is not None
        if delivery.lease_owner != owner or delivery.status != DeliveryStatus.PENDING.value:
            return "lease_lost"
        delivery.attempts += 1
        delivery.lease_owner = None
        if answer.ok:
            delivery.status = DeliveryStatus.DELIVERED.value
            delivery.delivered_at = attempted_at
            delivery.next_attempt_at = None
            delivery.last_error = None
        else:
            delivery.last_error = answer.error or f"HTTP {answer.status_code}"
            if answer.refused or attempted_at >= delivery.give_up_at:
                delivery.status = DeliveryStatus.FAILED.value
                delivery.next_attempt_at = None
            else:
                wait = backoff(
                    delivery.attempts, settings.webhook_retry_base, settings.webhook_retry_cap, rng
                )
                delivery.next_attempt_at = min(attempted_at + wait, delivery.give_up_at)
        session.add(delivery)
        return delivery.status


def deliver_due(
    engine: Engine,
    settings: Settings,
    *,
    owner: str,
    now: datetime | None = None,
    limit: int = 100,
    client: httpx.Client | None = None,
    rng: random.Random | None = None,
) -> DeliveryReport:
    """Send every delivery due at `now` (up to `limit`), a few at a time in parallel.

    `now` decides what is due and when the next attempt is (tests move it); signatures
    always carry the real time, which is what receivers check.
    """
    fixed_now = now
    now = now or utcnow()
    claimed = claim_due(engine, owner, now, settings.webhook_lease, limit)
    report = DeliveryReport()
    if not claimed:
        return report
    own_client = client is None
    http = client or httpx.Client(
        timeout=settings.webhook_timeout.total_seconds(), follow_redirects=False
    )
    allowed = AllowedHosts.parse(settings.webhook_allowed_hosts)

    def attempt(item: Claimed) -> str:
        # Recorded as soon as it is answered: a crash loses at most the answers in flight
        # (those deliveries are sent again once their lease passes; receivers dedupe on
        # `webhook-id`).
        attempted_at = fixed_now or utcnow()
        answer = send(http, item, allowed)
        return record(
            engine, item, answer, owner=owner, attempted_at=attempted_at, settings=settings, rng=rng
        )

    try:
        with ThreadPoolExecutor(max_workers=min(PARALLEL_SENDS, len(claimed))) as pool:
            statuses = list(pool.map(attempt, claimed))
    finally:
        if own_client:
            http.close()
    metrics.count_webhook_attempts(statuses)
    for item, status in zip(claimed, statuses, strict=True):
        report.results[item.delivery_id] = status
        if status == DeliveryStatus.DELIVERED.value:
            report.delivered += 1
        elif status == DeliveryStatus.FAILED.value:
            report.failed += 1
        elif status == DeliveryStatus.PENDING.value:
            report.retrying += 1
    return report
