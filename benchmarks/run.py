"""Request throughput of RivoSessions against Flask's session and Flask-Session.

Every scenario runs in this one process, round by round in turn, so the
ratios between them mean something even on a noisy machine: what a machine
does to one scenario it does to all. Requests go straight to
``app.wsgi_app`` with a prebuilt environ, without an HTTP server or the test
client, so the numbers are the cost of Flask and the session interface, not
of sockets or of Werkzeug's test machinery.

Run ``python benchmarks/run.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import platform
import sys
import time
import typing as t
from importlib.metadata import version

from flask import Flask
from flask import session
from werkzeug.test import EnvironBuilder

from flask_rivo import RivoSessions

try:
    from cachelib import SimpleCache
    from flask_session import Session  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover - told to the user below
    sys.exit(
        "The benchmark compares with Flask-Session on cachelib; install them"
        " with: pip install '.[bench]'"
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


class BenchmarkError(Exception):
    """A scenario did not do what it claims to, so its number would lie."""


def make_app(kind: str) -> Flask:
    """An application with the session interface ``kind`` and three views.

    ``/start`` creates a session, ``/read`` reads it and ``/write`` changes
    it. Both use ``session["n"]``, not ``.get``: a session that failed to
    load is then a KeyError and a 500, never a silently empty session.
    """
    app = Flask(f"bench_{kind}")
    if kind == "cookie":
        app.config["SECRET_KEY"] = "benchmark-only-not-secret"  # noqa: S105
    elif kind == "rivo":
        RivoSessions(app)
    elif kind == "flask-session":
        app.config["SESSION_TYPE"] = "cachelib"
        app.config["SESSION_CACHELIB"] = SimpleCache()
        Session(app)
    elif kind != "bare":
        raise ValueError(kind)

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
    """The ``name=value`` of the session cookie a response set."""
    for name, value in headers:
        if name.lower() == "set-cookie":
            return value.split(";", 1)[0]
    raise BenchmarkError("the response set no session cookie")


@dataclasses.dataclass
class Scenario:
    """One kind of request against one app, and what it must leave behind."""

    name: str
    kind: str
    path: str
    #: Writes, counted so the end of the run can check they were all kept.
    writes: bool = False
    app: Flask = dataclasses.field(init=False, repr=False)
    env: Environ = dataclasses.field(init=False, repr=False)
    cookie: str | None = dataclasses.field(init=False, default=None)
    made: int = dataclasses.field(init=False, default=0)
    last_headers: Headers = dataclasses.field(init=False, default_factory=list)
    rates: list[float] = dataclasses.field(init=False, default_factory=list)

    def set_up(self) -> None:
        """Build the app and, for a session scenario, start its session.

        Each scenario has its own app and session, so the write counts of
        one never mix with another's.
        """
        self.app = make_app(self.kind)
        if self.path != "/plain":
            status, headers, _ = call(self.app, environ("/start"))
            if status != "200 OK":
                raise BenchmarkError(f"{self.name}: /start answered {status}")
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

        Server-side sessions must hold every write. Flask's cookie session
        keeps nothing on the server and the loop resends the first cookie,
        so each write there starts from 0: the cookie it returns holds 1.
        """
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


SCENARIOS = [
    ("bare Flask, no session", "bare", "/plain", False),
    ("cookie session, read", "cookie", "/read", False),
    ("cookie session, write", "cookie", "/write", True),
    ("rivo memory, read", "rivo", "/read", False),
    ("rivo memory, write", "rivo", "/write", True),
    ("Flask-Session cachelib, read", "flask-session", "/read", False),
    ("Flask-Session cachelib, write", "flask-session", "/write", True),
]


def measure(requests: int, rounds: int, warmup: int) -> list[Scenario]:
    """Warm every scenario up, then time the rounds in turn.

    Rounds are interleaved (scenario 1, 2, ..., then again) rather than
    run scenario by scenario, so a slow patch of the machine hits every
    scenario rather than one. The garbage collector stays on, as in a real
    server, but starts each round empty.
    """
    scenarios = [Scenario(*row) for row in SCENARIOS]
    for scenario in scenarios:
        scenario.set_up()
        scenario.run(warmup)
    for _ in range(rounds):
        for scenario in scenarios:
            gc.collect()
            scenario.rates.append(requests / scenario.run(requests))
    for scenario in scenarios:
        scenario.check()
    return scenarios


def best(scenarios: list[Scenario], name: str) -> float:
    """The best round's requests per second of the scenario ``name``."""
    return max(next(s for s in scenarios if s.name == name).rates)


def results(scenarios: list[Scenario]) -> list[dict[str, t.Any]]:
    """Each scenario's best rate and its ratios to the baselines.

    The best round, not the mean: noise only ever slows a round down, so
    the fastest is the closest to what the code itself costs. Rivo's rows
    are also compared with the same operation on the cookie session and on
    Flask-Session.
    """
    bare = best(scenarios, "bare Flask, no session")
    rows = []
    for scenario in scenarios:
        rate = max(scenario.rates)
        row: dict[str, t.Any] = {
            "scenario": scenario.name,
            "requests_per_second": round(rate, 1),
            "rounds": [round(r, 1) for r in scenario.rates],
            "vs_bare": round(rate / bare, 3),
        }
        if scenario.kind == "rivo":
            op = scenario.name.rsplit(", ", 1)[1]
            row["vs_cookie"] = round(rate / best(scenarios, f"cookie session, {op}"), 3)
            row["vs_flask_session"] = round(
                rate / best(scenarios, f"Flask-Session cachelib, {op}"), 3
            )
        rows.append(row)
    return rows


def table(rows: list[dict[str, t.Any]]) -> str:
    """The rows as a plain aligned text table."""
    header = ("scenario", "req/s", "vs bare", "vs cookie", "vs Flask-Session")
    lines = [header]
    for row in rows:
        ratios = [row.get(k) for k in ("vs_bare", "vs_cookie", "vs_flask_session")]
        lines.append(
            (
                row["scenario"],
                f"{row['requests_per_second']:,.0f}",
                *(f"{r:.2f}x" if r is not None else "" for r in ratios),
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--requests", type=int, default=5000, help="requests per round (5000)"
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds (5)")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers here")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.rounds < 1:
        parser.error("--requests and --rounds must be at least 1")
    warmup = max(100, args.requests // 10)

    versions = {name: version(name) for name in ("flask", "flask-session", "cachelib")}
    versions["python"] = platform.python_version()
    print(
        f"{args.requests} requests x {args.rounds} rounds per scenario"
        f" (after {warmup} warm-up), best round; "
        + ", ".join(f"{k} {v}" for k, v in versions.items())
    )
    try:
        rows = results(measure(args.requests, args.rounds, warmup))
    except BenchmarkError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    print(table(rows))
    if args.json:
        report = {
            "requests": args.requests,
            "rounds": args.rounds,
            "warmup": warmup,
            "versions": versions,
            "results": rows,
        }
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(report, file, indent=2)
            file.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
