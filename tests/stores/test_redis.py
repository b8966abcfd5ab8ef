"""What is particular to RedisStore.

Redis expires sessions itself: each session hash carries a native TTL, and
the per-user set of session keys lives at least as long as its longest
session and is pruned of dead members as they are met. Keys start with a
prefix (a hash tag on a Redis Cluster), every write is one Lua script, so a
request costs one round trip to read and one to write, and clients the
store makes from a URL time out instead of hanging. The generic behaviour
is in test_conformance.py; here the private servers of tests/servers.py
give a Cluster, a Sentinel and a server that can hang.
"""

from __future__ import annotations

import ctypes
import dataclasses
import enum
import gc
import os
import socket
import struct
import sys
import threading
import time
import typing as t
import uuid

import flask
import pytest
import redis
import servers
from backends import REDIS_URL
from backends import use
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from servers import REDIS_CLI
from servers import REDIS_SERVER
from servers import RedisCluster
from servers import RedisSentinel
from servers import RedisServer
from stores import test_conformance as conformance
from support import FakeClock
from support import require
from support import session_app

from flask_rivo import StoreError
from flask_rivo.ids import new_session_id
from flask_rivo.ids import session_key
from flask_rivo.stores import Record
from flask_rivo.stores.redis import CONNECT_TIMEOUT
from flask_rivo.stores.redis import SOCKET_TIMEOUT
from flask_rivo.stores.redis import RedisStore
from flask_rivo.stores.redis_conn import KernelTimedConnection
from flask_rivo.stores.redis_conn import KernelTimedUnixConnection
from flask_rivo.stores.redis_conn import kernel_timed
from flask_rivo.stores.redis_conn import pack as pack_command
from flask_rivo.stores.redis_lua import pack

if t.TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterator
    from pathlib import Path

    from backends import Backend
    from backends import Redis as RedisBackend

MakeStore = t.Callable[..., RedisStore]


def key() -> str:
    return session_key(new_session_id())


def record(user_id: str | None = "ann", ttl: float = 3600, version: int = 1) -> Record:
    now = time.time()
    return Record({"a": '"1"'}, version, now, now, now, now + ttl, user_id=user_id)


def exercise(app: flask.Flask, uid: str) -> None:
    """Set, get and log in through ``app``, then list and end the user's
    sessions through its store."""
    browser, other = app.test_client(), app.test_client()
    assert browser.get("/set/cart/apples").status_code == 200
    assert browser.get("/get/cart").text == "'apples'"
    assert browser.get(f"/login/{uid}").text == "in"
    assert other.get(f"/login/{uid}").text == "in"
    assert browser.get("/get/cart").text == "'apples'"  # carried over the log-in
    with app.app_context():
        store = app.extensions["rivo_sessions"].store
        assert len(store.user_sessions(uid)) == 2
        assert store.delete_user_sessions(uid) == 2
        assert store.user_sessions(uid) == []
    assert browser.get("/get/cart").text == "None"  # logged out everywhere


# -- the shared server ----------------------------------------------------


@pytest.fixture
def shared(backends: dict[str, Backend]) -> Iterator[MakeStore]:
    """Makes stores on the shared server, each under a prefix of its own
    whose keys are removed after the test."""
    backend = t.cast("RedisBackend", backends["redis"])
    use(backend)
    made: list[RedisStore] = []

    def make(client: redis.Redis | str | None = None, **options: t.Any) -> RedisStore:
        prefix = f"rivotest:{uuid.uuid4().hex[:12]}:"
        made.append(RedisStore(client or backend.client, prefix=prefix, **options))
        return made[-1]

    yield make
    for store in made:
        backend.clear(store)
        store.close()


def test_a_write_whose_reply_was_lost_is_not_reported_as_failed(
    shared: MakeStore, backends: dict[str, Backend]
) -> None:
    """The script ran, the reply was lost, redis-py sent it again: the script
    recognises its own write and says so, instead of a conflict (which would
    leave an orphan session behind)."""
    port = redis.Redis.from_url(REDIS_URL).connection_pool.connection_kwargs["port"]
    with servers.ReplyDropper(port) as proxy:
        store = shared(f"redis://127.0.0.1:{proxy.port}/0")
        new, old = key(), key()
        store.save(old, record(), None)
        proxy.drop_next_reply()
        assert store.save(new, record(), None) is True
        proxy.drop_next_reply()
        changed = dataclasses.replace(record(), data={"x": '"2"'}, version=2)
        assert store.save(old, changed, 1) is True
        assert sorted(k for k, _ in store.user_sessions("ann")) == sorted([new, old])
        found = store.load(old)
        assert found is not None and (found.version, found.data) == (2, {"x": '"2"'})


