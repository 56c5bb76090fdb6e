"""The states themselves: of an outcome row, of a stored event, and as the customer reads them."""

from __future__ import annotations

from enum import StrEnum


class OutcomeState(StrEnum):
    """What an outcome row is for its dedupe key (see the module docstring)."""

    COUNTED = "counted"
    CREDITED = "credited"
    DUPLICATE = "duplicate"
    REVERSED = "reversed"
    VOIDED = "voided"
    PROBLEM = "problem"
    REJECTED = "rejected"
    AWAITING_VERIFICATION = "awaiting_verification"
    SUPERSEDED = "superseded"
    OVER_LIMIT = "over_limit"


class EventStatus(StrEnum):
    """What became of a stored event; every stored event has one."""

    COUNTED = "counted"
    CREDITED = "credited"
    DUPLICATE = "duplicate"
    # Reverses outcomes and is a candidate for none.
    REVERSAL = "reversal"
    # Confirms or rejects outcomes (`settle.confirmed_by`, `settle.rejected_by`).
    CONFIRMATION = "confirmation"
    REJECTION = "rejection"
    REVERSED = "reversed"
    # No outcome of its plan version, or no subscription at its time.
    UNMATCHED = "unmatched"
    PROBLEM = "problem"
    VOIDED = "voided"
    REJECTED = "rejected"
    AWAITING_VERIFICATION = "awaiting_verification"
    SUPERSEDED = "superseded"
    OVER_LIMIT = "over_limit"


class DisplayStatus(StrEnum):
    """What the customer reads in the portal's status column (`display_status`)."""

    # Counted, before its settle time.
    PENDING = "pending"
    # Counted and settled, on no invoice line yet.
    BILLABLE = "billable"
    # Counted and settled, on a live charge or adjustment line.
    BILLED = "billed"
    # Taken back: by an accepted dispute, or by a live credit line.
    CREDITED = "credited"
    REVERSED = "reversed"
    VOIDED = "voided"
    DUPLICATE = "duplicate"
    PROBLEM = "problem"
    # Counted, with an open dispute on its key.
    DISPUTED = "disputed"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"
    # Waiting for its confirmation, inside its window.
    AWAITING_VERIFICATION = "awaiting_verification"
    # Its window ended without a confirmation (`otherwise: drop`): never billed.
    UNVERIFIED = "unverified"
    # Past a `block` limit: stored, not billed, counted again if spend falls back under.
    OVER_LIMIT = "over_limit"


# --- what the rules read --------------------------------------------------------------------
