"""Ids made one after another sort in the order they were made, even within a millisecond."""

from __future__ import annotations

from metering.platform.db.ids import new_id


def test_ids_made_in_a_burst_sort_in_creation_order() -> None:
    ids = [new_id("whd") for _ in range(5000)]

    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_an_id_is_its_prefix_then_26_characters() -> None:
    prefix, body = new_id("cus").split("_")

    assert prefix == "cus"
    assert len(body) == 26