def test_sessions_and_user_sets_carry_a_native_ttl(shared: MakeStore) -> None:
    store = shared()
    client = store.client
    k, user = key(), f"{store.prefix}user:ann"
    r = record(ttl=100)
    assert store.save(k, r, None)
    session_ttl = client.pttl(f"{store.prefix}s:{k}")
    assert 99_000 < session_ttl <= 100_000
    assert client.pttl(user) >= session_ttl - 50  # read a moment later
    store.touch(k, time.time(), time.time() + 200, 1)
    session_ttl = client.pttl(f"{store.prefix}s:{k}")
    assert 199_000 < session_ttl <= 200_000
    assert client.pttl(user) >= session_ttl - 50


def test_saving_an_expired_record_leaves_no_key(shared: MakeStore) -> None:
    store = shared()
    fresh, live = key(), key()
    assert store.save(fresh, record(user_id="bob", ttl=-1), None)
    assert store.save(live, record(), None)
    assert store.save(live, record(ttl=0, version=2), 1)  # ended by CAS
    prefix = store.prefix
    assert store.client.exists(f"{prefix}s:{fresh}", f"{prefix}s:{live}") == 0
    assert store.client.exists(f"{prefix}user:bob") == 0


def test_stores_with_other_prefixes_do_not_see_each_other(shared: MakeStore) -> None:
    mine, theirs = shared(), shared()
    k = key()
    assert mine.save(k, record(user_id="ann"), None)
    assert theirs.load(k) is None
    assert theirs.user_sessions("ann") == []
    assert theirs.delete_user_sessions("ann") == 0
    assert theirs.save(k, dataclasses.replace(record(user_id="ann"), version=7), None)
    assert [r.version for _, r in mine.user_sessions("ann")] == [1]
    theirs.delete(k)
    assert mine.load(k) is not None


def test_user_sets_drop_expired_members(shared: MakeStore) -> None:
    store = shared()

    def members(user: str) -> list[str]:
        found = store.client.zrange(f"{store.prefix}user:{user}", 0, -1)
        return [member.decode() for member in found]

    listed, dead_listed = key(), [key(), key()]
    for k in dead_listed:
        store.save(k, record(user_id="ann", ttl=0.3), None)
    store.save(listed, record(user_id="ann"), None)
    capped, dead_capped = [key(), key()], [key(), key()]
    for k in dead_capped:  # the oldest, and dead by the time the cap is kept
        store.save(k, record(user_id="bob", ttl=0.3), None)
    for k in capped:
        store.save(k, record(user_id="bob"), None)
    time.sleep(0.4)
    # Listing a user's sessions drops the dead ones from the set.
    assert [k for k, _ in store.user_sessions("ann")] == [listed]
    assert members("ann") == [listed]
    # Keeping the cap pops the oldest members, dead or alive: the set never
    # holds more than the cap, and the dead cost no live session its place.
    assert store.limit_user_sessions("bob", 2) == 0
    assert members("bob") == capped


def test_a_user_set_is_sorted_by_when_sessions_began(shared: MakeStore) -> None:
    """A rotated ID takes its session's place, so the oldest session ends
    first however recently its ID changed."""
    store = shared()
    first, second, rotated = key(), key(), key()
    began = record(user_id="cy")
    store.save(first, began, None)
    later = dataclasses.replace(began, created_at=began.created_at + 5)
    store.save(second, later, None)
    store.save(rotated, dataclasses.replace(began, id_issued_at=time.time()), None)
    store.delete(first)
    index = f"{store.prefix}user:cy"
    assert store.client.zrange(index, 0, -1, withscores=True) == [
        (rotated.encode(), pytest.approx(began.created_at)),
        (second.encode(), pytest.approx(later.created_at)),
    ]


