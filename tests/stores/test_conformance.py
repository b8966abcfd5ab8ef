"""What every SessionStore must do, written once and run against each store."""

from __future__ import annotations

import dataclasses
import threading
import time

from flask_rivo.ids import new_session_id
from flask_rivo.ids import replaced_mark
from flask_rivo.ids import session_key
from flask_rivo.stores import Record
from flask_rivo.stores import SessionStore


def key() -> str:
    return session_key(new_session_id())


def record(user_id: str | None = None, ttl: float = 3600, **data: str) -> Record:
    now = time.time()
    return Record(
        data=data or {"a": '"1"'},
        version=1,
        created_at=now,
        accessed_at=now,
        id_issued_at=now,
        expires_at=now + ttl,
        user_id=user_id,
        user_agent="Mozilla/5.0 (X11; Linux) Grüße",
        address="2001:db8::1",
    )


def test_save_then_load_returns_every_field(any_store: SessionStore) -> None:
    k, r = key(), record(user_id="u1", cart='["apples", {" t": "tag-like"}]', n="1")
    assert any_store.save(k, r, None) is True
    loaded = any_store.load(k)
    assert loaded is not None
    assert dict(loaded.data) == dict(r.data)
    for field in dataclasses.fields(Record):
        got, want = getattr(loaded, field.name), getattr(r, field.name)
        if isinstance(want, float):  # a store may keep times to the millisecond
            assert abs(got - want) < 0.001, field.name
        elif field.name != "data":
            assert got == want, field.name


def test_unicode_keys_and_values_round_trip(any_store: SessionStore) -> None:
    k = key()
    data = {"ключ": '"значение"', "emoji 🎉": '"✓"', "": '""', "x" * 200: '"long"'}
    any_store.save(k, dataclasses.replace(record(), data=data), None)
    loaded = any_store.load(k)
    assert loaded is not None and dict(loaded.data) == data


def test_load_of_a_missing_key_is_none(any_store: SessionStore) -> None:
    assert any_store.load(key()) is None


def test_create_only_save_refuses_an_existing_key(any_store: SessionStore) -> None:
    k = key()
    assert any_store.save(k, record(a='"first"'), None) is True
    assert any_store.save(k, record(a='"second"'), None) is False
    loaded = any_store.load(k)
    assert loaded is not None and loaded.data["a"] == '"first"'


def test_compare_and_swap_on_the_version(any_store: SessionStore) -> None:
    k, r = key(), record()
    any_store.save(k, r, None)
    v2 = dataclasses.replace(r, version=2, data={"a": '"2"'})
    assert any_store.save(k, v2, 1) is True
    stale = dataclasses.replace(r, version=2, data={"a": '"lost"'})
    assert any_store.save(k, stale, 1) is False
    assert any_store.save(key(), stale, 1) is False  # nothing there to swap
    loaded = any_store.load(k)
    assert loaded is not None and (loaded.version, loaded.data["a"]) == (2, '"2"')


