"""How many Stripe requests the sync makes for a 5-line invoice.

    python bench/stripe_requests.py

Runs the sync against the localstripe harness of the tests (tests/stripe_fake, a local
process: no network, no Stripe account) on a temporary SQLite database, and prints the
requests per scenario. Each line is one Stripe invoice item, so the count grows by one per
line: customer + invoice + lines + finalize + (pay | send).
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the harness and the row factory live under tests/

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


if __name__ == "__main__":
    main()