def test_a_client_that_decodes_responses_works(shared: MakeStore) -> None:
    with redis.Redis.from_url(REDIS_URL, decode_responses=True) as client:
        store = shared(client)
        k, other = key(), key()
        assert store.save(k, record(), None)
        assert store.save(other, record(), None)
        loaded = store.load(k)
        assert loaded is not None and loaded.user_id == "ann"
        assert loaded.data == {"a": '"1"'}
        store.touch(k, loaded.accessed_at + 5, loaded.expires_at + 5, 1)
        touched = store.load(k)
        assert touched is not None and touched.expires_at == loaded.expires_at + 5
        listed = dict(store.user_sessions("ann"))
        assert sorted(listed) == sorted([k, other])
        assert listed[k].user_id == "ann"
        assert store.delete_user_sessions("ann", keep=other) == 1
        assert store.load(k) is None
        store.delete(other)
        assert store.user_sessions("ann") == []


class CountingConnection(redis.Connection):
    """Counts the commands (or pipelines) sent: one per round trip."""

    sent = 0

    def send_packed_command(self, command: t.Any, check_health: bool = True) -> None:
        type(self).sent += 1
        super().send_packed_command(command, check_health)


def test_a_request_takes_one_round_trip_to_read_and_one_to_write(
    shared: MakeStore,
) -> None:
    pool = redis.ConnectionPool.from_url(REDIS_URL, connection_class=CountingConnection)
    clock = FakeClock()
    with redis.Redis(connection_pool=pool) as client:
        app = session_app(RIVO_SESSION_STORE=shared(client, clock=clock))
        app.extensions["rivo_sessions"].clock = clock
        browser = app.test_client()

        def round_trips(path: str) -> int:
            before = CountingConnection.sent
            assert browser.get(path).status_code == 200
            return CountingConnection.sent - before

        # Warm up: the first use of a script on a server costs EVALSHA,
        # NOSCRIPT, SCRIPT LOAD and EVALSHA again, and a new connection
        # sends its handshake; after this every count below is exact.
        warm = app.test_client()
        warm.get("/set/a/1")  # the save script
        clock.advance(60)
        warm.get("/get/a")  # the touch script

        assert round_trips("/nothing") == 0  # no cookie, nothing stored
        assert round_trips("/set/a/1") == 1  # a new session: one write
        assert round_trips("/get/a") == 1  # read only
        assert round_trips("/nothing") == 0  # a cookie, but the session unused
        clock.advance(60)  # RIVO_SESSION_TOUCH_INTERVAL
        assert round_trips("/get/a") == 2  # read, then touch
        assert round_trips("/get/a") == 1
        assert round_trips("/set/a/2") == 2  # read, then write
        assert browser.get("/get/a").text == "'2'"
    pool.disconnect()  # a pool passed in is the caller's to close


def test_a_store_made_from_a_url_keeps_a_connection_per_thread(
    shared: MakeStore,
) -> None:
    """Its commands skip the pool: each thread keeps one connection, which
    goes back to the pool when the thread ends."""
    store = shared(REDIS_URL)
    pool = store.client.connection_pool
    k = key()
    assert store.save(k, record(), None)
    seen: list[int] = []
    together = threading.Barrier(3, timeout=10)

    def work() -> None:
        for _ in range(3):
            assert store.load(k) is not None
            seen.append(store._command("CLIENT", "ID"))
        together.wait()  # all three hold theirs at once

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    gc.collect()
    assert len(seen) == 9
    assert len(set(seen)) == 3  # one connection per thread, kept
    # This thread's (from the save) is still held; the others went back.
    assert len(pool._in_use_connections) == 1  # type: ignore[attr-defined]
    assert len(pool._available_connections) == 3  # type: ignore[attr-defined]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_a_forked_child_never_uses_its_parents_connection(shared: MakeStore) -> None:
    store = shared(REDIS_URL)
    k = key()
    assert store.save(k, record(), None)
    parent = store._command("CLIENT", "ID")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child; its result goes through the pipe)
        try:
            found = store.load(k)
            child = store._command("CLIENT", "ID")
            os.write(write, f"{child} {found is not None}".encode())
        finally:
            os._exit(0)
    os.close(write)
    _, status = os.waitpid(pid, 0)
    answer = os.read(read, 100).decode().split()
    os.close(read)
    assert status == 0
    assert answer[1] == "True"
    assert int(answer[0]) != parent
    assert store._command("CLIENT", "ID") == parent  # the parent's is unharmed
    assert store.load(k) is not None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="libc fork(2)")