def test_compare_and_swap_is_atomic_under_threads(any_store: SessionStore) -> None:
    k, r = key(), record()
    any_store.save(k, r, None)
    wins: list[int] = []

    def contender(n: int) -> None:
        if any_store.save(k, dataclasses.replace(r, version=2, data={"w": str(n)}), 1):
            wins.append(n)

    threads = [threading.Thread(target=contender, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wins) == 1
    loaded = any_store.load(k)
    assert loaded is not None and loaded.data == {"w": str(wins[0])}


def test_touch_moves_the_times_but_not_the_version(any_store: SessionStore) -> None:
    k, r = key(), record()
    any_store.save(k, r, None)
    any_store.touch(k, r.accessed_at + 30, r.expires_at + 30, 1)
    loaded = any_store.load(k)
    assert loaded is not None
    assert loaded.version == 1
    assert abs(loaded.accessed_at - (r.accessed_at + 30)) < 0.01
    assert abs(loaded.expires_at - (r.expires_at + 30)) < 0.01
    any_store.touch(key(), 1.0, 2.0, 1)  # a missing key: no error, nothing made


def test_touch_of_a_replaced_record_does_nothing(any_store: SessionStore) -> None:
    k, r = key(), record()
    any_store.save(k, r, None)
    short = dataclasses.replace(r, version=2, expires_at=time.time() + 5)
    assert any_store.save(k, short, 1)
    any_store.touch(k, time.time(), time.time() + 86400, 1)  # decided on version 1
    loaded = any_store.load(k)
    assert loaded is not None
    assert loaded.expires_at < time.time() + 10


def test_touch_never_revives_an_expired_record(any_store: SessionStore) -> None:
    k = key()
    any_store.save(k, record(ttl=-1), None)
    any_store.touch(k, time.time(), time.time() + 3600, 1)
    loaded = any_store.load(k)
    assert loaded is None or loaded.expires_at <= time.time()


def test_delete(any_store: SessionStore) -> None:
    k = key()
    any_store.save(k, record(), None)
    any_store.delete(k)
    assert any_store.load(k) is None
    any_store.delete(k)  # twice is fine


def test_expired_records_are_not_served_as_live(any_store: SessionStore) -> None:
    k = key()
    any_store.save(k, record(ttl=-1), None)
    loaded = any_store.load(k)
    assert loaded is None or loaded.expires_at <= time.time()
    assert any_store.save(k, record(), None) is True  # an expired key may be reused


def test_user_index(any_store: SessionStore) -> None:
    mine = [key() for _ in range(3)]
    theirs = key()
    for k in mine:
        any_store.save(k, record(user_id="alice"), None)
    any_store.save(theirs, record(user_id="bob"), None)
    any_store.save(key(), record(), None)  # anonymous
    assert sorted(k for k, _ in any_store.user_sessions("alice")) == sorted(mine)
    assert all(r.user_id == "alice" for _, r in any_store.user_sessions("alice"))
    assert any_store.user_sessions("nobody") == []
    assert any_store.delete_user_sessions("alice", keep=mine[0]) == 2
    assert [k for k, _ in any_store.user_sessions("alice")] == [mine[0]]
    assert any_store.load(theirs) is not None
    assert any_store.delete_user_sessions("alice") == 1
    assert any_store.user_sessions("alice") == []


def test_user_index_follows_changes_of_user(any_store: SessionStore) -> None:
    k, r = key(), record()
    any_store.save(k, r, None)
    assert any_store.save(k, dataclasses.replace(r, version=2, user_id="carol"), 1)
    assert [x for x, _ in any_store.user_sessions("carol")] == [k]
    assert any_store.save(k, dataclasses.replace(r, version=3, user_id=None), 2)
    assert any_store.user_sessions("carol") == []
    any_store.save(k2 := key(), record(user_id="carol"), None)
    any_store.delete(k2)
    assert any_store.user_sessions("carol") == []


def test_an_empty_user_id_is_a_user_not_none(any_store: SessionStore) -> None:
    k = key()
    any_store.save(k, record(user_id=""), None)
    loaded = any_store.load(k)
    assert loaded is not None and loaded.user_id == ""
    assert [x for x, _ in any_store.user_sessions("")] == [k]


def test_user_ids_differing_in_trailing_spaces_are_different_users(
    any_store: SessionStore,
) -> None:
    # MySQL's collations compare "ann" and "ann " as equal.
    ann, spaced = key(), key()
    any_store.save(ann, record(user_id="ann"), None)
    any_store.save(spaced, record(user_id="ann "), None)
    assert [x for x, _ in any_store.user_sessions("ann")] == [ann]
    assert any_store.delete_user_sessions("ann") == 1
    assert [x for x, _ in any_store.user_sessions("ann ")] == [spaced]


def test_expired_sessions_are_not_listed_for_a_user(any_store: SessionStore) -> None:
    any_store.save(key(), record(user_id="dave", ttl=-1), None)
    live = key()
    any_store.save(live, record(user_id="dave"), None)
    assert [
        k for k, r in any_store.user_sessions("dave") if r.expires_at > time.time()
    ] == [live]


def test_purge_expired(any_store: SessionStore) -> None:
    dead = [key() for _ in range(5)]
    for k in dead:
        any_store.save(k, record(ttl=-10, user_id="erin"), None)
    live = key()
    any_store.save(live, record(user_id="erin"), None)
    removed = any_store.purge_expired(time.time())
    assert removed in (0, 5)  # 0 for stores that expire records themselves
    assert any_store.load(live) is not None
    for k in dead:
        assert any_store.load(k) is None


def began(user_id: str, seconds_ago: float, ttl: float = 3600) -> Record:
    """A session of ``user_id`` that began ``seconds_ago``."""
    return dataclasses.replace(
        record(user_id=user_id, ttl=ttl), created_at=time.time() - seconds_ago
    )


def test_limit_user_sessions_ends_the_oldest_first(any_store: SessionStore) -> None:
    ages = [30, 50, 10, 40, 20]  # saved out of order: age counts, not saving
    keys = {age: key() for age in ages}
    for age in ages:
        any_store.save(keys[age], began("ann", age), None)
    bobs = key()
    any_store.save(bobs, began("bob", 100), None)  # older than all of ann's
    assert any_store.limit_user_sessions("ann", 3) == 2
    assert sorted(k for k, _ in any_store.user_sessions("ann")) == sorted(
        [keys[10], keys[20], keys[30]]
    )
    assert any_store.load(keys[50]) is None and any_store.load(keys[40]) is None
    assert any_store.load(bobs) is not None
    assert any_store.limit_user_sessions("ann", 3) == 0  # within the cap now


def test_limit_user_sessions_within_the_cap_ends_nothing(
    any_store: SessionStore,
) -> None:
    mine = [key() for _ in range(3)]
    for age, k in enumerate(mine):
        any_store.save(k, began("ann", age), None)
    assert any_store.limit_user_sessions("ann", 10) == 0
    assert any_store.limit_user_sessions("ann", 3) == 0
    assert sorted(k for k, _ in any_store.user_sessions("ann")) == sorted(mine)
    assert any_store.limit_user_sessions("nobody", 1) == 0


def test_limit_user_sessions_never_ends_the_spared_one(
    any_store: SessionStore,
) -> None:
    oldest, old, newer, newest = (key() for _ in range(4))
    for age, k in ((40, oldest), (30, old), (20, newer), (10, newest)):
        any_store.save(k, began("ann", age), None)
    assert any_store.limit_user_sessions("ann", 2, spare=oldest) == 2
    assert sorted(k for k, _ in any_store.user_sessions("ann")) == sorted(
        [oldest, newest]
    )


def test_limit_user_sessions_drops_dead_sessions_before_live_ones(
    any_store: SessionStore,
) -> None:
    dead = [key(), key()]
    for k in dead:
        any_store.save(k, began("ann", 100, ttl=0.2), None)
    live = [key() for _ in range(3)]
    for age, k in zip((30, 20, 10), live, strict=True):
        any_store.save(k, began("ann", age), None)
    time.sleep(0.3)
    assert any_store.limit_user_sessions("ann", 3) == 0  # the dead do not count
    assert sorted(k for k, _ in any_store.user_sessions("ann")) == sorted(live)
    assert any_store.limit_user_sessions("ann", 2) == 1
    assert sorted(k for k, _ in any_store.user_sessions("ann")) == sorted(live[1:])


def test_limit_user_sessions_matches_the_user_exactly(
    any_store: SessionStore,
) -> None:
    anns = [key(), key()]
    spaced = [key(), key()]
    for age, (k, s) in enumerate(zip(anns, spaced, strict=True)):
        any_store.save(k, began("ann", 10 - age), None)
        any_store.save(s, began("ann ", 20 - age), None)  # older: first to go
    assert any_store.limit_user_sessions("ann", 1) == 1
    assert [k for k, _ in any_store.user_sessions("ann")] == [anns[1]]
    assert sorted(k for k, _ in any_store.user_sessions("ann ")) == sorted(spaced)


def test_limit_user_sessions_follows_rotation_and_log_out(
    any_store: SessionStore,
) -> None:
    first, second, third = key(), key(), key()
    any_store.save(first, began("ann", 30), None)
    any_store.save(second, began("ann", 20), None)
    any_store.save(third, began("ann", 10), None)
    # The first session's ID is rotated: a new key, the same beginning; the
    # old key becomes a pointer filed under nobody.
    loaded = any_store.load(first)
    assert loaded is not None
    rotated = key()
    any_store.save(rotated, loaded, None)
    pointer = dataclasses.replace(loaded, version=2, user_id=None, successor="00")
    assert any_store.save(first, pointer, 1)
    # The third logs out (filed under nobody).
    third_record = any_store.load(third)
    assert third_record is not None
    assert any_store.save(
        third, dataclasses.replace(third_record, version=2, user_id=None), 1
    )
    assert any_store.limit_user_sessions("ann", 1) == 1
    assert [k for k, _ in any_store.user_sessions("ann")] == [second]
    assert any_store.load(rotated) is None  # the oldest, though rotated last
    assert any_store.load(first) is not None  # the pointer is nobody's session
    assert any_store.load(third) is not None


def test_a_tombstone_is_kept_returned_and_nobody_s(any_store: SessionStore) -> None:
    """A regenerate replaces the old ID's record with a tombstone (see
    commit.retire): the store keeps its mark, files it under nobody (not
    listed, not ended with the user's sessions, not counted by the cap), and
    lets it expire as any other record."""
    old, new = key(), key()
    any_store.save(old, record(user_id="ann"), None)
    loaded = any_store.load(old)
    assert loaded is not None
    any_store.save(new, loaded, None)
    mark = replaced_mark()
    tombstone = dataclasses.replace(
        loaded,
        data={},
        version=2,
        user_id=None,
        expires_at=time.time() + 0.3,
        successor=mark,
    )
    assert any_store.save(old, tombstone, 1)
    # A second request's tombstone of the same record (another mark) is a
    # second write, refused.
    again = dataclasses.replace(tombstone, successor=replaced_mark())
    assert not any_store.save(old, again, 1)
    found = any_store.load(old)
    assert found is not None
    assert (found.successor, found.user_id, dict(found.data)) == (mark, None, {})
    assert [k for k, _ in any_store.user_sessions("ann")] == [new]
    assert any_store.limit_user_sessions("ann", 1) == 0
    assert any_store.load(new) is not None
    assert any_store.delete_user_sessions("ann") == 1
    assert any_store.load(old) is not None
    time.sleep(0.4)
    assert any_store.purge_expired(time.time()) in (0, 1)  # 0: expired by itself
    assert any_store.load(old) is None
