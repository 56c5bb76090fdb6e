"""One customer whose outcomes end up in every status the portal shows, at a fixed time.

October is invoiced (#1), then c1 is reopened and c2 disputed and accepted; November is
invoiced (#2, with the credit for October); December is the current period as of
`NOW`: billable, pending, duplicate, reversed, voided, disputed and credited outcomes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.engine import Engine

from tests.metering.billing.invoices.helpers import (
    OCTOBER,
    RULES,
    at,
    close,
    deal,
    reopen,
    resolution,
    send,
    void_event,
)
from tests.metering.conftest import VendorFixture, create_customer, create_plan
from tests.metering.ledger.disputes.helpers import answer, file_dispute

PORTAL_RULES = RULES.replace(
    "      reversed_by: {event: conversation.reopened, match: properties.conversation_id}\n",
    "      reversed_by: {event: conversation.reopened, match: properties.conversation_id}\n"
    "    portal: {show: [properties.channel, properties.topic]}\n",
)
SECRET = "internal-note-7f3a"
NOW = datetime(2026, 12, 10, 12, tzinfo=UTC)


def dec(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 12, day, hour, tzinfo=UTC)


def talk(
    event_id: str, when: datetime, conversation: str, customer: str = "acme"
) -> dict[str, Any]:
    """A resolution with a visible topic and a property the rule file does not show."""
    event = resolution(event_id, when, conversation, customer)
    event["properties"] |= {"topic": "billing", "note": SECRET}
    return event


EXPECTED = {
    "r0": "Billed on invoice #1",
    "r1": "Credited",
    "r2": "Credited",
    "r3": "Billed on invoice #1",
    "n1": "Billed on invoice #2",
    "d-billable": "Billable",
    "d-dup": "Duplicate",
    "d-pending": "Pending settlement",
    "d-reversed": "Reversed",
    "d-void": "Voided",
    "d-disputed": "Disputed",
    "d-credited": "Credited",
    "deal": "Billable",
}


def build(engine: Engine, vendor: VendorFixture) -> str:
    """The customer id, with every event of `EXPECTED` stored and two periods invoiced."""
    plan = create_plan(engine, vendor.id, PORTAL_RULES)
    customer = create_customer(engine, vendor.id, "acme", plan, starts_at=OCTOBER)
    send(engine, vendor.id, [talk(f"r{i}", at(i + 1), f"c{i}") for i in range(4)], at(25))
    close(engine, at(5, month=11))
    send(engine, vendor.id, [reopen("o1", at(8, month=11), "c1")], at(8, month=11))
    disputed = file_dispute(engine, customer, "r2", at(8, month=11))
    answer(engine, vendor.id, disputed, accepted=True, now=at(9, month=11))
    send(engine, vendor.id, [talk("n1", at(20, month=11), "c10")], at(21, month=11))
    close(engine, at(5, month=12))
    december = [
        talk("d-billable", dec(2), "c20"),
        talk("d-dup", dec(3), "c20"),
        talk("d-reversed", dec(4), "c21"),
        reopen("o21", dec(5), "c21"),
        talk("d-void", dec(4, 13), "c22"),
        talk("d-disputed", dec(6), "c23"),
        talk("d-credited", dec(6, 13), "c24"),
        deal("deal", dec(7), "100"),
        talk("d-pending", dec(10, 11), "c25"),
    ]
    send(engine, vendor.id, december, NOW)
    void_event(engine, vendor.id, "d-void", "test traffic", NOW)
    file_dispute(engine, customer, "d-disputed", NOW)
    credited = file_dispute(engine, customer, "d-credited", NOW)
    answer(engine, vendor.id, credited, accepted=True, now=NOW)
    return customer
