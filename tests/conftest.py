from __future__ import annotations

import os
import typing as t

import flask
import pytest
from aiosmtpd.controller import Controller
from backends import ALL
from backends import Backend
from backends import make_backends
from backends import use
from hypothesis import settings
from support import CountingStore
from support import FakeClock
from support import free_port
from support import session_app
from users_support import Mailbox

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from flask.testing import FlaskClient

# No per-example deadline: the fuzzed examples go through real stores and
# bcrypt, whose times a loaded machine stretches past Hypothesis's 200 ms
# default without anything being wrong. What they check is the answers.
settings.register_profile("rivo", deadline=None)
settings.load_profile("rivo")


#: The most processes ``-n auto`` starts: each holds connections to the
#: shared servers (PostgreSQL allows 100 by default) and may run a browser.
MAX_WORKERS = 4


@pytest.hookimpl(optionalhook=True)  # a plain pytest needs no xdist
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (``make test``): ``PYTEST_XDIST_AUTO_NUM_WORKERS`` if set,
    else a process per core the run may use, at most :data:`MAX_WORKERS`
    (pytest-xdist would count physical cores when psutil is installed; the
    tests mostly wait on servers, so every core counts)."""
    chosen = os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS")
    if chosen:
        if not chosen.isdigit() or int(chosen) < 1:
            raise pytest.UsageError(
                f"PYTEST_XDIST_AUTO_NUM_WORKERS={chosen!r}: not a number of workers"
            )
        return int(chosen)
    if hasattr(os, "sched_getaffinity"):  # Linux: the cores this process may use
        cores = len(os.sched_getaffinity(0))
    else:
        cores = os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, cores))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run the tests marked ``every_store`` that use a store on each one."""
    marked = metafunc.definition.get_closest_marker("every_store") is not None
    if marked and "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", ALL, indirect=True)


@pytest.fixture(scope="session")
def backends(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Backend]]:
    """Every kind of store; tables and key prefixes of this run's own."""
    made = make_backends(tmp_path_factory.mktemp("stores"))
    yield made
    for backend in made.values():
        backend.close()


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """The kind of store under test: memory, unless the test is marked
    ``every_store`` (see :func:`pytest_generate_tests`)."""
    return t.cast("str", getattr(request, "param", "memory"))


@pytest.fixture
def store(
    backends: dict[str, Backend], backend: str, clock: FakeClock
) -> Iterator[CountingStore]:
    """A fresh store of the kind under test, counting the calls to it."""
    kind = backends[backend]
    use(kind)
    inner = kind.make(clock)
    yield CountingStore(inner, lambda: kind.records(inner))
    kind.clear(inner)
    inner.close()


@pytest.fixture
def app(clock: FakeClock, store: CountingStore) -> flask.Flask:
    """An app with RivoSessions on the counting store, and a few views."""
    app = t.cast("flask.Flask", session_app(RIVO_SESSION_STORE=store))
    app.extensions["rivo_sessions"].clock = clock
    return app


@pytest.fixture
def client(app: flask.Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="session")
def smtp_server() -> Iterator[tuple[int, Mailbox]]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 for the whole test run."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, mailbox
    controller.stop()


@pytest.fixture
def mailbox(smtp_server: tuple[int, Mailbox]) -> Mailbox:
    """The messages the SMTP server received, emptied for each test."""
    smtp_server[1].clear()
    return smtp_server[1]
