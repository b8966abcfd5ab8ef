"""A write whose outcome is unknown never destroys the only copy of a session.

At an ID rotation, and at a log-in's ``regenerate()``, the session is
written under its new ID first, then its old ID is pointed at the new one
(rotation) or replaced with a tombstone (log-in). Here that second write
lands on the server while the client gives up on it: a private Redis is
made slow at exactly that moment with ``DEBUG SLEEP``, longer than the
client's socket timeout. The request must answer 503, and the session must
be whole afterwards. On SQL, a lost reply is the same fault: the statement
is sent again and finds its own work.
"""

from __future__ import annotations

import threading
import typing as t
import uuid

import pytest
import redis
import servers
import sqlalchemy as sa
from backends import POSTGRES_URL
from backends import use
from servers import REDIS_SERVER
from servers import RedisServer
from support import FakeClock
from support import cookie_value
from support import require
from support import session_app

from flask_rivo.ids import is_replaced
from flask_rivo.ids import session_key
from flask_rivo.stores import Record
from flask_rivo.stores import RedisStore
from flask_rivo.stores import SQLAlchemyStore

if t.TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterator

    import flask
    from backends import Backend

    from flask_rivo.stores import SessionStore

#: Which write of a request is the uncertain one.
Moment = t.Callable[[Record, "int | None", float], bool]


def pointer_write(record: Record, expected: int | None, now: float) -> bool:
    """The rotation's second write: the old record becomes a pointer."""
    return expected is not None and record.successor is not None


def retiring_write(record: Record, expected: int | None, now: float) -> bool:
    """The log-in's second write: the old record, emptied, becomes a
    tombstone (or, without a grace period, expires)."""
    retired = record.expires_at <= now or is_replaced(record.successor)
    return expected is not None and not record.data and retired


#: What each case requests, and the moment at which it is made uncertain.
CASES = {
    "rotation": ("/set/coupon/yes", pointer_write),
    "log-in": ("/login/ann", retiring_write),
}


class Hooked:
    """Runs ``before`` ahead of the store's write that ``moment`` picks,
    once armed: the fault itself is real, only its timing is arranged."""

    def __init__(self, store: SessionStore, clock: FakeClock) -> None:
        self.store, self.clock = store, clock
        self.moment: Moment | None = None
        self.before: Callable[[], None] = lambda: None
        real_save = store.save

        def save(key: str, record: Record, expected: int | None) -> bool:
            moment, self.moment = self.moment, None
            if moment is not None and not moment(record, expected, clock()):
                self.moment = moment  # not yet
            elif moment is not None:
                self.before()
            return real_save(key, record, expected)

        store.save = save  # type: ignore[method-assign]


def scenario(
    app: flask.Flask, hooked: Hooked, clock: FakeClock, case: str
) -> tuple[str, t.Any]:
    """A cart, then the case's request with its second write uncertain.

    :returns: the cookie before, and the uncertain request's response.
    """
    browser = app.test_client()
    assert browser.get("/set/cart/apples").status_code == 200
    old = browser.get_cookie("session")
    assert old is not None
    path, moment = CASES[case]
    clock.advance(3601)  # past the ID lifetime: the next write rotates
    hooked.moment = moment
    response = browser.get(path)
    assert hooked.moment is None, "the uncertain write never came"
    return old.value, response


def cart_of(app: flask.Flask, cookie: str) -> str:
    browser = app.test_client()
    browser.set_cookie("session", cookie)
    return t.cast("str", browser.get("/get/cart").text)


# -- Redis: the write lands after the client gave up ------------------------


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    require(REDIS_SERVER is not None, "redis-server is not installed")
    directory = tmp_path_factory.mktemp("slow-redis")
    with RedisServer(directory, "--enable-debug-command", "yes") as server:
        yield server


