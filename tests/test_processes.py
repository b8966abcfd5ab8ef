"""Several app processes share one store, as app servers behind a balancer do.

Two processes of ``process_app:create_app`` (A and B, each a threaded
werkzeug server) run on the same store: one SQLite file, or a table or key
prefix of the test's own on the shared PostgreSQL, MariaDB and Redis. What
one process does to a session (create, rotate, log out) must hold in the
other, and parallel writers in both must lose nothing. The memory store
lives inside one process, so it cannot be shared and is not tested here;
tests/test_http.py covers threads on it.

Each test starts its own two processes (about 0.5 s) on its own table or
prefix, so no test sees another's state.
"""

from __future__ import annotations

import contextlib
import time
import typing as t
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis
import sqlalchemy as sa
from backends import MARIADB_URL
from backends import POSTGRES_URL
from backends import REDIS_URL
from backends import Backend
from backends import use
from process_app import SHARED_STORES
from servers import AppProcess
from support import Reply
from support import fetch

from flask_rivo.stores.sqlalchemy import session_table

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

Apps = tuple[AppProcess, AppProcess]


class Browser:
    """A browser's session cookie, updated by every response, whichever
    process sent it."""

    def __init__(self) -> None:
        self.cookie: str | None = None

    def get(self, app: AppProcess, path: str) -> Reply:
        reply = fetch(app.port, path, self.cookie)
        assert reply.status == 200, reply
        if reply.cookie is not None:
            self.cookie = reply.cookie or None
        return reply


@pytest.fixture(params=SHARED_STORES)
def store_env(
    request: pytest.FixtureRequest, backends: dict[str, Backend], tmp_path: Path
) -> Iterator[dict[str, str]]:
    """The environment naming a fresh store; its table or keys are removed
    afterwards (after the processes stopped: they depend on this fixture)."""
    kind: str = request.param
    name = f"rivo_proc_{uuid.uuid4().hex[:12]}"
    if kind != "sqlite":
        use(backends[kind])  # skip (or fail in CI) if the server is down
    url = {
        "sqlite": f"sqlite:///{tmp_path / 'sessions.db'}",
        "postgresql": POSTGRES_URL,
        "mariadb": MARIADB_URL,
        "redis": REDIS_URL,
    }[kind]
    yield {
        "RIVO_TEST_STORE": kind,
        "RIVO_TEST_STORE_URL": url,
        "RIVO_TEST_TABLE": name,
        "RIVO_TEST_PREFIX": f"{name}:",
    }
    if kind == "redis":
        with redis.Redis.from_url(url) as client:
            keys = list(client.scan_iter(match=f"{name}:*", count=1000))
            if keys:
                client.delete(*keys)
    else:
        engine = sa.create_engine(url)
        try:
            session_table(sa.MetaData(), name).drop(engine, checkfirst=True)
        finally:
            engine.dispose()


@contextlib.contextmanager
def two_apps(env: dict[str, str]) -> Iterator[Apps]:
    """Processes A and B of the same app on the same store, started together."""
    apps = (
        AppProcess("process_app:create_app", env),
        AppProcess("process_app:create_app", env),
    )
    with contextlib.ExitStack() as stack:
        for app in apps:
            stack.callback(app.close)
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(AppProcess.start, apps))
        yield apps


@pytest.fixture
def apps(store_env: dict[str, str]) -> Iterator[Apps]:
    """A and B with the default settings: no rotation within a test."""
    with two_apps(store_env) as both:
        yield both


def test_a_session_made_on_one_process_works_on_the_other(apps: Apps) -> None:
    a, b = apps
    assert (
        fetch(a.port, "/pid").body != fetch(b.port, "/pid").body
    )  # two processes answer
    browser = Browser()
    assert browser.get(a, "/incr/n").body == "1"
    first = browser.cookie
    assert first
    assert browser.get(b, "/get/n").body == "1"
    assert browser.get(b, "/incr/n").body == "2"
    assert browser.get(a, "/incr/n").body == "3"
    assert browser.cookie == first  # one session, under one ID, all along
    # A log-out on B ends the session for A too.
    assert browser.get(b, "/destroy").cookie == ""
    assert fetch(a.port, "/get/n", first) == Reply(200, "None", "")


def test_a_rotation_on_one_process_is_seen_by_the_other(
    store_env: dict[str, str],
) -> None:
    """The rotated-out ID leads B to the new one during the grace period
    (as a parallel request still carrying it would), and only then."""
    grace = 1.0
    settings = {"RIVO_SESSION_ID_LIFETIME": "1", "RIVO_SESSION_ID_GRACE": str(grace)}
    with two_apps({**store_env, **settings}) as (a, b):
        old = fetch(a.port, "/incr/n").cookie
        time.sleep(1.1)  # past the ID's lifetime
        rotated = fetch(a.port, "/incr/n", old)
        new = rotated.cookie
        assert rotated.body == "2"
        assert new and new != old
        assert fetch(b.port, "/get/n", new) == Reply(200, "2", None)
        # The old ID works on B, which hands the browser the new one.
        assert fetch(b.port, "/get/n", old) == Reply(200, "2", new)
        time.sleep(grace)
        assert fetch(b.port, "/get/n", old) == Reply(200, "None", "")
        # The new ID lives on, and is now old enough for B to rotate it.
        newest = fetch(b.port, "/get/n", new)
        assert newest.body == "2"
        assert newest.cookie not in (None, "", old, new)


def test_a_log_out_everywhere_on_one_process_ends_sessions_on_the_other(
    apps: Apps,
) -> None:
    a, b = apps
    laptop, phone, bob = Browser(), Browser(), Browser()
    laptop.get(a, "/incr/n")
    laptop.get(a, "/login/ann")
    phone.get(b, "/login/ann")
    bob.get(a, "/login/bob")
    assert laptop.get(b, "/user").body == "'ann'"  # A's log-in holds on B
    laptop_id = laptop.cookie
    assert phone.get(b, "/logout-everywhere").body == "2"
    assert fetch(a.port, "/user", laptop_id) == Reply(200, "None", "")
    assert fetch(a.port, "/get/n", laptop_id) == Reply(200, "None", "")  # data gone too
    assert phone.get(a, "/user").body == "None"
    assert bob.get(a, "/user").body == "'bob'"  # other users stay logged in


def test_threads_in_two_processes_lose_no_write(apps: Apps) -> None:
    """2 processes x 4 threads, each thread incrementing its own key of one
    session 25 times: every write is a compare-and-swap across processes,
    and a lost race is merged and retried, never dropped."""
    session_id = fetch(apps[0].port, "/incr/start").cookie
    assert session_id

    def hammer(n: int) -> list[Reply]:
        app = apps[n % 2]  # threads alternate between the processes
        return [fetch(app.port, f"/incr/k{n}", session_id) for _ in range(25)]

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(hammer, range(8)))
    for app in apps:
        keys = ["start", *(f"k{n}" for n in range(8))]
        found = {key: fetch(app.port, f"/get/{key}", session_id).body for key in keys}
        assert found == {"start": "1", **dict.fromkeys(keys[1:], "25")}
    for replies in results:
        # Each request saw the thread's previous write, and kept the ID.
        assert replies == [Reply(200, str(i), session_id) for i in range(1, 26)]
