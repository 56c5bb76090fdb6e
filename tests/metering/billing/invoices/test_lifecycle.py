"""`invoices.lifecycle`: the transitions table, each move on both databases, and that no other
module of `metering` writes an invoice's status or the dates that go with it."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session

from metering.billing.invoices import lifecycle
from metering.billing.invoices.models import InvoiceStatus
from tests.metering.billing.invoices.helpers import payment_link, update_invoice
from tests.metering.providers.stripe.factory import billing, invoice_row, issued_invoice

METERING = Path(lifecycle.__file__).resolve().parents[2]
OWNER = Path(lifecycle.__file__).resolve()
WATCHED = {"status", "issued_at", "paid_at", "voided_at"}
# Names through which a module reaches the invoices table or its statuses.
INVOICE_NAMES = {"Invoice", "INVOICES", "_INVOICES", "InvoiceStatus"}
AT = datetime(2026, 11, 6, 12, tzinfo=UTC)
S = InvoiceStatus


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.name if isinstance(node, ast.alias) else None


def _mentions_invoices(node: ast.AST) -> bool:
    return any(_name(n) in INVOICE_NAMES for n in ast.walk(node))


def _watched_keys(node: ast.Dict) -> list[str]:
    return [k.value for k in node.keys if isinstance(k, ast.Constant) and k.value in WATCHED]


def status_writes(source: str) -> list[str]:
    """Where `source` writes an invoice's status or dates: `x.status = ...` or
    `setattr(x, "status", ...)` in a module that works with invoices, `status=` or a
    `{"status": ...}` given to a call that names invoices (`Invoice(...)`,
    `update(Invoice).values(...)`), a `{"status": InvoiceStatus...}` row."""
    tree = ast.parse(source)
    invoices = _mentions_invoices(tree)
    found: list[str] = []
    for node in ast.walk(tree):
        where = f"line {getattr(node, 'lineno', '?')}"
        if invoices and isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found += [
                f"{where}: .{t.attr} ="
                for t in targets
                if isinstance(t, ast.Attribute) and t.attr in WATCHED
            ]
        if isinstance(node, ast.Call):
            name = node.func.id if isinstance(node.func, ast.Name) else None
            if invoices and name == "setattr" and len(node.args) > 1:
                field = node.args[1]
                if isinstance(field, ast.Constant) and field.value in WATCHED:
                    found.append(f"{where}: setattr {field.value}")
            if _mentions_invoices(node):
                found += [f"{where}: {kw.arg}=" for kw in node.keywords if kw.arg in WATCHED]
                for argument in node.args:
                    if isinstance(argument, ast.Dict):
                        found += [f"{where}: {key!r}:" for key in _watched_keys(argument)]
        if isinstance(node, ast.Dict):
            found += [
                f"{where}: {key.value!r}: InvoiceStatus"
                for key, value in zip(node.keys, node.values, strict=True)
                if isinstance(key, ast.Constant)
                and key.value in WATCHED
                and _mentions_invoices(value)
            ]
    return sorted(set(found))


def test_only_the_lifecycle_writes_an_invoice_status() -> None:
    writers = {
        str(path.relative_to(METERING.parent)): writes
        for path in sorted(METERING.rglob("*.py"))
        if path.resolve() != OWNER and (writes := status_writes(path.read_text()))
    }

    assert writers == {}


@pytest.mark.parametrize(
    "source",
    [
        "from m import Invoice\ninvoice.status = 'paid'",
        "from m import InvoiceStatus\nrow.paid_at = now",
        "from m import Invoice\nsetattr(invoice, 'voided_at', now)",
        "sa.update(Invoice).where(x).values(status='void')",
        "sa.update(INVOICES).values({'status': 'paid', 'paid_at': now})",
        "Invoice(id='inv_1', issued_at=now)",
        "row = {'id': 'inv_1', 'status': InvoiceStatus.ISSUED.value}",
    ],
)
def test_the_check_sees_each_way_of_writing_a_status(source: str) -> None:
    assert status_writes(source) != []


def test_reading_a_status_is_not_writing_one() -> None:
    source = (
        "from m import Invoice, InvoiceStatus\n"
        "data = {'status': row.status}\n"
        "if invoice.status == InvoiceStatus.PAID: pass\n"
        "select(Invoice).where(Invoice.status == status)\n"
        "delivery.status = 'sent'\n"  # not in a call naming invoices, but in such a module
    )
    assert status_writes(source) == ["line 5: .status ="]


def test_the_transitions_are_the_documented_ones() -> None:
    moves = {(a, b) for a, targets in lifecycle.TRANSITIONS.items() for b in targets}

    assert moves == {
        (S.DRAFT, S.ISSUED),
        (S.DRAFT, S.VOID),
        (S.ISSUED, S.PAID),
        (S.ISSUED, S.PAYMENT_FAILED),
        (S.ISSUED, S.VOID),
        (S.PAYMENT_FAILED, S.PAID),
        (S.PAYMENT_FAILED, S.VOID),
    }
    assert set(lifecycle.TRANSITIONS) == set(InvoiceStatus)


def _move(session: Session, invoice_id: str, target: InvoiceStatus) -> bool:
    if target == S.PAID:
        return lifecycle.mark_paid(session, invoice_id, AT)
    if target == S.PAYMENT_FAILED:
        return lifecycle.mark_failed(session, invoice_id)
    return lifecycle.void(session, invoice_id, AT)


@pytest.mark.parametrize("start", list(InvoiceStatus))
@pytest.mark.parametrize("target", [S.PAID, S.PAYMENT_FAILED, S.VOID])
def test_each_move_happens_only_from_where_the_table_allows(
    engine: Engine, start: InvoiceStatus, target: InvoiceStatus
) -> None:
    invoice_id = issued_invoice(engine, billing(engine), ["5.00", "-1.00"])
    update_invoice(engine, invoice_id, status=start.value)
    allowed = target in lifecycle.TRANSITIONS[start]

    with Session(engine) as session:
        moved = _move(session, invoice_id, target)
        session.commit()

    invoice = invoice_row(engine, invoice_id)
    assert moved is allowed
    assert invoice.status == (target if allowed else start)
    dated = {S.PAID: invoice.paid_at, S.VOID: invoice.voided_at}
    if target in dated:
        assert dated[target] == (AT if allowed else None)


def test_a_void_makes_the_provider_due_to_void_its_copy(engine: Engine) -> None:
    invoice_id = issued_invoice(engine, billing(engine), ["5.00"])
    with Session(engine) as session:
        lifecycle.void(session, invoice_id, AT)
        session.commit()

    assert payment_link(engine, invoice_id).next_attempt_at == AT