def test_a_child_forked_from_c_never_uses_its_parents_connection(
    shared: MakeStore,
) -> None:
    """uWSGI forks its workers with fork(2) from C and, by default, runs
    none of Python's at-fork hooks (``os.register_at_fork``): a worker must
    still not share the master's connection, whose replies would go to
    whichever process reads first (one user's session to another)."""
    libc = ctypes.CDLL(None, use_errno=True)
    store = shared(REDIS_URL)
    assert store.load(key()) is None  # the master's thread keeps a connection
    parent = store._command("CLIENT", "ID")
    read, write = os.pipe()
    pid = libc.fork()
    if pid == 0:  # pragma: no cover (the child; its result goes through the pipe)
        try:
            os.write(write, str(store._command("CLIENT", "ID")).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    os.close(read)
    assert int(child) != parent
    assert store._command("CLIENT", "ID") == parent


def test_a_pubsub_on_the_stores_client_blocks_for_as_long_as_asked() -> None:
    """``get_message(timeout=None)`` (and ``listen()``) wait for the next
    message however long it takes: redis-py reads with ``timeout=None``,
    which lifts the socket timeout for that read. The kernel's must be
    lifted too, and put back after."""
    store = RedisStore(f"{REDIS_URL}?socket_timeout=0.3")
    channel = f"rivotest:{uuid.uuid4().hex}"
    pubsub = store.client.pubsub()  # type: ignore[no-untyped-call]
    pubsub.subscribe(channel)
    assert pubsub.get_message(timeout=1)["type"] == "subscribe"
    publisher = threading.Timer(0.8, store.client.publish, (channel, "hi"))
    publisher.start()
    try:
        message = pubsub.get_message(timeout=None)
        sock = pubsub.connection._sock
        kernel = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16)
    finally:
        publisher.join()
        pubsub.close()
        store.close()
    assert message is not None
    assert message["data"] == b"hi"
    assert struct.unpack("@ll", kernel) == (0, 300_000)  # put back


class _Cap(enum.IntEnum):
    ONE = 1


@pytest.mark.parametrize("cap", [_Cap.ONE, type("Whole", (int,), {})(1)])
def test_a_per_user_cap_of_an_int_subclass_is_kept(shared: MakeStore, cap: int) -> None:
    """The settings take any whole number but a bool (an IntEnum's member,
    an int subclass): the log-in that ends the oldest session must not fail
    on it (a TypeError from packing the command: HTTP 500)."""
    app = session_app(
        RIVO_SESSION_STORE=shared(REDIS_URL), RIVO_SESSION_MAX_PER_USER=cap
    )
    for browser in (app.test_client(), app.test_client()):
        assert browser.get("/login/ann").text == "in"
    with app.app_context():
        store = app.extensions["rivo_sessions"].store
        assert len(store.user_sessions("ann")) == 1


