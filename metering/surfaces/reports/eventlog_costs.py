"""Where a margin report reads a vendor's cost events: the SQL store, or the ClickHouse event
log for a vendor that enabled it (its cost-only events are stored only there).

From the event log, the events the SQL store holds too (those that make, reverse or confirm
outcomes) come one by one with the counted outcome each made itself (outcome rows stay in the
SQL store), voided ones left out (their voids stay there too). The cost-only events, the bulk
of them, are attributed and summed in ClickHouse: the batch's attribution keys and the
outcome each lands on go with the query, and it returns sums per customer, outcome (or
unbilled) and model (integer tokens) or currency (Decimal money), each priced once: prices
are linear, so this equals pricing each event, to the cent and beyond. Events whose key
ClickHouse cannot read exactly (see `flat_key_sql`) are summed per properties and attributed
here. Voided cost-only events (voided in the log) are left out. Both paths give the same
numbers.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session, col

from metering.ledger import states
from metering.ledger.eventlog.clickhouse import EPOCH, FLAT_KEY, ClickHouseLog
from metering.ledger.eventlog.config import eventlog_of
from metering.ledger.eventlog.record import AttributedSum, CostSum
from metering.ledger.events.models import StoredEvent
from metering.ledger.outcomes.models import Outcome
from metering.platform.db import jsontext
from metering.surfaces.reports import repository
from metering.surfaces.reports.attribution import Attribution, Owner
from metering.surfaces.reports.repository import EVENTS, CostEvent
from pricing_rules.costs import Cost, MoneyCost, PricedCost, TokenCost, event_cost, price_cost
from pricing_rules.events import Event
from pricing_rules.paths import segments, top_property
from pricing_rules.rules import RuleFile

Priced = tuple[str, Owner | None, PricedCost, int]
"""A customer's costs (one event, or several summed), the outcome they land on (None:
unbilled), their price, how many events."""


def priced_costs(
    session: Session,
    vendor_id: str,
    rules: RuleFile,
    customer_ids: Collection[str],
    start: datetime,
    end: datetime,
    attribution: Attribution,
) -> Iterator[Priced]:
    """The period's costs priced under `rules` and attributed, from the vendor's store."""
    log = eventlog_of(session, vendor_id)
    path = rules.costs.attribute_to if rules.costs is not None else None
    key = _flat_key(rules)
    events: Iterator[CostEvent] = iter(())
    unread = False
    if log is None:
        events = repository.cost_events(session, vendor_id, customer_ids, start, end)
    elif key is None and path is not None:  # attributed here, summed when it can be
        unread = _by_properties(rules)
        events = _from_log(session, log, vendor_id, customer_ids, start, end, unread)
    else:  # one scan attributes the bulk and says whether another read is needed
        found = log.attributed_sums(vendor_id, customer_ids, start, end, key, attribution.owners())
        for total in found.sums:
            owner = None if total.outcome is None else (total.outcome, total.dimension)
            yield total.customer_id, owner, price_cost(rules, _cost(total)), total.events
        if found.sql_held:
            events = _from_log(session, log, vendor_id, customer_ids, start, end, True)
        unread = found.unread
    for cost in events:
        priced = event_cost(rules, cost.event.cost)
        if priced is not None:
            yield cost.customer_id, attribution.owner_of(cost), priced, 1
    if log is not None and unread:  # summed per properties and attributed here
        for summed in log.cost_sums(vendor_id, customer_ids, start, end, key=key):
            owner = attribution.owner_of(_summed(summed))
            yield summed.customer_id, owner, price_cost(rules, _cost(summed)), summed.events


def _flat_key(rules: RuleFile) -> str | None:
    """The property ClickHouse reads the attribution key from (`properties.NAME`, a name
    written in JSON as it is), or None when the events are attributed in Python."""
    path = rules.costs.attribute_to if rules.costs is not None else None
    key = None if path is None else top_property(path)
    return key if key is not None and FLAT_KEY.fullmatch(key) else None


def _by_properties(rules: RuleFile) -> bool:
    """Whether cost-only events can be summed per properties: the attribution key, if
    any, is read from them (a key read from the id or time of an event needs each event)."""
    path = rules.costs.attribute_to if rules.costs is not None else None
    return path is None or segments(path)[0] == "properties"


def _cost(total: CostSum | AttributedSum) -> Cost:
    if total.model is not None:
        return TokenCost(total.model, total.input_tokens, total.output_tokens)
    assert total.currency is not None and total.amount is not None
    return MoneyCost(total.amount, total.currency)


def _summed(total: CostSum) -> CostEvent:
    """Summed log-only events as one event: what attribution reads are their properties."""
    event = Event(
        id="",
        type="",
        customer="",
        timestamp=EPOCH,
        properties=jsontext.loads(total.properties),
        cost=None,
    )
    return CostEvent(total.customer_id, event, None, None)


def _from_log(
    session: Session,
    log: ClickHouseLog,
    vendor_id: str,
    customer_ids: Collection[str],
    start: datetime,
    end: datetime,
    summed: bool,
) -> Iterator[CostEvent]:
    """Cost events one by one: those the SQL store holds too, or all when not `summed`."""
    ids = sorted(customer_ids)
    own = {
        row.event: (row.outcome, row.dimension)
        for row in session.execute(repository.own_outcomes(ids, start, col(Outcome.event_id)))
    }
    voided = set(
        session.execute(
            sa.select(col(StoredEvent.event_id)).where(
                col(StoredEvent.vendor_id) == vendor_id,
                col(StoredEvent.customer_id).in_(ids),
                col(StoredEvent.occurred_at) >= start,
                col(StoredEvent.occurred_at) < end,
                states.EVENT_VOIDED.sql(EVENTS.c),
            )
        ).scalars()
    )
    for record in log.stream(vendor_id, ids, start, end, only_sql_stored=summed):
        if record.event_id in voided:
            continue
        outcome, dimension = own.get(record.event_id, (None, None))
        yield CostEvent(record.customer_id, record.event(), outcome, dimension)
