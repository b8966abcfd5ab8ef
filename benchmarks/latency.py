"""Latency through a real server: p50 and p99 of a read, at 8 and 32 clients.

Each store gets its own gunicorn, started by this script on a free port of
127.0.0.1 with ``gthread`` workers (2 workers x 8 threads by default, as
people deploy Flask), serving :func:`create_app`: the same apps as
``run.py`` (bare Flask, Flask's cookie session, rivo on the memory store,
SQLite, PostgreSQL and Redis, and Flask-Session on Redis as the peer). The
memory store lives in one process, so its server runs one worker with all
the threads instead (a deployment with several workers cannot use it).

Every client is a thread with its own keep-alive ``http.client`` connection
and its own session, made by one ``/start`` request before the clock starts;
then the clients send ``GET /read`` (bare Flask: ``/plain``) as fast as the
answers come back, until together they made ``--requests`` requests or
``--seconds`` passed. Every answer must be a 200 with the session's value,
or the run fails. The clients run in this process, on the same cores as the
server: the figures are the round trip as a client on the machine sees it.

The server runs in its own process group and is stopped (SIGTERM, then
SIGKILL) when its store is done, also on errors and Ctrl-C. It talks only
to 127.0.0.1. Sessions go to the Redis keys ``rivolatency:*`` and
``fslatency:*`` and the table ``rivo_latency_sessions``, removed before and
after.

Run ``python benchmarks/latency.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
import urllib.parse
from pathlib import Path

import run
from run import SERVERS
from run import BenchmarkError
from run import redact

if t.TYPE_CHECKING:
    from flask import Flask

# Our own keys and tables, so that a run.py running meanwhile (which cleans
# up ``rivobench:*``) never touches them. Changed in place: run.py's
# make_app and clean_up read these dicts, in this process and in gunicorn's.
run.REDIS_PREFIXES.update({"rivo": "rivolatency:", "flask-session": "fslatency:"})
run.TABLES.update(
    {"rivo": "rivo_latency_sessions", "flask-session": "fs_latency_sessions"}
)

#: What ``--stores`` chooses from: the row's name, the kind of session
#: (see ``run.make_app``) and the store or backend.
TARGETS: dict[str, tuple[str, str, str | None]] = {
    "bare": ("bare Flask, no session", "bare", None),
    "cookie": ("cookie session", "cookie", None),
    "memory": ("rivo memory", "rivo", "memory"),
    "sqlite": ("rivo sqlite", "rivo", "sqlite"),
    "postgresql": ("rivo postgresql", "rivo", "postgresql"),
    "redis": ("rivo redis", "rivo", "redis"),
    "flask-session-redis": ("Flask-Session redis", "flask-session", "redis"),
}
#: Seconds the server has to answer its first request.
START_TIMEOUT = 30
#: Seconds a client waits for one answer before the run fails.
REQUEST_TIMEOUT = 30


def create_app() -> Flask:
    """The app gunicorn serves, chosen by the ``RIVO_LATENCY_*`` variables."""
    kind = os.environ["RIVO_LATENCY_KIND"]
    store = os.environ.get("RIVO_LATENCY_STORE") or None
    url = os.environ.get("RIVO_LATENCY_URL", "")
    # Closed with the worker process: its connections end with it.
    return run.make_app(kind, store, url, contextlib.ExitStack())


def free_port() -> int:
    """A TCP port of 127.0.0.1 nothing listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def server(
    kind: str, store: str | None, url: str, workers: int, threads: int
) -> t.Iterator[int]:
    """Run gunicorn on the app of ``kind`` and ``store``; yield its port.

    It runs in a process group of its own, which is ended on the way out,
    whatever happened meanwhile.
    """
    port = free_port()
    here = Path(__file__).resolve().parent
    env = dict(os.environ)
    env.update(
        RIVO_LATENCY_KIND=kind,
        RIVO_LATENCY_STORE=store or "",
        RIVO_LATENCY_URL=url,
        PYTHONPATH=os.pathsep.join(
            [str(here), str(here.parent), env.get("PYTHONPATH", "")]
        ),
    )
    command = [
        sys.executable, "-m", "gunicorn",
        "--worker-class", "gthread",
        "--workers", str(workers),
        "--threads", str(threads),
        "--bind", f"127.0.0.1:{port}",
        "--keep-alive", "60",
        "--log-level", "warning",
        "latency:create_app()",
    ]  # fmt: skip
    process = subprocess.Popen(command, env=env, start_new_session=True)  # noqa: S603
    try:
        wait_until_up(process, port)
        yield port
    finally:
        stop(process)