#: What the store sends: text of any kind and whole numbers of any size.
_ARGUMENTS = st.lists(st.one_of(st.text(), st.integers()), min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(args=_ARGUMENTS)
def test_a_command_is_packed_byte_for_byte_as_redis_py_packs_it(
    args: list[str | int],
) -> None:
    """:mod:`.redis_conn` packs the hot commands itself: every byte must be
    the one redis-py would send, as a command that falls back on redis-py
    (after a dropped connection) must name the same key."""
    packed = pack_command(("GET", *args))
    assert packed == b"".join(redis.Connection().pack_command("GET", *args))


@pytest.mark.parametrize("wrong", [1.5, True, b"raw", None])
def test_packing_refuses_what_the_store_never_sends(wrong: object) -> None:
    """A float would lose its digits as a whole number: a bug, caught."""
    with pytest.raises(TypeError, match="cannot send"):
        pack_command(("GET", wrong))


@pytest.mark.parametrize("decode", [False, True])
def test_a_client_that_encodes_other_than_in_utf_8_is_refused(decode: bool) -> None:
    """Its user indexes would be keyed in its encoding and its records read
    back in UTF-8: a user's sessions could not be listed or ended, and a
    client that decodes would garble the data. Refused when the store is
    made, with what to do; an alias of UTF-8 is fine."""
    for encoding in ("latin-1", "no-such-codec"):
        other = redis.Redis.from_url(
            REDIS_URL, encoding=encoding, decode_responses=decode
        )
        with pytest.raises(ValueError, match="encoding='utf-8'"):
            RedisStore(other)
        other.close()
    alias = redis.Redis.from_url(REDIS_URL, encoding="UTF8", decode_responses=decode)
    RedisStore(alias).close()
    alias.close()


def test_a_user_id_outside_ascii_is_one_key_both_ways(shared: MakeStore) -> None:
    """The store's own packing (its writes) and redis-py's (the app's own
    client, a retried command) name one key for the user's index."""
    store = shared(REDIS_URL)
    assert store._send is not None  # the packing under test is in use
    k = key()
    assert store.save(k, record(user_id="Zo\u00eb \U0001f600"), None)
    index = f"{store.prefix}user:Zo\u00eb \U0001f600"
    assert store.client.zcard(index) == 1
    assert [found for found, _ in store.user_sessions("Zo\u00eb \U0001f600")] == [k]
    assert store._execute("GET", f"{store.prefix}s:{k}") == store._command(
        "GET", f"{store.prefix}s:{k}"
    )


def test_a_store_made_from_a_url_has_timeouts() -> None:
    store = RedisStore(REDIS_URL)
    options = store.client.connection_pool.connection_kwargs
    assert options["socket_timeout"] == SOCKET_TIMEOUT
    assert options["socket_connect_timeout"] == CONNECT_TIMEOUT
    store.close()


# -- private servers ------------------------------------------------------


@pytest.mark.parametrize("over", ["tcp", "unix"])
def test_a_hung_server_gets_503_not_a_hung_worker(tmp_path: Path, over: str) -> None:
    """The socket timeout holds for a read and for a write whose command
    fills the socket's buffers, over TCP and a Unix socket: the kernel keeps
    it (the socket blocks, so Python polls it before nothing), and it runs
    out once, not again on a retry."""
    require(REDIS_SERVER is not None, "redis-server not installed")
    path = tmp_path / "redis.sock"
    with RedisServer(tmp_path, "--unixsocket", str(path)) as server:
        where = server.url if over == "tcp" else f"unix://{path}"
        url = f"{where}?socket_timeout=0.5&socket_connect_timeout=0.5"
        app = session_app(RIVO_SESSION_STORE="redis", RIVO_SESSION_STORE_URL=url)
        with app.app_context():
            store = app.extensions["rivo_sessions"].store
        try:
            options = store.client.connection_pool.connection_kwargs
            assert options["socket_timeout"] == 0.5  # the URL's, not the default
            assert options["socket_connect_timeout"] == 0.5
            browser = app.test_client()
            browser.get("/set/cart/apples")
            sock = store._send._local.lease.connection._sock
            assert sock.gettimeout() is None  # blocking: no poll per call
            kernel = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16)
            assert struct.unpack("@ll", kernel) == (0, 500_000)
            server.pause()  # SIGSTOP: connections open, nothing answers
            started = time.monotonic()
            response = browser.get("/get/cart")
            read = time.monotonic() - started
            writes = []
            for size in (10, 2**24):  # 16 MiB fill every buffer on the way
                big = dataclasses.replace(record(), data={"a": "x" * size})
                started = time.monotonic()
                with pytest.raises(StoreError):
                    store.save(key(), big, None)
                writes.append(time.monotonic() - started)
            server.resume()
            assert response.status_code == 503
            assert 0.5 <= read < 0.95  # one timeout
            assert 0.5 <= writes[0] < 0.95  # sent at once, the reply timed out
            assert 0.5 <= writes[1] < 0.95  # sent on Python's timeout
            assert browser.get("/get/cart").text == "'apples'"
        finally:
            store.close()