def make_slow(server: RedisServer, seconds: float) -> Callable[[], None]:
    """Starts ``DEBUG SLEEP`` from another client, and returns once the
    server is asleep: the next command waits ``seconds``, then runs."""

    def before() -> None:
        sending = threading.Event()

        def sleep() -> None:
            with server.client(timeout=seconds + 5) as other:
                other.ping()  # connected: only the command is left to send
                sending.set()
                other.execute_command("DEBUG", "SLEEP", seconds)

        threading.Thread(target=sleep, daemon=True).start()
        assert sending.wait(10)
        wait_asleep(server)

    return before


def wait_asleep(server: RedisServer) -> None:
    """Return once ``server`` stops answering: its sleep has begun (a fixed
    wait could end first on a loaded machine). A probe's unanswered
    ``PING`` runs when the server wakes and changes nothing the test looks
    at; 0.2 s is far more than an awake server takes to answer, and a fifth
    of the sleep."""

    def asleep() -> bool:
        with server.client(timeout=0.2) as probe:
            try:
                probe.ping()
            except redis.TimeoutError:
                return True
        return False

    servers.wait_until("DEBUG SLEEP to begin", asleep)


def wait_awake(server: RedisServer) -> None:
    with server.client(timeout=5) as probe:
        assert probe.ping()


@pytest.mark.parametrize("case", list(CASES))
def test_a_write_that_lands_after_a_timeout_loses_no_session(
    slow_server: RedisServer, case: str
) -> None:
    clock = FakeClock()
    url = f"{slow_server.url}?socket_timeout=0.3&socket_connect_timeout=0.3"
    store = RedisStore(url, prefix=f"rivotest:{uuid.uuid4().hex[:12]}:", clock=clock)
    try:
        app = session_app(RIVO_SESSION_STORE=store)
        app.extensions["rivo_sessions"].clock = clock
        hooked = Hooked(store, clock)
        hooked.before = make_slow(slow_server, 1.0)
        old, response = scenario(app, hooked, clock, case)
        assert response.status_code == 503
        wait_awake(slow_server)
        # The write did land after the client gave up on it.
        landed = store.load(session_key(old))
        if case == "rotation":
            assert landed is not None and landed.successor is not None
            assert cart_of(app, old) == "'apples'"  # the pointer leads on
        else:
            # The old ID is dead, as a log-in wants: a tombstone.
            assert landed is not None and is_replaced(landed.successor)
            assert cart_of(app, old) == "None"
        # The new record exists for certain; the 503 handed out its ID.
        new = cookie_value(response)
        assert new and new != old
        assert cart_of(app, new) == "'apples'"
    finally:
        store.close()


# -- SQL: the reply of the write is lost ------------------------------------


@pytest.mark.parametrize("case", list(CASES))
def test_a_sql_write_whose_reply_was_lost_completes_the_move(
    backends: dict[str, Backend], case: str
) -> None:
    """The connection dies with the write landed: the store sends it again,
    finds its own work, and the request succeeds."""
    use(backends["postgresql"])
    server = sa.make_url(POSTGRES_URL)
    clock = FakeClock()
    with servers.ReplyDropper(t.cast("int", server.port)) as proxy:
        url = server.set(port=proxy.port).render_as_string(hide_password=False)
        table = f"rivo_test_{uuid.uuid4().hex[:12]}"
        store = SQLAlchemyStore(url, table_name=table, clock=clock)
        try:
            app = session_app(RIVO_SESSION_STORE=store)
            app.extensions["rivo_sessions"].clock = clock
            hooked = Hooked(store, clock)
            hooked.before = proxy.drop_next_reply
            old, response = scenario(app, hooked, clock, case)
            assert response.status_code == 200
            new = cookie_value(response)
            assert new and new != old
            assert cart_of(app, new) == "'apples'"
            expected = "'apples'" if case == "rotation" else "None"
            assert cart_of(app, old) == expected
        finally:
            store.table.drop(store.engine, checkfirst=True)
            store.close()