def wait_until_up(process: subprocess.Popen[bytes], port: int) -> None:
    """Wait for the server's first answer to ``/plain``."""
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchmarkError(f"gunicorn exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                connection.request("GET", "/plain")
                if connection.getresponse().status == 200:
                    return
            finally:
                connection.close()
        except OSError:
            pass
        time.sleep(0.1)
    raise BenchmarkError(f"gunicorn did not answer within {START_TIMEOUT} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    """End the server's whole process group: SIGTERM, then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(wait)
            break
        except subprocess.TimeoutExpired:
            continue
    # Workers left behind by a master that died first.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


class Client:
    """One browser: a keep-alive connection and its session cookie."""

    def __init__(self, port: int, kind: str) -> None:
        self.connection = http.client.HTTPConnection(
            "127.0.0.1", port, timeout=REQUEST_TIMEOUT
        )
        self.headers = {"User-Agent": run.USER_AGENT}
        self.path, self.expected = "/plain", b"ok"
        if kind != "bare":
            status, headers, _ = self.get("/start")
            if status != 200:
                raise BenchmarkError(f"/start answered {status}")
            cookies = [v.split(";", 1)[0] for n, v in headers if n == "set-cookie"]
            if not cookies:
                raise BenchmarkError("/start set no cookie")
            self.headers["Cookie"] = "; ".join(cookies)
            self.path, self.expected = "/read", b"0"

    def get(self, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
        self.connection.request("GET", path, headers=self.headers)
        response = self.connection.getresponse()
        body = response.read()
        headers = [(n.lower(), v) for n, v in response.getheaders()]
        return response.status, headers, body

    def read(self) -> float:
        """One timed read; its seconds."""
        started = time.perf_counter()
        status, _, body = self.get(self.path)
        took = time.perf_counter() - started
        if status != 200 or body != self.expected:
            raise BenchmarkError(f"{self.path} answered {status} {body[:80]!r}")
        return took

    def close(self) -> None:
        self.connection.close()


def drive(
    port: int, kind: str, clients: int, requests: int, seconds: float, warmup: int
) -> dict[str, t.Any]:
    """``clients`` threads reading until ``requests`` or ``seconds`` run out."""
    # Sessions made one by one, before any clock: no client's first
    # request is a write racing the others.
    pool = [Client(port, kind) for _ in range(clients)]
    lock = threading.Lock()
    left = [requests]
    timings: list[float] = []
    errors: list[BaseException] = []
    ready = threading.Barrier(clients + 1)
    deadline = [0.0]

    def client_loop(client: Client) -> None:
        mine: list[float] = []
        try:
            for _ in range(warmup):
                client.read()
            ready.wait()
            while time.perf_counter() < deadline[0] and not errors:
                with lock:
                    if left[0] <= 0:
                        break
                    left[0] -= 1
                mine.append(client.read())
        except threading.BrokenBarrierError:
            pass
        except BaseException as error:  # reported below
            errors.append(error)
            ready.abort()
        finally:
            with lock:
                timings.extend(mine)

    threads = [threading.Thread(target=client_loop, args=(c,)) for c in pool]
    try:
        for thread in threads:
            thread.start()
        with contextlib.suppress(threading.BrokenBarrierError):
            deadline[0] = time.perf_counter() + seconds
            ready.wait()
        started = time.perf_counter()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    finally:
        for client in pool:
            client.close()
    if errors:
        raise BenchmarkError(f"a client failed: {errors[0]!r}")
    if len(timings) < 2:
        raise BenchmarkError("fewer than 2 requests made in the time allowed")
    cuts = statistics.quantiles(timings, n=100, method="inclusive")
    return {
        "clients": clients,
        "requests": len(timings),
        "seconds": round(elapsed, 3),
        "requests_per_second": round(len(timings) / elapsed, 1),
        "p50_ms": round(cuts[49] * 1000, 3),
        "p99_ms": round(cuts[98] * 1000, 3),
        "max_ms": round(max(timings) * 1000, 3),
    }


def prepare(store: str | None, url: str) -> None:
    """Clean the server of ``store``, and make rivo's table before the workers
    start, so that they do not race to create it."""
    if store in SERVERS:
        run.clean_up(t.cast("str", store), url)
    if store in ("sqlite", "postgresql"):
        made = run.SQLAlchemyStore(url, table_name=run.TABLES["rivo"])
        try:
            made.load("0" * 64)
        finally:
            made.close()


def finish(store: str | None, url: str) -> None:
    if store in SERVERS:
        try:
            run.clean_up(t.cast("str", store), url)
        except run.SERVER_ERRORS as error:
            print(f"warning: could not clean up {store}: {error}", file=sys.stderr)


def number_list(text: str) -> list[int]:
    found = [int(n) for n in text.split(",") if n.strip()]
    if not found or min(found) < 1:
        raise argparse.ArgumentTypeError(f"expected numbers >= 1, got {text!r}")
    return found


def target_list(text: str) -> list[str]:
    found = list(dict.fromkeys(s.strip() for s in text.split(",") if s.strip()))
    unknown = [s for s in found if s not in TARGETS]
    if unknown or not found:
        raise argparse.ArgumentTypeError(
            f"expected some of {','.join(TARGETS)}, got {text!r}"
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=number_list, default=[8, 32], help="(8,32)")
    parser.add_argument(
        "--requests", type=int, default=5000, help="timed, per level (5000)"
    )
    parser.add_argument(
        "--seconds", type=float, default=30.0, help="at most, per level (30)"
    )
    parser.add_argument(
        "--warmup", type=int, default=20, help="untimed reads per client (20)"
    )
    parser.add_argument("--workers", type=int, default=2, help="gunicorn's (2)")
    parser.add_argument("--threads", type=int, default=8, help="per worker (8)")
    parser.add_argument(
        "--stores",
        type=target_list,
        default=list(TARGETS),
        help=f"comma-separated ({','.join(TARGETS)})",
    )
    for store in ("redis", "postgresql"):
        option, url = SERVERS[store]
        text = f"the {store} server ({url})"
        parser.add_argument(option, dest=store, default=url, metavar="URL", help=text)
    parser.add_argument("--json", metavar="PATH", help="also write the numbers here")
    args = parser.parse_args(argv)
    if args.requests < 2 or args.workers < 1 or args.threads < 1:
        parser.error("--requests must be at least 2, --workers and --threads 1")
    for store in ("redis", "postgresql"):
        host = urllib.parse.urlsplit(getattr(args, store)).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            parser.error(f"{store} must be on loopback, not {host}")
    print(
        f"gunicorn gthread, {args.workers} workers x {args.threads} threads"
        f" (memory store: 1 x {args.workers * args.threads}); up to"
        f" {args.requests} requests or {args.seconds:g} s per level, after"
        f" {args.warmup} untimed reads per client"
    )
    header = f"{'store':<24} {'clients':>7} {'requests':>8} {'req/s':>7}"
    print(f"{header} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}")
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="rivo-latency-") as folder:
            urls = {
                "sqlite": f"sqlite:///{Path(folder) / 'sessions.db'}",
                "redis": args.redis,
                "postgresql": args.postgresql,
            }
            for name in args.stores:
                label, kind, store = TARGETS[name]
                url = urls.get(store or "", "")
                workers, threads = args.workers, args.threads
                if store == "memory":
                    workers, threads = 1, args.workers * args.threads
                try:
                    prepare(store, url)
                except run.SERVER_ERRORS as error:
                    raise BenchmarkError(
                        f"cannot use {store} at {redact(url)}:"
                        f" {run._reason(error)}; leave it"
                        " out with --stores"
                    ) from None
                try:
                    with server(kind, store, url, workers, threads) as port:
                        for clients in args.clients:
                            found = drive(
                                port,
                                kind,
                                clients,
                                args.requests,
                                args.seconds,
                                args.warmup,
                            )
                            found.update(store=label, workers=workers, threads=threads)
                            rows.append(found)
                            print(
                                f"{label:<24} {clients:>7} {found['requests']:>8}"
                                f" {found['requests_per_second']:>7,.0f}"
                                f" {found['p50_ms']:>7.2f} {found['p99_ms']:>7.2f}"
                                f" {found['max_ms']:>7.1f}",
                                flush=True,
                            )
                finally:
                    finish(store, url)
    except BenchmarkError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    if args.json:
        Path(args.json).write_text(json.dumps({"results": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