def test_a_large_command_to_a_slow_reader_fails_after_the_timeout() -> None:
    """The kernel's timeout counts for each send call, so a slow reader
    would stretch it without end; a command above KERNEL_SEND_LIMIT is sent
    on Python's, which counts for all of it."""
    port = redis.Redis.from_url(REDIS_URL).connection_pool.connection_kwargs["port"]
    with servers.SlowReader(port, rate=10_000_000) as proxy:
        url = f"redis://127.0.0.1:{proxy.port}/0?socket_timeout=0.3"
        store = RedisStore(url, prefix=f"rivotest:{uuid.uuid4().hex[:12]}:")
        try:
            assert store.load(key()) is None  # connected, handshake done
            big = dataclasses.replace(record(), data={"a": "x" * 2**24})  # 1.7 s
            started = time.monotonic()
            with pytest.raises(StoreError):
                store.save(key(), big, None)
            assert time.monotonic() - started < 0.9
        finally:
            store.close()


@pytest.mark.parametrize("timeout", ["0", "-1"])
def test_a_timeout_that_is_not_positive_is_left_to_redis_py(timeout: str) -> None:
    """Zero or less never becomes the kernel's zero, which is no timeout."""
    store = RedisStore(f"{REDIS_URL}?socket_timeout={timeout}")
    connection = store.client.connection_pool.make_connection()
    assert connection.kernel_timeout is None
    assert connection.socket_timeout == float(timeout)
    store.close()


def test_only_plain_tcp_and_unix_sockets_leave_timeouts_to_the_kernel() -> None:
    """TLS sockets poll as redis-py makes them (what the kernel's timeout
    does under TLS is not known to be the same)."""
    assert kernel_timed("redis://h:6379/0") == {
        "connection_class": KernelTimedConnection
    }
    assert kernel_timed("REDIS://h") == {"connection_class": KernelTimedConnection}
    assert kernel_timed("unix:///tmp/r.sock") == {
        "connection_class": KernelTimedUnixConnection
    }
    assert kernel_timed("rediss://h:6380/0") == {}
    store = RedisStore("rediss://127.0.0.1:1/0")
    assert store.client.connection_pool.connection_class is redis.SSLConnection
    store.close()


def commands(client: redis.Redis) -> dict[str, int]:
    """How often the server ran each command, those run by scripts included."""
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): row["calls"] for name, row in stats.items()}


def test_a_write_costs_the_same_however_many_sessions_the_user_has(
    tmp_path: Path,
) -> None:
    """A log-in and a rotation run the same commands with 10 sessions of the
    user as with 5,000: counted by the server itself, on a private one, so
    no other test's commands mix in."""
    require(REDIS_SERVER is not None, "redis-server not installed")
    with RedisServer(tmp_path, "--appendonly", "no") as server:
        client = redis.Redis.from_url(server.url)
        store = RedisStore(client, prefix="cost:")

        def write_work(user: str, sessions: int, cap: int) -> dict[str, int]:
            with client.pipeline(transaction=False) as pipe:
                packed = pack(record(user_id=user, ttl=10**8))
                for n in range(sessions):
                    member = key()
                    pipe.set(f"cost:s:{member}", packed)
                    pipe.zadd(f"cost:user:{user}", {member: n})
                # Longer than the sessions below, so that whether a write
                # stretches it never depends on the milliseconds between them.
                pipe.pexpire(f"cost:user:{user}", 10**9)
                pipe.execute()
            before = commands(client)
            logged_in, rotated = key(), key()
            fresh = record(user_id=user)
            assert store.save(logged_in, fresh, None)  # a log-in ...
            store.limit_user_sessions(user, cap, logged_in)  # ... and its cap
            assert store.save(rotated, fresh, None)  # a rotation
            pointer = dataclasses.replace(fresh, user_id=None, version=2)
            assert store.save(logged_in, pointer, 1)
            after = commands(client)
            assert client.zcard(f"cost:user:{user}") == min(sessions + 1, cap)
            return {name: after[name] - before.get(name, 0) for name in after}

        write_work("warm", 10, 10)  # load the scripts
        for cap in (10**6, None):  # far within the cap, and at it
            few = write_work(f"few{cap}", 10, cap or 10)
            many = write_work(f"many{cap}", 5000, cap or 5000)
            assert few == many
            assert sum(few.values()) < 30
            # No command that walks the set: one ZRANGE of the single
            # member past the cap, and none within it.
            assert few.get("zrange", 0) == (0 if cap else 1)
            assert not {"smembers", "exists", "zscan", "sscan"} & {
                name for name, calls in few.items() if calls
            }
        store.close()
        client.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisCluster]:
    require(REDIS_SERVER is not None and REDIS_CLI is not None, "Redis is missing")
    with RedisCluster(tmp_path_factory.mktemp("cluster")) as started:
        yield started


