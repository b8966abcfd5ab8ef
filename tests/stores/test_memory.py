"""What is particular to MemoryStore: its bounded pools and its clock."""

from __future__ import annotations

import dataclasses
import threading
import time

import pytest

from flask_rivo.ids import counter_key
from flask_rivo.ids import new_session_id
from flask_rivo.ids import session_key
from flask_rivo.stores import MemoryStore
from flask_rivo.stores import Record


def record(user_id: str | None = None, expires_at: float | None = None) -> Record:
    now = time.time()
    return Record({}, 1, now, now, now, expires_at or now + 60, user_id=user_id)


def test_least_recently_used_sessions_go_first() -> None:
    store = MemoryStore(maxsize=3)
    for k in "abc":
        store.save(k, record(user_id="u"), None)
    store.load("a")  # a is now the most recently used
    store.save("d", record(user_id="u"), None)
    assert len(store) == 3
    assert store.load("b") is None
    assert all(store.load(k) is not None for k in "acd")
    assert sorted(k for k, _ in store.user_sessions("u")) == ["a", "c", "d"]


def test_bound_holds_under_a_flood_from_many_threads() -> None:
    store = MemoryStore(maxsize=100)

    def flood(prefix: int) -> None:
        for n in range(500):
            store.save(f"{prefix}-{n}", record(user_id=str(prefix)), None)

    threads = [threading.Thread(target=flood, args=(p,)) for p in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(store) == 100
    assert sum(len(store.user_sessions(str(p))) for p in range(8)) == 100


def test_expiry_follows_the_given_clock() -> None:
    now = [1000.0]
    store = MemoryStore(clock=lambda: now[0])
    store.save("k", Record({}, 1, 0, 0, 0, 1060.0), None)
    assert store.load("k") is not None
    now[0] = 1060.0
    assert store.load("k") is None
    assert len(store) == 0


def test_stored_data_cannot_be_changed_from_outside() -> None:
    store = MemoryStore()
    data = {"a": "1"}
    store.save("k", Record(data, 1, 0, 0, 0, time.time() + 60), None)
    data["a"] = "changed"
    loaded = store.load("k")
    assert loaded is not None and loaded.data == {"a": "1"}
    with pytest.raises(TypeError):
        loaded.data["a"] = "x"  # type: ignore[index]


def test_maxsize_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        MemoryStore(maxsize=0)


def anonymous_flood(store: MemoryStore, count: int) -> list[str]:
    keys = [session_key(new_session_id()) for _ in range(count)]
    for k in keys:
        store.save(k, record(), None)
    return keys


def test_an_anonymous_flood_ends_no_login_and_resets_no_counter() -> None:
    store = MemoryStore(maxsize=50)
    logged_in = session_key(new_session_id())
    store.save(logged_in, record(user_id="ann"), None)
    counter = counter_key("account", "ann@example.com")
    store.save(counter, record(), None)
    # A logged-in session rotated: its old ID's pointer, filed under nobody.
    rotated, successor = session_key(new_session_id()), session_key(new_session_id())
    store.save(rotated, record(user_id="bob"), None)
    store.save(successor, record(user_id="bob"), None)
    pointer = dataclasses.replace(record(), version=2, successor="sealed")
    assert store.save(rotated, pointer, 1)
    early = anonymous_flood(store, 10)
    late = anonymous_flood(store, 60)
    for k in (logged_in, counter, rotated, successor):
        assert store.load(k) is not None
    assert [k for k, _ in store.user_sessions("ann")] == [logged_in]
    # The flood pushed out only anonymous sessions, its own first.
    assert all(store.load(k) is None for k in early + late[:10])
    assert all(store.load(k) is not None for k in late[10:])
    assert len(store) == 50 + 3 + 1


def test_each_pool_is_bounded_on_its_own() -> None:
    store = MemoryStore(maxsize=50)
    counters = [counter_key("address", str(n)) for n in range(60)]
    for k in counters:
        store.save(k, record(), None)
    users = [session_key(new_session_id()) for _ in range(60)]
    for n, k in enumerate(users):
        store.save(k, record(user_id=str(n)), None)
    anonymous_flood(store, 60)
    assert len(store) == 150
    assert [store.load(k) is not None for k in counters] == [False] * 10 + [True] * 50
    assert [store.load(k) is not None for k in users] == [False] * 10 + [True] * 50


def test_a_session_changes_pool_when_it_logs_in_and_out() -> None:
    store = MemoryStore(maxsize=5)
    k = session_key(new_session_id())
    store.save(k, record(), None)
    assert store.save(k, dataclasses.replace(record(user_id="ann"), version=2), 1)
    anonymous_flood(store, 10)
    assert store.load(k) is not None  # logged in: out of the flood's reach
    assert store.save(k, dataclasses.replace(record(), version=3), 2)  # logged out
    anonymous_flood(store, 10)
    assert store.load(k) is None
    assert store.user_sessions("ann") == []
