"""What is particular to MemoryStore: its bound and its clock."""

from __future__ import annotations

import threading
import time

import pytest

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
