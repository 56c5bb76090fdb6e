"""A billed October to simulate on: three customers, events through ingestion, one close.

Under the invoices' rules (tests.metering.billing.invoices.helpers.RULES, 2 free conversations,
0.99 then 0.79, 1.5 % of deals with a 1.00 minimum, 20.00 fee, 25.00 minimum):
- acme: conversations c0..c5 resolved by chat, c1 reported twice, c2 reopened (reversed),
  one resolution on the phone (excluded), deals of 1000.50 and 20:
  5 conversations, 2 free: 2.97; deals 15.0075 + 1.00 = 16.01; fee 20.00: 38.98.
- globex: no event: fee 20.00 + true-up 5.00 = 25.00.
- initech: one conversation on Oct 30 (free), fee and true-up: 25.00.

PROPOSED counts phone resolutions, drops the reversal and charges 1.19 from the first unit:
- acme: 7 conversations (c0..c5 and the phone one): 5 x 1.19 + 2 x 0.79 = 7.53, + 16.01
  + 20.00 = 43.54 (+4.56, +11.70 %).
- globex: 25.00; initech: 1.19 + 20.00 = 21.19, topped up to 25.00.
- total: 88.98 -> 93.54 (+4.56, +5.12 %).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

from tests.metering.billing.invoices.helpers import (
    NOVEMBER,
    OCTOBER,
    RULES,
    at,
    close,
    deal,
    reopen,
    resolution,
    send,
)
from tests.metering.conftest import create_customer, create_plan

PROPOSED = (
    RULES.replace("version: 1", "version: 2")
    .replace("{in: [chat, email]}", "{in: [chat, email, phone]}")
    .replace(
        "      reversed_by: {event: conversation.reopened, match: properties.conversation_id}\n",
        "",
    )
    .replace("free_units: 2", "free_units: 0")
    .replace('{up_to: 5, unit_price: "0.99"}', '{up_to: 5, unit_price: "1.19"}')
)
CLOSED_AT = at(5, month=11)
NOW = at(20, month=11)


@dataclass(frozen=True)
class History:
    plan_id: str
    customers: dict[str, str]  # external id -> customer id


def october_events() -> list[dict[str, object]]:
    events = [resolution(f"r{i}", at(i + 1), f"c{i}") for i in range(6)]
    events.append(resolution("dup", at(20), "c1"))
    phone = resolution("phone", at(21), "c-phone")
    phone["properties"]["channel"] = "phone"
    events += [
        phone,
        reopen("reopen-c2", at(22), "c2"),
        deal("d1", at(3), "1000.50"),
        deal("d2", at(4), "20"),
        resolution("i1", at(30, hour=23), "c-i1", customer="initech"),
    ]
    return events


def billed_october(engine: Engine, vendor_id: str) -> History:
    """The plan, its subscribers since October, their events, and October closed."""
    plan_id = create_plan(engine, vendor_id, RULES)
    customers = {
        name: create_customer(engine, vendor_id, name, plan_id, starts_at=OCTOBER)
        for name in ("acme", "globex", "initech")
    }
    send(engine, vendor_id, october_events(), at(31))
    close(engine, CLOSED_AT)
    return History(plan_id, customers)


def between(start: datetime = OCTOBER, end: datetime = NOVEMBER) -> tuple[str, str]:
    return start.isoformat(), end.isoformat()