#: Every check of the conformance suite.
CONFORMANCE = [
    check
    for name, check in sorted(vars(conformance).items())
    if name.startswith("test_") and callable(check)
]


@pytest.fixture(params=["sharded", "one slot"])
def cluster_store(
    cluster: RedisCluster, request: pytest.FixtureRequest
) -> Iterator[RedisStore]:
    """A store on the cluster: its sessions spread over every master, or
    (a prefix with a hash tag) all in one slot."""
    tag = uuid.uuid4().hex[:12]
    prefix = f"rivotest:{tag}:" if request.param == "sharded" else f"{{{tag}}}:"
    with cluster.client() as client:
        store = RedisStore(client, prefix=prefix)
        assert store.sharded is (request.param == "sharded")
        yield store


def test_on_a_cluster_sessions_spread_unless_the_prefix_holds_a_hash_tag(
    cluster: RedisCluster,
) -> None:
    with cluster.client() as client:
        store = RedisStore(client)
        assert store.prefix == "rivo:" and store.sharded
        slots = {client.keyslot(f"rivo:s:{key()}") for _ in range(20)}
        assert len(slots) > 10  # each session hashes on its own key
        # A hash tag puts every key in one slot: the one-script writes.
        assert not RedisStore(client, prefix="app:{tag}:").sharded
        # Braces that make no tag ("{}" is empty, "a{b" never closes) do not.
        for odd in ("a{b:", "{}x:", "x}{:"):
            assert RedisStore(client, prefix=odd).sharded
            sessions = {client.keyslot(f"{odd}s:{key()}") for _ in range(20)}
            assert len(sessions) > 10


def masters_share(cluster: RedisCluster, pattern: str) -> list[float]:
    """Which share of the keys matching ``pattern`` each master holds."""
    counts = []
    for server in cluster.servers:
        with server.client(timeout=10) as node:
            counts.append(sum(1 for _ in node.scan_iter(match=pattern, count=1000)))
    return [count / sum(counts) for count in counts]


def test_a_cluster_spreads_sessions_over_its_masters(cluster: RedisCluster) -> None:
    """10,000 sessions of 50 users land on every master, and ending all of a
    user's sessions ends every one of them, wherever each lives."""
    prefix = f"rivotest:{uuid.uuid4().hex[:12]}:"
    with cluster.client() as client:
        store = RedisStore(client, prefix=prefix)
        users: dict[str, list[str]] = {}
        for n in range(10_000):
            k, user = key(), f"user{n % 50}"
            assert store.save(k, record(user_id=user), None)
            users.setdefault(user, []).append(k)
        shares = masters_share(cluster, f"{prefix}s:*")
        assert all(0.25 <= share <= 0.42 for share in shares), shares
        mine = users["user7"]
        assert len(store.user_sessions("user7")) == 200
        assert store.delete_user_sessions("user7", keep=mine[0]) == 199
        assert [store.load(k) is None for k in mine] == [False] + [True] * 199
        assert [k for k, _ in store.user_sessions("user7")] == [mine[0]]
        assert len(store.user_sessions("user8")) == 200  # nobody else's


def node_of(cluster: RedisCluster, client: t.Any, name: str) -> RedisServer:
    """The master that holds the key ``name``."""
    port = client.get_node_from_key(name).port
    return next(server for server in cluster.servers if server.port == port)


