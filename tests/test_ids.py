"""cuid(), random_id(), session IDs and the sealed successor of a rotated ID."""

from __future__ import annotations

import hashlib
import math
import re
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flask_rivo import cuid
from flask_rivo import random_id
from flask_rivo.ids import BASE62
from flask_rivo.ids import COUNTER_PREFIX
from flask_rivo.ids import counter_key
from flask_rivo.ids import is_counter_key
from flask_rivo.ids import is_session_id
from flask_rivo.ids import new_session_id
from flask_rivo.ids import seal_successor
from flask_rivo.ids import session_key
from flask_rivo.ids import unseal_successor


def test_random_id_is_base62_of_the_asked_length() -> None:
    assert re.fullmatch(r"[0-9A-Za-z]{22}", random_id())
    assert len(random_id(5)) == 5
    assert len({random_id() for _ in range(1000)}) == 1000
    with pytest.raises(ValueError, match="at least 1"):
        random_id(0)


def test_random_id_default_carries_at_least_128_bits() -> None:
    assert 22 * math.log2(len(BASE62)) >= 128


def test_cuid_is_compact_unique_and_sorts_by_time() -> None:
    earlier = cuid()
    time.sleep(0.002)
    later = [cuid() for _ in range(2000)]
    assert all(re.fullmatch(r"c[0-9A-Za-z]{24}", i) for i in later)
    assert len(set(later)) == 2000
    assert all(earlier < i for i in later)


def test_session_ids_are_256_bits_and_well_formed() -> None:
    ids = {new_session_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(is_session_id(i) for i in ids)
    assert (
        session_key(next(iter(ids)))
        == hashlib.sha256(next(iter(ids)).encode()).hexdigest()
    )


@pytest.mark.parametrize(
    "value", ["", "a" * 42, "a" * 44, "a" * 42 + "=", "a" * 42 + "é", "a" * 42 + "\n"]
)
def test_malformed_session_ids_are_refused(value: str) -> None:
    assert not is_session_id(value)


def test_sealed_successor_opens_only_with_the_old_id() -> None:
    old, new = new_session_id(), new_session_id()
    sealed = seal_successor(new, old)
    assert new not in sealed
    assert unseal_successor(sealed, old) == new
    assert unseal_successor(sealed, new_session_id()) is None
    assert unseal_successor("zz-not-hex", old) is None


@given(st.text(max_size=100))
def test_unsealing_garbage_never_raises(garbage: str) -> None:
    result = unseal_successor(garbage, new_session_id())
    assert result is None or is_session_id(result)


def test_counter_keys_are_as_long_as_session_keys_and_never_one() -> None:
    made = counter_key("account", "ann@example.com")
    assert len(made) == len(session_key(new_session_id())) == 64
    assert made.startswith(COUNTER_PREFIX) and is_counter_key(made)
    assert made == counter_key("account", "ann@example.com")  # deterministic
    assert "ann" not in made
    assert not any(is_counter_key(session_key(new_session_id())) for _ in range(100))


def test_counter_keys_of_different_parts_differ() -> None:
    # Joining the parts plainly would give these the same text.
    assert counter_key("a:b", "c") != counter_key("a", "b:c")
    assert counter_key("address", "2001:db8::") != counter_key("account", "2001:db8::")
    assert counter_key("x") != counter_key("x", "")
