"""Ids made one after another sort in the order they were made, even within a millisecond."""

from __future__ import annotations

import time

import pytest

from metering.platform.db import ids
from metering.platform.db.ids import new_id, new_ids

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


def test_ids_made_in_a_batch_sort_with_single_ones_made_around_them() -> None:
    made = [new_id("cle"), *new_ids("cle", 3000), new_id("cle"), *new_ids("cle", 2)]

    assert made == sorted(made)
    assert len(set(made)) == len(made)
    assert new_ids("cle", 0) == []


def test_a_batch_spells_the_ids_new_id_would_make(monkeypatch: pytest.MonkeyPatch) -> None:
    # Within a far-future millisecond, the randoms count up across a 40-bit boundary (where
    # a batch's ids stop sharing their upper digits).
    far = 2**49
    start = (1 << 40) - 3
    monkeypatch.setattr(ids, "_last", (far, start))
    batch = new_ids("cle", 6)
    monkeypatch.setattr(ids, "_last", (far, start))
    single = [new_id("cle") for _ in range(6)]

    assert batch == single
    digits = [ALPHABET.index(char) for char in batch[0].split("_")[1]]
    value = 0
    for digit in digits:
        value = value * 32 + digit
    assert value == (far << 80) | (start + 1)
