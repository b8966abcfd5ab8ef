"""Helpers shared by the tests (importable: ``pythonpath = tests``)."""

from __future__ import annotations

import contextlib
import re
import time
import typing as t

from flask_rivo.exceptions import StoreError
from flask_rivo.stores import Record
from flask_rivo.stores import SessionStore

if t.TYPE_CHECKING:
    from collections.abc import Iterator


class FakeClock:
    """A clock the tests move by hand; starts at the real time."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class CountingStore(SessionStore):
    """A real store, wrapped to count the calls made to it.

    With ``down`` set it fails as a store whose server is unreachable does;
    for the memory store there is no server to stop, so this is the only way
    to cause that fault for it (the network stores are also stopped for real,
    in ``tests/stores/test_outage.py``).

    :param records: returns everything the wrapped store holds, expired or
        not, read without going through (and counting) the store interface.
    """

    def __init__(
        self, inner: SessionStore, records: t.Callable[[], dict[str, Record]]
    ) -> None:
        self.inner = inner
        self.calls: list[str] = []
        self.down = False
        self._records = records

    def _call(self, name: str) -> None:
        if self.down:
            raise StoreError("connection refused")
        self.calls.append(name)

    def reads(self) -> int:
        return sum(1 for c in self.calls if c in ("load", "user_sessions"))

    def writes(self) -> int:
        return len(self.calls) - self.reads()

    def load(self, key: str) -> Record | None:
        self._call("load")
        return self.inner.load(key)

    def save(self, key: str, record: Record, expected_version: int | None) -> bool:
        self._call("save")
        return self.inner.save(key, record, expected_version)

    def touch(
        self, key: str, accessed_at: float, expires_at: float, expected_version: int
    ) -> None:
        self._call("touch")
        self.inner.touch(key, accessed_at, expires_at, expected_version)

    def delete(self, key: str) -> None:
        self._call("delete")
        self.inner.delete(key)

    def user_sessions(self, user_id: str) -> list[tuple[str, Record]]:
        self._call("user_sessions")
        return self.inner.user_sessions(user_id)

    def delete_user_sessions(self, user_id: str, keep: str | None = None) -> int:
        self._call("delete_user_sessions")
        return self.inner.delete_user_sessions(user_id, keep)

    def limit_user_sessions(
        self, user_id: str, keep: int, spare: str | None = None
    ) -> int:
        self._call("limit_user_sessions")
        return self.inner.limit_user_sessions(user_id, keep, spare)

    def purge_expired(self, now: float) -> int:
        self._call("purge_expired")
        return self.inner.purge_expired(now)

    def records(self) -> dict[str, Record]:
        """What the store holds, expired or not, without counting a call."""
        return self._records()


def _closing_each_response(app: t.Any) -> t.Any:
    """``app``, with each response read whole and its iterable closed before
    the server sends a byte.

    Werkzeug's development server skips the iterable's ``close()`` when the
    client hangs up while it drains the request (a browser leaving a page
    during a fetch): a static file then stays open, and the garbage
    collector's ResourceWarning fails whichever test it happens in.
    """

    def closing(environ: t.Any, start_response: t.Any) -> list[bytes]:
        iterable = app(environ, start_response)
        try:
            return [b"".join(iterable)]
        finally:
            close = getattr(iterable, "close", None)
            if close is not None:
                close()

    return closing


@contextlib.contextmanager
def http_server(app: t.Any, port: int = 0) -> Iterator[int]:
    """Serve ``app`` on a real threaded HTTP server on 127.0.0.1 (Werkzeug's)
    until the block ends; yields the port (``port``, or a free one).

    Each response is sent whole once made (see
    :func:`_closing_each_response`): a streamed one would arrive all at
    once, at its end.
    """
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", port, _closing_each_response(app), threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join(10)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (just now)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def cookie_value(response: t.Any, name: str = "session") -> str | None:
    """The value a response sets for cookie ``name``; '' if it deletes it."""
    for header in response.headers.getlist("Set-Cookie"):
        key, _, rest = header.partition("=")
        if key == name:
            value = rest.split(";", 1)[0]
            expired = "Expires=Thu, 01 Jan 1970" in header
            return "" if expired else value
    return None


#: A CSRF field in any attribute order (WTForms writes ``name`` then
#: ``type``; the hand-written forms ``type`` then ``name``): group 1 is
#: the token.
CSRF = re.compile(r'<input(?=[^>]*\bname="csrf_token")[^>]*\bvalue="([^"]*)"[^>]*>')


def csrf_token(page: str) -> str:
    """The first CSRF token of ``page``; fails the test if it has none."""
    found = CSRF.search(page)
    assert found is not None, page
    return found.group(1)


def without_csrf(page: str) -> str:
    """``page`` with every CSRF token blanked: a token carries the second
    it was made in, so two pages compared for sameness must not hold it."""
    return CSRF.sub(
        lambda m: (
            m.string[m.start() : m.start(1)] + "TOKEN" + m.string[m.end(1) : m.end()]
        ),
        page,
    )


def require(ready: bool, reason: str) -> None:
    """Skip a test whose outside dependency is missing, or fail it in CI.

    On a developer's machine a missing server or browser skips the test with
    ``reason``; with ``RIVO_REQUIRE_SERVICES=1`` (as ``.ci/run`` sets) it is a
    failure, so CI never goes green by skipping.
    """
    import os

    import pytest

    if ready:
        return
    if os.environ.get("RIVO_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required for this run: {reason}")
    pytest.skip(reason)


def open_session(app: t.Any, cookie: str, *, load: bool = True) -> t.Any:
    """Open the session as a request from the test client would.

    With :func:`save_session`, this plays two requests of one session that
    run at the same time: open both, change both, save in any order. The
    session is loaded at once, as by a view that uses it first thing,
    unless ``load`` is false.
    """
    from flask import request

    environ = app.test_client().environ_base
    headers = {"Cookie": f"session={cookie}"}
    with app.test_request_context(headers=headers, environ_base=environ):
        session = app.session_interface.open_session(app, request)
        if load:
            session.load()
        return session


def save_session(app: t.Any, session: t.Any) -> t.Any:
    """Save a session opened by :func:`open_session`; returns the response."""
    response = app.response_class()
    with app.test_request_context():
        app.session_interface.save_session(app, session, response)
    return response


def session_app(instance_path: str | None = None, **config: t.Any) -> t.Any:
    """A Flask app with RivoSessions, ``config``, and the views tests request.

    ``/nothing`` leaves the session alone, ``/get/<key>`` and
    ``/set/<key>/<value>`` read and write one key, ``/incr/<key>`` counts,
    ``/login/<user_id>`` regenerates and files the session under a user, and
    ``/destroy`` ends it.
    """
    import flask

    from flask_rivo import RivoSessions

    app = flask.Flask(__name__, instance_path=instance_path)
    app.config.update(TESTING=True, **config)
    RivoSessions(app)

    @app.get("/nothing")
    def nothing() -> str:
        return "nothing"

    @app.get("/get/<key>")
    def get(key: str) -> str:
        return repr(flask.session.get(key))

    @app.get("/set/<key>/<value>")
    def set_(key: str, value: str) -> str:
        flask.session[key] = value
        return "ok"

    @app.get("/incr/<key>")
    def incr(key: str) -> str:
        flask.session[key] = flask.session.get(key, 0) + 1
        return str(flask.session[key])

    @app.get("/login/<user_id>")
    def login(user_id: str) -> str:
        flask.session.regenerate()
        flask.session.user_id = user_id
        flask.session["user"] = user_id
        return "in"

    @app.get("/destroy")
    def destroy() -> str:
        flask.session.destroy()
        return "bye"

    return app


class Reply(t.NamedTuple):
    """What :func:`fetch` got back."""

    status: int
    body: str
    #: The session ID the response sets; "" if it deletes the cookie.
    cookie: str | None


def fetch(
    port: int, path: str, cookie: str | None = None, source: str = "127.0.0.1"
) -> Reply:
    """One real HTTP GET to 127.0.0.1:``port`` from ``source``, on its own
    connection (werkzeug's development server speaks HTTP/1.0)."""
    import http.client

    connection = http.client.HTTPConnection(
        "127.0.0.1", port, timeout=20, source_address=(source, 0)
    )
    headers = {"User-Agent": "rivo-test"}
    if cookie:
        headers["Cookie"] = f"session={cookie}"
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read().decode()
        set_cookie = None
        for header in response.headers.get_all("Set-Cookie") or []:
            if header.startswith("session="):
                value = header.split(";", 1)[0].split("=", 1)[1]
                set_cookie = "" if "Expires=Thu, 01 Jan 1970" in header else value
        return Reply(response.status, body, set_cookie)
    finally:
        connection.close()
