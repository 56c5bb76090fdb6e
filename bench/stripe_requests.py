"""How many Stripe requests the sync makes for a 5-line invoice, and which, with their
idempotency keys.

    python bench/stripe_requests.py

Runs the sync against the localstripe harness of the tests (tests/stripe_fake, a local
process: no network, no Stripe account) on a temporary SQLite database, and prints the
requests per scenario. Each line is one Stripe invoice item, so the count grows by one per
line: customer + invoice + lines + finalize + (pay | send). Then every request of one
invoice, key by key: paid at once, and declined, then paid after a new card (the retry is a
new request: the key's round moves on after the decline).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the harness and the row factory live under tests/

from sqlmodel import Session  # noqa: E402

from metering.billing.payments.dunning import retry_now  # noqa: E402
from metering.platform.db.engine import make_engine  # noqa: E402
from metering.platform.db.migrate import upgrade  # noqa: E402
from metering.surfaces.providers import sync_due  # noqa: E402
from tests.metering.providers.stripe.conftest import sync_settings  # noqa: E402
from tests.metering.providers.stripe.factory import (  # noqa: E402
    FIVE_LINES,
    NOW,
    billing,
    issued_invoice,
)
from tests.stripe_fake.harness import FakeStripe, running_fake_stripe  # noqa: E402


def _label(path: str) -> str:
    parts = path.strip("/").split("/")
    return "/".join(part if not part.startswith(("in_", "cus_")) else "{id}" for part in parts)


def measure(fake: FakeStripe, name: str, url: str, invoice_id: str) -> int:
    fake.clear_requests()
    engine = make_engine(url)
    started = time.perf_counter()
    report = sync_due(engine, sync_settings(url, fake.url), now=NOW, limit=1)  # oldest first
    elapsed = time.perf_counter() - started
    engine.dispose()
    requests = fake.requests()
    assert [r.invoice_id for r in report.results] == [invoice_id], report
    keyed = sum(1 for r in requests if (r["idempotency_key"] or "").startswith("metering:"))
    kinds = Counter(f"{r['method']} {_label(r['path'])}" for r in requests)
    print(
        f"\n{name}: {len(requests)} requests ({keyed} with our idempotency key), "
        f"{elapsed * 1000:.0f} ms"
    )
    for kind, count in kinds.items():
        print(f"  {count} x {kind}")
    return len(requests)


def print_requests(title: str, requests: list[dict[str, Any]]) -> None:
    print(f"\n{title}:")
    for r in requests:
        key = r["idempotency_key"] or "(a read: no key)"
        print(f"  {r['method']:<4} {_label(r['path']):<30} {r['status']}  {key}")


def sync_once(fake: FakeStripe, url: str) -> list[dict[str, Any]]:
    """One sync pass (the oldest due invoice); the requests it made."""
    fake.clear_requests()
    engine = make_engine(url)
    sync_due(engine, sync_settings(url, fake.url), now=NOW, limit=1)
    engine.dispose()
    return fake.requests()


def keys_of_one_invoice(fake: FakeStripe, url: str, vendor_id: str) -> None:
    """Every request of one invoice, key by key: paid at once; declined, then paid after
    the customer's new card (`retry_now`, as the payment-method webhook calls it)."""
    engine = make_engine(url)
    paying = billing(engine, "paying", fake.customer_with_card(), vendor_id=vendor_id)
    card = fake.customer_with_card("pm_card_chargeCustomerFail")
    failing = billing(engine, "failing", card, vendor_id=vendor_id)
    paid = issued_invoice(engine, paying, FIVE_LINES, number=3)
    print_requests(f"one invoice paid at once ({paid})", sync_once(fake, url))

    declined = issued_invoice(engine, failing, FIVE_LINES, number=4)
    first = sync_once(fake, url)
    fake.set_default_card(card)
    with Session(engine) as session:
        retry_now(session, customer_id=failing.customer_id, now=NOW)
        session.commit()
    engine.dispose()
    print_requests(f"one invoice declined ({declined})", first)
    print_requests("the same invoice after a new card: the retry", sync_once(fake, url))


def main() -> None:
    with tempfile.TemporaryDirectory() as directory, running_fake_stripe() as fake:
        url = f"sqlite:///{Path(directory) / 'bench.db'}"
        upgrade(url)
        engine = make_engine(url)
        linked = billing(engine, "linked", stripe_customer_id=fake.customer_with_card())
        fresh = billing(
            engine, "fresh", collection_method="send_invoice", vendor_id=linked.vendor_id
        )
        first = issued_invoice(engine, linked, FIVE_LINES, number=1)
        sent = issued_invoice(engine, fresh, FIVE_LINES, number=2)
        engine.dispose()

        charged = measure(fake, "charge_automatically, customer already in Stripe", url, first)
        measure(fake, "send_invoice, customer created in Stripe", url, sent)
        print(f"\nStripe requests per 5-line invoice: {charged}")
        keys_of_one_invoice(fake, url, linked.vendor_id)


if __name__ == "__main__":
    main()
