"""Ids made one after another sort in the order they were made, even within a millisecond."""

from __future__ import annotations

import time

from metering.platform.db.ids import new_id

ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"


def test_ids_made_in_a_burst_sort_in_creation_order() -> None:
    ids = [new_id("whd") for _ in range(5000)]

    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)


def test_an_id_is_its_prefix_then_26_characters() -> None:
    prefix, body = new_id("cus").split("_")

    assert prefix == "cus"
    assert len(body) == 26


def test_an_id_spells_its_millisecond_then_its_randomness_in_base_32() -> None:
    body = new_id("cus").split("_")[1]
    digits = [ALPHABET.index(char) for char in body]
    millis = 0
    for digit in digits[:10]:
        millis = millis * 32 + digit

    assert abs(millis - time.time() * 1000) < 5000
