"""Run one sync pass in its own process (the tests SIGKILL it mid-way through the harness).

    python -m tests.metering.stripe_sync.sync_child DATABASE_URL API_BASE NOW_ISO

Waits for a line on stdin before starting, so the test can arm the kill first.
"""

from __future__ import annotations

import sys
from datetime import datetime

from metering.db.engine import make_engine
from metering.stripe_sync.sync import sync_due
from tests.metering.stripe_sync.conftest import sync_settings


def main() -> None:
    database_url, api_base, now = sys.argv[1:4]
    sys.stdin.readline()
    engine = make_engine(database_url)
    report = sync_due(
        engine, sync_settings(database_url, api_base), now=datetime.fromisoformat(now)
    )
    print(report, flush=True)


if __name__ == "__main__":
    main()
