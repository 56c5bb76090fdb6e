"""The allowance check: may this customer have one more billable outcome now?

It reads the running tallies (`metering.ledger.tallies`), never rates the period again: the
units of each outcome settled and pending, priced by the pure core as quantities
(`pricing_rules.limits`). A limit with `on_reach: notify` only warns; any other limit is
`blocked` once the next unit would not fit (`remaining_units` 0), and `warning` from its
`warn_at` percent. With `stop_billing` on the plan's maximum the outcomes past it are still
counted (the invoice is capped), but the check answers `blocked` all the same: the vendor
would not be paid for the work.

The check is what an agent calls before every piece of billable work, so its path is lean:
the API key and every read are one statement (`repository.snapshot`), run outside a
transaction on PostgreSQL (no BEGIN, no ROLLBACK), the parsed plan is cached per immutable
version, and `check` does all of it in one worker thread, holding a pooled connection only
while it runs (never across a wait for another thread).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.allowance import repository
from metering.billing.allowance.schemas import AllowanceOut, LimitOut, PeriodSpend
from metering.billing.credits.service import money
from metering.catalog.plans.compiled import rules_of
from metering.catalog.vendors.auth import invalid_api_key
from metering.catalog.vendors.credentials import hash_api_key
from metering.ledger.outcomes.limits import spend_limit
from metering.ledger.tallies import repository as tallies
from metering.platform.api import problems
from metering.platform.api.problems import ProblemError
from metering.platform.db.engine import single_statement_reads
from metering.platform.db.faults import retried_once
from pricing_rules import limits
from pricing_rules.engine import decimal_text
from pricing_rules.periods import Period, clip, period_containing
from pricing_rules.pricing import MeasuredUsage
from pricing_rules.rules import RuleFile

HUNDRED = Decimal(100)


def unknown_outcome(outcome: str, rules: RuleFile) -> ProblemError:
    known = ", ".join(sorted(rules.outcomes)) or "none"
    message = f"the plan in force has no outcome {outcome!r}; expected one of: {known}"
    return problems.INVALID_REQUEST.error(
        f"outcome: {message}", extra={"errors": [{"field": "outcome", "message": message}]}
    )


@dataclass(frozen=True, slots=True)
class _Limit:
    out: LimitOut
    remaining: Decimal | None
    blocks: bool


def _percent(used: Decimal, limit: Decimal) -> Decimal:
    return (used * HUNDRED / limit).quantize(Decimal("0.01"))


def _money_limit(
    limit: limits.MoneyLimit,
    rules: RuleFile,
    usage: dict[str, MeasuredUsage],
    spent: Decimal,
    outcome: str,
) -> _Limit:
    blocks = limit.on_reach != "notify"
    remaining = limits.remaining_units(rules, usage, outcome, limit.amount)
    reached = spent >= limit.amount or remaining == 0
    return _Limit(
        LimitOut(
            kind=limit.kind,
            on_reach=limit.on_reach,
            amount=money(limit.amount, rules.currency),
            used=money(spent, rules.currency),
            used_percent=str(_percent(spent, limit.amount)),
            warn_at=limit.warn_at,
            reached=reached,
        ),
        remaining,
        blocks,
    )


def _unit_limit(rules: RuleFile, outcome: str, used: Decimal) -> _Limit | None:
    spec = rules.outcomes[outcome].limit
    if spec is None:
        return None
    remaining = max(spec.units - used, Decimal(0))
    if not limits.sums(rules, outcome):
        remaining = remaining.to_integral_value(rounding="ROUND_FLOOR")
    return _Limit(
        LimitOut(
            kind="outcome_units",
            on_reach=spec.on_reach,
            units=decimal_text(spec.units),
            used=decimal_text(used),
            used_percent=str(_percent(used, spec.units)),
            warn_at=spec.warn_at,
            reached=remaining == 0,
        ),
        remaining,
        spec.on_reach != "notify",
    )


def _state(found: Sequence[_Limit]) -> tuple[str, _Limit | None]:
    """The state and the limit that decides it: a reached blocking limit, else the one
    used the most past its warning, else the nearest."""
    blocked = [lim for lim in found if lim.blocks and lim.out.reached]
    if blocked:
        return "blocked", blocked[0]
    warned = [lim for lim in found if Decimal(lim.out.used_percent) >= lim.out.warn_at]
    if warned:
        return "warning", max(warned, key=lambda lim: Decimal(lim.out.used_percent))
    if found:
        return "ok", max(found, key=lambda lim: Decimal(lim.out.used_percent))
    return "ok", None


def _remaining(found: Sequence[Decimal | None]) -> Decimal | None:
    """The fewest units left under the blocking limits: none left under one is none left;
    otherwise unknown if any is unknown (null), and unlimited without a blocking limit."""
    known = [value for value in found if value is not None]
    if not found or (len(known) < len(found) and min(known, default=1) != 0):
        return None
    return min(known)


def _reason(state: str, decided: _Limit | None) -> str:
    if decided is None:
        return "No limit applies to this outcome."
    lim = decided.out
    name = {
        "plan_maximum": "the plan's maximum",
        "customer_spend_limit": "the customer's spend limit",
        "outcome_units": "the outcome's unit limit",
    }[lim.kind]
    bound = lim.amount if lim.amount is not None else f"{lim.units} units"
    if state == "blocked":
        return f"{name} of {bound} is reached ({lim.used} used, on_reach {lim.on_reach})."
    if state == "warning":
        return f"{lim.used_percent}% of {name} of {bound} is used (warning from {lim.warn_at}%)."
    return f"{lim.used_percent}% of {name} of {bound} is used."


def check(
    engine: Engine, api_key: str, customer_ids: Sequence[str], outcome: str, now: datetime
) -> dict[str, AllowanceOut | ProblemError]:
    """`allowances` for the vendor of `api_key` (a 401 problem when it has none), in a
    session of its own: the connection goes back to the pool before this returns."""
    with Session(single_statement_reads(engine)) as session:
        return allowances(session, hash_api_key(api_key), customer_ids, outcome, now)


def allowances(
    session: Session, key_hash: str, customer_ids: Sequence[str], outcome: str, now: datetime
) -> dict[str, AllowanceOut | ProblemError]:
    """The allowance of each customer for `outcome` under the plan in force now, or the
    problem that keeps it from one; one statement however many customers (and one more
    the first time a plan version is used in this process)."""
    # A read, so safe to run again when the connection was lost under it.
    read = retried_once(
        session,
        lambda: repository.snapshot(session, key_hash, customer_ids, now),
        commit=False,
    )
    if read.vendor_id is None:
        raise invalid_api_key()
    answers: dict[str, AllowanceOut | ProblemError] = {}
    for customer_id in customer_ids:
        terms = read.terms.get(customer_id)
        if terms is None:
            answers[customer_id] = problems.not_found("customer", customer_id)
        elif terms.plan_version_id is None or terms.starts_at is None:
            answers[customer_id] = problems.NO_SUBSCRIPTION.error(
                f"Customer '{customer_id}' has no plan in force now."
            )
        else:
            rules = rules_of(session, terms.plan_version_id)
            if outcome not in rules.outcomes:
                answers[customer_id] = unknown_outcome(outcome, rules)
                continue
            billing = rules.billing
            plan_period = period_containing(now, billing.interval, billing.timezone)
            period = clip(plan_period, terms.starts_at, terms.ends_at)
            # The latest period with tallies is the open one, or an earlier one (none yet).
            mine = read.tallies.get((customer_id, period.start), {})
            limit = spend_limit(terms.spend_limit_amount, terms.spend_limit_on_reach)
            balance = read.credit.get((customer_id, rules.currency))
            answers[customer_id] = _allowance(
                customer_id, rules, period, mine, limit, balance, outcome, now
            )
    return {customer_id: answers[customer_id] for customer_id in customer_ids}


def _allowance(
    customer_id: str,
    rules: RuleFile,
    period: Period,
    found: Mapping[str, tallies.PeriodTally],
    customer_limit: limits.MoneyLimit | None,
    credit: Decimal | None,
    outcome: str,
    now: datetime,
) -> AllowanceOut:
    settled: dict[str, MeasuredUsage] = {}
    total: dict[str, MeasuredUsage] = {}
    for name, tally in found.items():
        sums = limits.sums(rules, name)
        settled[name] = MeasuredUsage(
            tally.settled_units if sums else Decimal(tally.settled_rows), tally.settled_rows
        )
        total[name] = MeasuredUsage(tally.units if sums else Decimal(tally.rows), tally.rows)
    spent_settled = limits.spend(rules, settled)
    spent = limits.spend(rules, total)
    used_units = total[outcome].quantity if outcome in total else Decimal(0)
    checked: list[_Limit] = []
    if (unit := _unit_limit(rules, outcome, used_units)) is not None:
        checked.append(unit)
    for limit in limits.money_limits(rules, customer_limit):
        checked.append(_money_limit(limit, rules, total, spent, outcome))
    state, decided = _state(checked)
    remaining_units = _remaining([lim.remaining for lim in checked if lim.blocks])
    held = found[outcome].over_limit_rows if outcome in found else 0
    return AllowanceOut(
        customer_id=customer_id,
        outcome=outcome,
        as_of=now,
        currency=rules.currency,
        period_start=period.start,
        period_end=period.end,
        state=state,
        remaining_units=None if remaining_units is None else decimal_text(remaining_units),
        remaining_credit=None if credit is None else money(credit, rules.currency),
        period_spend=PeriodSpend(
            settled=money(spent_settled, rules.currency),
            pending=money(spent - spent_settled, rules.currency),
            total=money(spent, rules.currency),
        ),
        units_used=decimal_text(used_units),
        over_limit=held,
        limit=None if decided is None else decided.out,
        reason=_reason(state, decided),
        limits=[lim.out for lim in checked],
    )
