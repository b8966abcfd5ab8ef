"""Request throughput of RivoSessions against Flask's session and Flask-Session.

Every scenario runs in this one process, round by round in turn, so the
ratios between them mean something even on a noisy machine: what a machine
does to one scenario it does to all. Requests go straight to
``app.wsgi_app`` with a prebuilt environ, without an HTTP server or the test
client, so the numbers are the cost of Flask and the session interface, not
of sockets or of Werkzeug's test machinery.

Each of rivo's stores is measured against Flask-Session on the same backend:
the memory store against cachelib's ``SimpleCache``, ``RedisStore`` against
Flask-Session's Redis interface on the same server, and ``SQLAlchemyStore``
on SQLite and PostgreSQL against its SQLAlchemy interface on the same
database (on MariaDB, which Flask-Session's tests do not cover, alone). The
README says what exactly each side does per request, and so what the
ratios compare.

Run ``python benchmarks/run.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import json
import math
import platform
import statistics
import sys
import tempfile
import time
import typing as t
import urllib.parse
from datetime import datetime
from datetime import timezone
from importlib.metadata import version
from pathlib import Path

import sqlalchemy as sa
from flask import Flask
from flask import session
from werkzeug.test import EnvironBuilder

from flask_rivo import RivoSessions
from flask_rivo import RivoUsers
from flask_rivo import current_user
from flask_rivo import login_required
from flask_rivo import login_user
from flask_rivo.stores import RedisStore
from flask_rivo.stores import SessionStore
from flask_rivo.stores import SQLAlchemyStore
from flask_rivo.users import UserState

try:
    import flask_login
    import redis
    from cachelib import SimpleCache
    from flask_session import Session  # type: ignore[import-untyped]
    from flask_sqlalchemy import SQLAlchemy
except ImportError as error:  # pragma: no cover - told to the user below
    sys.exit(
        f"The benchmark needs {error.name} (it compares with Flask-Session on"
        " cachelib, Redis and SQLAlchemy, and with Flask-Login); install it with:"
        " pip install '.[bench]'"
    )

if t.TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Iterable

    Environ = dict[str, t.Any]
    Headers = list[tuple[str, str]]

#: Sent with every request; RivoSessions ends a session whose browser changes.
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
#: The client address; RivoSessions records it with the session.
REMOTE_ADDR = "192.0.2.10"

#: The stores ``--stores`` chooses from, each with how the rows of rivo on it
#: and of Flask-Session on the same backend are named.
STORES: dict[str, tuple[str, str | None]] = {
    "memory": ("rivo memory", "Flask-Session cachelib"),
    "sqlite": ("rivo sqlite", "Flask-Session sqlalchemy/sqlite"),
    "postgresql": ("rivo postgresql", "Flask-Session sqlalchemy/postgresql"),
    "mariadb": ("rivo mariadb", None),
    "redis": ("rivo redis", "Flask-Session redis"),
}
#: The two ways Flask-Session is measured: as installed (its defaults, which
#: save every session back on every request, reads included) and with
#: ``SESSION_REFRESH_EACH_REQUEST`` off (a read costs it one store read), each
#: with the suffix its rows' names get.
PEERS = {"flask-session": "", "flask-session-tuned": " (no refresh)"}
#: What each scenario's request does, and its path: ``untouched`` carries a
#: session cookie but its view never uses the session; ``login_required`` is
#: a page behind rivo's ``login_required`` (Flask-Login's on the cookie
#: session and Flask-Session), its session logged in once by ``/log-in``.
OPS = {
    "untouched": "/plain",
    "read": "/read",
    "write": "/write",
    "login_required": "/account",
}
#: The one user the ``login_required`` scenarios log in.
USER_ID = "bench-user"
#: The stores on a server: the option that names it, and where it is unless
#: that option says otherwise.
SERVERS = {
    "redis": ("--redis-url", "redis://127.0.0.1:6379/0"),
    "postgresql": (
        "--postgres-url",
        "postgresql+psycopg://postgres@127.0.0.1:5432/test",
    ),
    "mariadb": ("--mariadb-url", "mariadb+pymysql://root@127.0.0.1:3306/test"),
}
#: Where each side keeps its sessions on a server; all removed at the end.
REDIS_PREFIXES = {"rivo": "rivobench:", "flask-session": "fsbench:"}
TABLES = {"rivo": "rivo_bench_sessions", "flask-session": "fs_bench_sessions"}
#: Seconds to wait for a server before calling it unreachable.
CONNECT_TIMEOUT = 3


class BenchmarkError(Exception):
    """A scenario did not do what it claims to, so its number would lie."""


def make_app(
    kind: str, store: str | None, url: str, cleanup: contextlib.ExitStack
) -> Flask:
    """An application with the session interface ``kind`` and three views.

    ``store`` picks rivo's store or Flask-Session's backend (see
    :data:`STORES`), on the server at ``url``; what the app opens is closed
    by ``cleanup``. ``/start`` creates a session, ``/read`` reads it and
    ``/write`` changes it. Both use ``session["n"]``, not ``.get``: a session
    that failed to load is then a KeyError and a 500, never a silently empty
    session.
    """
    app = Flask(f"bench_{kind}_{store}")
    # RivoUsers and Flask-Login sign with it; the cookie session needs it.
    app.config["SECRET_KEY"] = "benchmark-only-not-secret"  # noqa: S105
    if kind == "rivo":
        use_rivo(app, store, url, cleanup)
    elif kind in PEERS:
        use_flask_session(app, store, url, cleanup, refresh=kind == "flask-session")
    elif kind not in ("bare", "cookie"):
        raise ValueError(kind)
    if kind != "bare":
        add_login(app, kind)

    @app.get("/plain")
    def plain() -> str:
        return "ok"

    @app.get("/start")
    def start() -> str:
        session["n"] = 0
        return "0"

    @app.get("/read")
    def read() -> str:
        return str(session["n"])

    @app.get("/write")
    def write() -> str:
        session["n"] = session["n"] + 1
        return str(session["n"])

    return app


def use_rivo(
    app: Flask, store: str | None, url: str, cleanup: contextlib.ExitStack
) -> None:
    """Install RivoSessions on ``app``, with its own store (and connections)."""
    if store != "memory":
        shared: SessionStore = (
            RedisStore(url, prefix=REDIS_PREFIXES["rivo"])
            if store == "redis"
            else SQLAlchemyStore(url, table_name=TABLES["rivo"])
        )
        app.config["RIVO_SESSION_STORE"] = shared
        cleanup.callback(shared.close)
    RivoSessions(app)
    RivoUsers(app, user_store=BenchUserStore())


def use_flask_session(
    app: Flask,
    store: str | None,
    url: str,
    cleanup: contextlib.ExitStack,
    *,
    refresh: bool,
) -> None:
    """Install Flask-Session on ``app``, with its own client (or ``db``).

    With ``refresh`` (Flask's default ``SESSION_REFRESH_EACH_REQUEST``),
    Flask-Session saves the whole session on every request, reads included:
    that is how it slides the expiry. Without it, a read costs it one store
    read, as it costs rivo, whose sliding expiry costs a touch at most once
    per ``RIVO_SESSION_TOUCH_INTERVAL``; its sessions then expire a fixed
    time after their last write. See the README.
    """
    app.config["SESSION_REFRESH_EACH_REQUEST"] = refresh
    if store == "memory":
        app.config.update(SESSION_TYPE="cachelib", SESSION_CACHELIB=SimpleCache())
    elif store == "redis":
        client = redis.Redis.from_url(url)
        cleanup.callback(client.close)
        app.config.update(
            SESSION_TYPE="redis",
            SESSION_REDIS=client,
            SESSION_KEY_PREFIX=REDIS_PREFIXES["flask-session"],
        )
    else:
        # A db per app: Flask-Session defines its table's model on it, and
        # creates the table (if missing) when it is installed.
        db = SQLAlchemy()
        app.config.update(
            SQLALCHEMY_DATABASE_URI=url,
            SESSION_TYPE="sqlalchemy",
            SESSION_SQLALCHEMY=db,
            SESSION_SQLALCHEMY_TABLE=TABLES["flask-session"],
        )
        db.init_app(app)

        @cleanup.callback
        def dispose() -> None:
            with app.app_context():
                db.engine.dispose()

    Session(app)


@dataclasses.dataclass
class BenchUser:
    """The one verified user the ``login_required`` scenarios log in.

    Held in memory, so loading it costs a dict lookup on every side: what
    the rows compare is the session and the log-in check, not a users table.
    """

    email: str = "bench@example.com"
    password_hash: str = "$rivo1$not-a-real-hash"  # noqa: S105
    state: UserState = UserState.VERIFIED
    verification_token_hash: str | None = None
    verification_created_at: datetime | None = None
    reset_token_hash: str | None = None
    reset_created_at: datetime | None = None
    pending_email: str | None = None
    created_at: datetime = dataclasses.field(
        default_factory=lambda: datetime.now(timezone.utc)
    )
    verified_at: datetime | None = None
    last_login_at: datetime | None = None
    # What Flask-Login asks of a user.
    is_authenticated: bool = True
    is_active: bool = True
    is_anonymous: bool = False

    def get_id(self) -> str:
        return USER_ID


#: The user, shared by every app (nothing changes it after the log-in).
THE_USER = BenchUser()


class BenchUserStore:
    """A :class:`~flask_rivo.users.UserStore` of :data:`THE_USER` alone.

    Only :meth:`get` is used: the benchmark logs in with ``login_user``,
    never through the log-in form.
    """

    def get(self, user_id: str) -> BenchUser | None:
        return THE_USER if user_id == USER_ID else None

    def by_email(self, email: str) -> BenchUser | None:
        return THE_USER if email == THE_USER.email else None

    def by_token(self, column: str, token_hash: str) -> BenchUser | None:
        return None

    def consume_token(self, user: BenchUser, column: str, token_hash: str) -> bool:
        return False

    def create(self, email: str, password_hash: str) -> BenchUser:
        raise NotImplementedError("the benchmark makes no accounts")

    def delete(self, user: BenchUser) -> None:
        raise NotImplementedError("the benchmark deletes no accounts")

    def commit(self) -> None:
        pass

    def rollback(self) -> None:
        pass


def add_login(app: Flask, kind: str) -> None:
    """``/log-in`` logs :data:`THE_USER` in; ``/account`` is behind a login check.

    Rivo's apps use RivoUsers' ``login_user`` and ``login_required``; the
    others Flask-Login's, with its default ``session_protection="basic"``,
    on their own session (the signed cookie or Flask-Session). Both views
    answer the user's ID, read from the current user, so a page that did not
    see the user is a wrong body, not a quiet success.
    """
    if kind == "rivo":
        log_in: Callable[[t.Any], object] = login_user
        guard: Callable[[Callable[[], str]], Callable[[], t.Any]] = login_required
        user: t.Any = current_user
    else:
        manager = flask_login.LoginManager(app)
        manager.user_loader(BenchUserStore().get)
        log_in, guard = flask_login.login_user, flask_login.login_required
        user = flask_login.current_user

    @app.get("/log-in")
    def log_in_view() -> str:
        if not log_in(THE_USER):
            raise BenchmarkError("the user was not logged in")
        session["n"] = 0
        return str(user.get_id())

    @app.get("/account")
    @guard
    def account() -> str:
        return str(user.get_id())


def environ(path: str, cookie: str | None = None) -> Environ:
    """A GET environ for ``path``, built once and copied for every call."""
    headers = [("User-Agent", USER_AGENT)]
    if cookie is not None:
        headers.append(("Cookie", cookie))
    builder = EnvironBuilder(
        path, headers=headers, environ_base={"REMOTE_ADDR": REMOTE_ADDR}
    )
    try:
        return builder.get_environ()
    finally:
        builder.close()


def call(app: Flask, env: Environ) -> tuple[str, Headers, bytes]:
    """One request, outside the timed loops: status, headers and body."""
    got: list[tuple[str, Headers]] = []

    def start_response(status: str, headers: Headers, exc_info: t.Any = None) -> t.Any:
        got.append((status, headers))

    body = _drain(app.wsgi_app(env.copy(), start_response))
    return got[0][0], got[0][1], body


def _drain(result: Iterable[bytes]) -> bytes:
    """Consume and close a WSGI response, as every server must."""
    try:
        return b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()


def session_cookie(headers: Headers) -> str:
    """The ``name=value`` pairs of the cookies a response set, as a browser
    would send them back."""
    found = [v.split(";", 1)[0] for n, v in headers if n.lower() == "set-cookie"]
    if not found:
        raise BenchmarkError("the response set no session cookie")
    return "; ".join(found)


@dataclasses.dataclass
class Scenario:
    """One kind of request against one app, and what it must leave behind."""

    name: str
    kind: str
    path: str
    #: The store (see :data:`STORES`) of a rivo or Flask-Session scenario.
    store: str | None = None
    #: Where that store's server is, if it has one.
    url: str = ""
    app: Flask = dataclasses.field(init=False, repr=False)
    env: Environ = dataclasses.field(init=False, repr=False)
    cookie: str | None = dataclasses.field(init=False, default=None)
    made: int = dataclasses.field(init=False, default=0)
    last_headers: Headers = dataclasses.field(init=False, default_factory=list)
    rates: list[float] = dataclasses.field(init=False, default_factory=list)

    @property
    def writes(self) -> bool:
        """Whether each request writes, counted so the end can check them."""
        return self.path == "/write"

    def set_up(self, cleanup: contextlib.ExitStack) -> None:
        """Build the app and, for a session scenario, start its session.

        Each scenario has its own app and session, so the write counts of
        one never mix with another's.
        """
        self.app = make_app(self.kind, self.store, self.url, cleanup)
        if self.kind != "bare":
            start = "/log-in" if self.path == "/account" else "/start"
            status, headers, _ = call(self.app, environ(start))
            if status != "200 OK":
                raise BenchmarkError(f"{self.name}: {start} answered {status}")
            self.cookie = session_cookie(headers)
        self.env = environ(self.path, self.cookie)

    def run(self, requests: int) -> float:
        """Make ``requests`` requests; return how many seconds they took.

        The loop does only what a WSGI server must (copy the environ, call
        the app, consume and close the body) plus one status check, the same
        for every scenario.
        """
        wsgi, env = self.app.wsgi_app, self.env
        status, headers = "", []

        def start_response(
            new_status: str, new_headers: Headers, exc_info: t.Any = None
        ) -> Callable[[bytes], object]:
            nonlocal status, headers
            status, headers = new_status, new_headers
            return _no_write

        started = time.perf_counter()
        for _ in range(requests):
            _drain(wsgi(env.copy(), start_response))
            if status != "200 OK":
                raise BenchmarkError(f"{self.name}: a request answered {status}")
        elapsed = time.perf_counter() - started
        self.made += requests
        self.last_headers = headers
        return elapsed

    def check(self) -> None:
        """Prove the writes happened, by reading the counter back.

        Server-side sessions must hold every write, on every store. Flask's
        cookie session keeps nothing on the server and the loop resends the
        first cookie, so each write there starts from 0: the cookie it
        returns holds 1. A page behind the login check must still show the
        user.
        """
        if self.path == "/account":
            status, _, body = call(self.app, environ("/account", self.cookie))
            if status != "200 OK" or body != USER_ID.encode():
                raise BenchmarkError(
                    f"{self.name}: /account answered {status} {body!r} at the end"
                )
        if not self.writes:
            return
        cookie: str | None
        if self.kind == "cookie":
            cookie, expected = session_cookie(self.last_headers), 1
        else:
            cookie, expected = self.cookie, self.made
        status, _, body = call(self.app, environ("/read", cookie))
        if status != "200 OK" or body != str(expected).encode():
            raise BenchmarkError(
                f"{self.name}: counter reads {body!r} ({status}) after"
                f" {self.made} writes, expected {expected}"
            )


def _no_write(data: bytes) -> object:
    raise BenchmarkError("the app used the legacy write() callable")


def build_scenarios(stores: list[str], urls: dict[str, str]) -> list[Scenario]:
    """The baselines, then rivo and Flask-Session on each of ``stores``."""
    found = [Scenario("bare Flask, no session", "bare", "/plain")]
    found += (Scenario(f"cookie session, {op}", "cookie", p) for op, p in OPS.items())
    for store in stores:
        rivo, peer = STORES[store]
        sides = [("rivo", rivo)]
        if peer is not None:  # None: no peer on this backend
            sides += ((kind, peer + suffix) for kind, suffix in PEERS.items())
        for kind, label in sides:
            found += (
                Scenario(f"{label}, {op}", kind, path, store, urls.get(store, ""))
                for op, path in OPS.items()
            )
    return found


# -- the servers ---------------------------------------------------------------


def redact(url: str) -> str:
    """``url`` without its password, to be shown."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def connect(store: str, url: str) -> redis.Redis | sa.Engine:
    """A client of the server of ``store``, quick to give up on it."""
    if store == "redis":
        return redis.Redis.from_url(
            url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=30
        )
    backend = sa.make_url(url).get_backend_name()
    if store == "mariadb":
        if backend not in ("mariadb", "mysql"):
            raise ValueError("not a MariaDB URL")
        return sa.create_engine(url, connect_args={"connect_timeout": CONNECT_TIMEOUT})
    if backend != "postgresql":
        raise ValueError("not a PostgreSQL URL")
    # The lock timeout keeps the final DROP from waiting on a stuck client.
    options = {"connect_timeout": CONNECT_TIMEOUT, "options": "-c lock_timeout=10s"}
    return sa.create_engine(url, connect_args=options)


def probe(store: str, url: str) -> str:
    """Connect to the server of ``store``; return its name and version."""
    client = connect(store, url)
    if isinstance(client, redis.Redis):
        with client:
            return f"Redis {client.info('server')['redis_version']}"
    try:
        with client.connect() as connection:
            if store == "mariadb":
                query = sa.text("SELECT VERSION()")
                return f"MariaDB {connection.execute(query).scalar()}"
            query = sa.text("SHOW server_version")
            return f"PostgreSQL {connection.execute(query).scalar()}"
    finally:
        client.dispose()


def clean_up(store: str, url: str) -> None:
    """Remove the benchmark's sessions from the server of ``store``.

    Called before the run, for what an interrupted one left, and after it.
    """
    client = connect(store, url)
    if isinstance(client, redis.Redis):
        with client:
            for prefix in REDIS_PREFIXES.values():
                keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
                if keys:
                    client.delete(*keys)
        return
    try:
        metadata = sa.MetaData()
        for name in TABLES.values():
            sa.Table(name, metadata)
        metadata.drop_all(client, checkfirst=True)
    finally:
        client.dispose()


#: What a server out of reach, or a bad URL, raises.
SERVER_ERRORS = (ImportError, ValueError, redis.RedisError, sa.exc.SQLAlchemyError)


def _reason(error: Exception) -> str:
    """The gist of ``error``: the driver's own message, on one line."""
    if isinstance(error, ImportError):
        return f"{error} (pip install '.[bench]')"
    return " ".join(str(getattr(error, "orig", None) or error).split())


def open_servers(
    stores: list[str], urls: dict[str, str], cleanup: contextlib.ExitStack
) -> dict[str, str]:
    """Check each server of ``stores`` answers and clean it, now and on exit.

    :returns: each server's name and version, by store.
    :raises BenchmarkError: naming the server that does not answer, and how
        to leave it out.
    """
    found = {}
    for store in stores:
        if store not in SERVERS:
            continue
        url = urls[store]
        try:
            found[store] = probe(store, url)
            clean_up(store, url)
        except SERVER_ERRORS as error:
            others = ",".join(s for s in stores if s != store) or "memory"
            raise BenchmarkError(
                f"cannot use {store} at {redact(url)}: {_reason(error)}\n"
                f"Is it running? Give its URL with {SERVERS[store][0]}, or leave"
                f" it out: --stores {others}"
            ) from None
        cleanup.callback(_clean_up_or_warn, store, url)
    return found


def _clean_up_or_warn(store: str, url: str) -> None:
    try:
        clean_up(store, url)
    except SERVER_ERRORS as error:
        print(
            f"warning: could not clean up {store} at {redact(url)}: {_reason(error)}",
            file=sys.stderr,
        )


# -- measuring -----------------------------------------------------------------


def timing_order(scenarios: list[Scenario]) -> list[Scenario]:
    """The order of one pass over ``scenarios``: each goal's sides side by
    side.

    The machine's speed drifts from one second to the next (on a shared
    VM, rounds of one scenario vary by a quarter), so two rounds are alike
    only if they ran moments apart. The untouched views, whose goal is set
    against bare Flask, lead with bare Flask in their midst. Every other
    rivo scenario runs between its two Flask-Session peers on the same
    backend and request; the cookie session's rounds run just before rivo's
    on memory (the goal set against it), or before the first store's group.
    """
    untouched = OPS["untouched"]
    views = [s for s in scenarios if s.kind == "rivo" and s.path == untouched]
    middle = (len(views) + 1) // 2
    bare = [s for s in scenarios if s.kind == "bare"]
    order = views[:middle] + bare + views[middle:]
    for path in OPS.values():
        cookie = [s for s in scenarios if s.path == path and s.kind == "cookie"]
        for store in STORES:
            group = [s for s in scenarios if s.path == path and s.store == store]
            peers = [s for s in group if s.kind in PEERS]
            own = [s for s in group if s.kind == "rivo" and path != untouched]
            if own and cookie:  # the cookie session before the first rivo row
                if store == "memory":  # whose target it is: just before it
                    own = cookie + own
                else:
                    order += cookie
                cookie = []
            order += peers[:1] + own + peers[1:]
        order += cookie
    return order


def measure(
    scenarios: list[Scenario],
    requests: int,
    rounds: int,
    warmup: int,
    cleanup: contextlib.ExitStack,
) -> list[Scenario]:
    """Warm every scenario up, then time the rounds in turn.

    Rounds are interleaved (scenario 1, 2, ..., then again) rather than
    run scenario by scenario, so a slow patch of the machine hits every
    scenario rather than one; short and many (by default 40 of 250
    requests), so that one pass over every scenario takes seconds, and the
    round-by-round ratios of :func:`ratios` compare sides that ran under
    the same state of the machine. Within a pass, the sides of each
    goal run next to each other (:func:`timing_order`), and every
    other pass runs backwards, so that neither side always goes first. The
    garbage collector stays on, as in a real server, but starts each round
    empty.
    """
    for scenario in scenarios:
        scenario.set_up(cleanup)
        scenario.run(warmup)
    order = timing_order(scenarios)
    for number in range(rounds):
        for scenario in order if number % 2 == 0 else reversed(order):
            gc.collect()
            scenario.rates.append(requests / scenario.run(requests))
    for scenario in scenarios:
        scenario.check()
    return scenarios


#: The ratios of a rivo row, by their key in the JSON report: to bare Flask,
#: to the cookie session and to each of :data:`PEERS` (each also prefixed
#: ``paired_`` and ``best_``: see :func:`ratios`).
RATIOS = ("vs_bare", "vs_cookie", "vs_flask_session", "vs_flask_session_tuned")


def find(
    scenarios: list[Scenario], kind: str, path: str, store: str | None = None
) -> Scenario:
    """The scenario of this kind, request and store."""
    key = (kind, path, store)
    return next(s for s in scenarios if (s.kind, s.path, s.store) == key)


#: How sure the interval around a median ratio is (see :func:`median_interval`).
CONFIDENCE = 0.95


def median_interval(
    values: list[float], confidence: float = CONFIDENCE
) -> tuple[float, float] | None:
    """A distribution-free confidence interval for the median of ``values``.

    Two order statistics, the k-th smallest and the k-th largest, with k
    the largest for which fewer than k of n values fall below the median
    with probability at most (1 - ``confidence``) / 2: a binomial tail with
    p = 1/2, assuming nothing about the rounds' distribution (the sign-test
    interval). ``None`` if there are too few values for any such k (fewer
    than 6 at 95%).
    """
    n = len(values)
    tail = (1 - confidence) / 2
    below, k = 0.0, 0  # below: P(fewer than k+1 values below the median)
    while k < n // 2:
        below += math.comb(n, k) / 2**n
        if below > tail:
            break
        k += 1
    if k == 0:
        return None
    ordered = sorted(values)
    return ordered[k - 1], ordered[n - k]


def ratios(own: list[float], other: list[float]) -> dict[str, float]:
    """Readings of how much faster ``own``'s rounds ran than ``other``'s,
    by the prefix of their key in the JSON report.

    * ``paired_``: the median of the round-by-round ratios. Round *n* of
      every scenario ran within the same pass over them all, seconds apart,
      so each ratio compares two sides under the same state of the machine,
      and a slow patch that hit one round cancels out. The headline figure.
    * ``paired_low_`` and ``paired_high_``: the :data:`CONFIDENCE` interval
      of that median (:func:`median_interval`), if there are rounds enough.
    * no prefix: the ratio of the two medians, each of its own rounds.
    * ``best_``: the ratio of the best rounds, the least the machine took
      from each side, as :mod:`timeit` reports.
    """
    paired = [a / b for a, b in zip(own, other, strict=True)]
    found = {
        "paired_": statistics.median(paired),
        "": statistics.median(own) / statistics.median(other),
        "best_": max(own) / max(other),
    }
    interval = median_interval(paired)
    if interval is not None:
        found["paired_low_"], found["paired_high_"] = interval
    return found


def results(scenarios: list[Scenario]) -> list[dict[str, t.Any]]:
    """Each scenario's rate, and its ratios to the baselines.

    The rate is the median round, so that one lucky or unlucky round moves
    nothing, with the best round beside it. Every scenario is compared with
    bare Flask; rivo's are also compared with the same request on the
    cookie session and on Flask-Session on the same backend, each in the
    three readings of :func:`ratios` (``vs_...`` of medians,
    ``paired_vs_...`` and ``best_vs_...``).
    """
    rows = []
    bare = find(scenarios, "bare", "/plain")
    for scenario in scenarios:
        row: dict[str, t.Any] = {
            "scenario": scenario.name,
            "kind": scenario.kind,
            "store": scenario.store,
            "path": scenario.path,
            "requests_per_second": round(statistics.median(scenario.rates), 1),
            "best_requests_per_second": round(max(scenario.rates), 1),
            "rounds": [round(r, 1) for r in scenario.rates],
        }
        against = {"vs_bare": bare}
        if scenario.kind == "rivo":
            path, store = scenario.path, scenario.store
            against["vs_cookie"] = find(scenarios, "cookie", path)
            if STORES[store or ""][1] is not None:
                for kind, key in zip(PEERS, RATIOS[2:], strict=True):
                    against[key] = find(scenarios, kind, path, store)
        for key, other in against.items():
            for prefix, value in ratios(scenario.rates, other.rates).items():
                row[prefix + key] = round(value, 3)
        rows.append(row)
    return rows


#: Requests each scenario makes while its store's traffic is counted.
COUNTED = 20


def costs(scenarios: list[Scenario], rows: list[dict[str, t.Any]]) -> None:
    """Add store calls per request and bytes per session to ``rows``.

    Counted after the timed rounds, so counting slows no round down: SQL
    statements as SQLAlchemy sends them (Flask-Session's ORM transaction
    adds a BEGIN and a ROLLBACK or COMMIT, which are not counted; rivo's
    statements run in autocommit), Redis commands and pipelines as sent.
    Bytes are what the store holds per session: the values of its row
    (numbers as 8 bytes), or Redis's ``MEMORY USAGE`` of its keys.
    """
    sizes: dict[tuple[str, str], float] = {}
    for scenario, row in zip(scenarios, rows, strict=True):
        if scenario.store in (None, "memory"):
            continue
        # Only the lookup in an app context: requests made inside one would
        # share its ``g``, where the current user is kept between them.
        with scenario.app.app_context():
            client = store_client(scenario)
        row["store_calls_per_request"] = count_calls(scenario, client)
        side = (scenario.kind, scenario.store or "")
        if side not in sizes:
            sizes[side] = bytes_per_session(scenario, client)
        row["bytes_per_session"] = round(sizes[side])


def store_client(scenario: Scenario) -> redis.Redis | sa.Engine:
    """The Redis client or SQLAlchemy engine behind a scenario's sessions."""
    app = scenario.app
    if scenario.kind == "rivo":
        store = app.extensions["rivo_sessions"].store
        return store.client if isinstance(store, RedisStore) else store.engine
    interface = app.session_interface
    if scenario.store == "redis":
        return t.cast("redis.Redis", interface.client)  # type: ignore[attr-defined]
    return t.cast("sa.Engine", interface.client.engine)  # type: ignore[attr-defined]


def count_calls(scenario: Scenario, client: redis.Redis | sa.Engine) -> float:
    """Statements (or commands) per request, over :data:`COUNTED` requests."""
    if isinstance(client, redis.Redis):
        # One send per command or pipeline: one round trip (the server's own
        # statistics would count a script's commands). Counted on the
        # connection class: rivo's store keeps a connection per thread, and
        # takes none from the pool per command.
        connection_class, sends = redis.connection.AbstractConnection, [0]
        real = connection_class.send_packed_command

        def counting(self: t.Any, *args: t.Any, **kwargs: t.Any) -> t.Any:
            sends[0] += 1  # only this scenario's app runs meanwhile
            return real(self, *args, **kwargs)

        connection_class.send_packed_command = counting  # type: ignore[method-assign]
        try:
            scenario.run(COUNTED)
        finally:
            connection_class.send_packed_command = real  # type: ignore[method-assign]
        return sends[0] / COUNTED
    statements: list[str] = []

    def seen(*args: t.Any) -> None:
        statements.append(args[2])

    sa.event.listen(client, "before_cursor_execute", seen)
    try:
        scenario.run(COUNTED)
    finally:
        sa.event.remove(client, "before_cursor_execute", seen)
    return len(statements) / COUNTED


def bytes_per_session(scenario: Scenario, client: redis.Redis | sa.Engine) -> float:
    """What the scenario's side keeps per session on its backend, on average."""
    side = "rivo" if scenario.kind == "rivo" else "flask-session"
    if isinstance(client, redis.Redis):
        prefix = REDIS_PREFIXES[side]
        keys = [k for k in client.scan_iter(match=f"{prefix}*") if b":user:" not in k]
        used = sum(client.memory_usage(k) or 0 for k in keys)
        return used / max(len(keys), 1)
    with client.connect() as connection:
        query = sa.text(f"SELECT * FROM {TABLES[side]}")
        found = connection.execute(query).all()
    total = sum(
        len(v)
        if isinstance(v, bytes)
        else len(str(v).encode())
        if isinstance(v, str)
        else 8 * (v is not None)
        for row in found
        for v in row
    )
    return total / max(len(found), 1)


def table(rows: list[dict[str, t.Any]]) -> str:
    """The rows as a plain aligned text table."""
    header = (
        "scenario",
        "req/s",
        "vs bare",
        "vs cookie",
        "vs Flask-Session",
        "vs FS no refresh",
        "store calls/req",
        "bytes/session",
    )
    lines = [header]
    for row in rows:
        ratios = [row.get(k) for k in RATIOS]
        calls, size = row.get("store_calls_per_request"), row.get("bytes_per_session")
        lines.append(
            (
                row["scenario"],
                f"{row['requests_per_second']:,.0f}",
                *(f"{r:.2f}x" if r is not None else "" for r in ratios),
                "" if calls is None else f"{calls:g}",
                "" if size is None else f"{size:,}",
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = [
        "  ".join(
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(line, widths, strict=True))
        ).rstrip()
        for line in lines
    ]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)


def store_list(text: str) -> list[str]:
    """Parse ``--stores``: names from :data:`STORES`, comma-separated."""
    stores = list(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    unknown = [s for s in stores if s not in STORES]
    if unknown or not stores:
        raise argparse.ArgumentTypeError(
            f"expected some of {','.join(STORES)}, got {text!r}"
        )
    return stores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=250, help="requests per round (250)"
    )
    parser.add_argument("--rounds", type=int, default=40, help="rounds (40)")
    parser.add_argument(
        "--stores",
        type=store_list,
        default=list(STORES),
        help=f"the stores to measure rivo on, comma-separated ({','.join(STORES)})",
    )
    for store, (option, url) in SERVERS.items():
        text = f"the {store} server ({url})"
        parser.add_argument(option, dest=store, default=url, metavar="URL", help=text)
    parser.add_argument("--json", metavar="PATH", help="also write the numbers here")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.rounds < 1:
        parser.error("--requests and --rounds must be at least 1")
    warmup = max(100, args.requests // 10)
    urls = {store: getattr(args, store) for store in args.stores if store in SERVERS}
    folder = tempfile.TemporaryDirectory(prefix="rivo-bench-")
    urls["sqlite"] = f"sqlite:///{Path(folder.name) / 'sessions.db'}"

    packages = ["flask", "flask-session", "flask-login", "cachelib"]
    if "redis" in urls:
        packages.append("redis")
    if "postgresql" in urls or "sqlite" in args.stores:
        packages += ["flask-sqlalchemy", "sqlalchemy"]
    if "postgresql" in urls:
        packages.append("psycopg")
    if "mariadb" in urls:
        packages.append("pymysql")
    try:
        with folder, contextlib.ExitStack() as cleanup:
            servers = open_servers(args.stores, urls, cleanup)
            versions = {name: version(name) for name in packages}
            versions["python"] = platform.python_version()
            print(
                f"{args.requests} requests x {args.rounds} rounds per scenario"
                f" (after {warmup} warm-up), median round; "
                + ", ".join(f"{k} {v}" for k, v in versions.items())
            )
            for store, server in servers.items():
                print(f"{store}: {server} at {redact(urls[store])}")
            found = build_scenarios(args.stores, urls)
            measured = measure(found, args.requests, args.rounds, warmup, cleanup)
            rows = results(measured)
            costs(measured, rows)
    except BenchmarkError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    print(table(rows))
    if args.json:
        report = {
            "requests": args.requests,
            "rounds": args.rounds,
            "warmup": warmup,
            "confidence": CONFIDENCE,
            "versions": versions,
            "servers": {
                store: {"server": server, "url": redact(urls[store])}
                for store, server in servers.items()
            },
            "results": rows,
        }
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(report, file, indent=2)
            file.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