def test_a_failure_between_the_index_and_the_session_misses_nothing(
    cluster: RedisCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The master of a session's slot stops right after the session was
    filed in its user's index: the write fails, and the index holds an
    entry that leads nowhere, never a session it misses. Then the master of
    the index stops right after a session left it: the stale entry is
    dropped when met, and ends nobody else's session."""
    prefix = f"rivotest:{uuid.uuid4().hex[:12]}:"
    with cluster.client() as client:
        store = RedisStore(client, prefix=prefix)
        shards = store._shards
        assert shards is not None
        index = f"{prefix}user:ann"
        index_node = node_of(cluster, client, index)
        k = key()
        while node_of(cluster, client, f"{prefix}s:{k}") is index_node:
            k = key()
        session_node = node_of(cluster, client, f"{prefix}s:{k}")
        filed = shards._filed

        def filed_then_down(*args: t.Any) -> str:
            cover = filed(*args)
            session_node.stop()
            return cover

        monkeypatch.setattr(shards, "_filed", filed_then_down)
        try:
            with pytest.raises(StoreError):
                store.save(k, record(user_id="ann"), None)
        finally:
            cluster.start()
        monkeypatch.undo()
        assert [m.decode() for m in client.zrange(index, 0, -1)] == [k]
        assert store.load(k) is None
        # The entry that leads nowhere is claimed and dropped when met: the
        # write that filed it can never land unindexed afterwards.
        assert store.user_sessions("ann") == []
        assert client.zcard(index) == 0
        assert store.save(k, record(user_id="ann"), None) is False

        # A session of ann's moves to bob; ann's index is down when the
        # move would unfile it (neither the session nor bob's index is on
        # that master, which forgets its keys when it stops).
        bob = next(
            f"bob{n}"
            for n in range(100)
            if node_of(cluster, client, f"{prefix}user:bob{n}") is not index_node
        )
        moved = key()
        while node_of(cluster, client, f"{prefix}s:{moved}") is index_node:
            moved = key()
        assert store.save(moved, record(user_id="ann"), None)
        unfile = shards._unfile

        def unfile_while_down(*args: t.Any) -> None:
            index_node.stop()
            try:
                unfile(*args)  # logged, not raised: the write landed
            finally:
                cluster.start()

        monkeypatch.setattr(shards, "_unfile", unfile_while_down)
        changed = dataclasses.replace(record(user_id=bob), version=2)
        assert store.save(moved, changed, 1) is True
        monkeypatch.undo()
        assert [k for k, _ in store.user_sessions(bob)] == [moved]
        assert store.delete_user_sessions("ann") == 0
        assert store.delete_user_sessions(bob) == 1
        assert store.load(moved) is None


def test_a_cluster_serves_an_app_end_to_end(cluster_store: RedisStore) -> None:
    exercise(session_app(RIVO_SESSION_STORE=cluster_store), "ann")


@pytest.mark.parametrize(
    "check", CONFORMANCE, ids=lambda check: check.__name__.removeprefix("test_")
)
def test_a_cluster_store_passes_the_conformance_suite(
    cluster_store: RedisStore, check: Callable[[RedisStore], None]
) -> None:
    check(cluster_store)


def test_a_cluster_out_of_reach_gets_503(
    cluster: RedisCluster, cluster_store: RedisStore
) -> None:
    app = session_app(RIVO_SESSION_STORE=cluster_store)
    browser = app.test_client()
    browser.get("/set/cart/apples")
    cluster.stop()  # redis-py then raises RedisClusterException, no RedisError
    try:
        assert browser.get("/get/cart").status_code == 503
        assert app.test_client().get("/set/cart/pears").status_code == 503
        with pytest.raises(StoreError):
            cluster_store.user_sessions("ann")
    finally:
        cluster.start()  # with its slots, but without data (no AOF)


@pytest.fixture(scope="module")
def sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisSentinel]:
    require(REDIS_SERVER is not None, "redis-server not installed")
    with RedisSentinel(tmp_path_factory.mktemp("sentinel")) as started:
        yield started


def test_a_sentinel_managed_master_serves_an_app(sentinel: RedisSentinel) -> None:
    with sentinel.client() as client:
        app = session_app(RIVO_SESSION_STORE=RedisStore(client))
        exercise(app, "bob")
        app.test_client().get("/set/cart/pears")
        with sentinel.master.client() as direct:
            assert direct.keys("rivo:s:*")  # the session lives on the master
