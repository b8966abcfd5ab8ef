"""Sessions over real HTTP: a threaded werkzeug server on 127.0.0.1."""

from __future__ import annotations

import threading
import typing as t
from concurrent.futures import ThreadPoolExecutor

import flask
import pytest
from support import FakeClock
from support import fetch
from support import http_server

if t.TYPE_CHECKING:
    from collections.abc import Iterator

# Every test here runs on every store.
pytestmark = pytest.mark.every_store


@pytest.fixture
def port(app: flask.Flask) -> Iterator[int]:
    with http_server(app) as port:
        yield port


def test_threads_changing_different_keys_lose_nothing(port: int) -> None:
    session_id = fetch(port, "/set/start/1").cookie
    assert session_id

    def hammer(n: int) -> list[int]:
        return [fetch(port, f"/incr/k{n}", session_id).status for _ in range(25)]

    with ThreadPoolExecutor(8) as pool:
        statuses = [s for result in pool.map(hammer, range(8)) for s in result]
    assert statuses == [200] * 200
    for n in range(8):
        assert fetch(port, f"/get/k{n}", session_id).body == "25"


def test_parallel_requests_across_a_rotation_keep_the_session(
    app: flask.Flask, clock: FakeClock
) -> None:
    parallel = 8
    barrier = threading.Barrier(parallel, timeout=20)

    @app.get("/together/<key>")
    def together(key: str) -> str:
        barrier.wait()  # every request has loaded the old record by now
        flask.session[key] = "seen"
        return repr(flask.session.get("start"))

    with http_server(app) as port:
        old = fetch(port, "/set/start/1").cookie
        clock.advance(3601)  # past RIVO_SESSION_ID_LIFETIME
        with ThreadPoolExecutor(parallel) as pool:
            replies = list(
                pool.map(lambda n: fetch(port, f"/together/k{n}", old), range(parallel))
            )
        assert [r.status for r in replies] == [200] * parallel
        assert [r.body for r in replies] == ["'1'"] * parallel
        new_ids = {r.cookie for r in replies}
        assert len(new_ids) == 1  # one rotation, whoever won it
        [new] = new_ids
        assert new and new != old
        for n in range(parallel):
            assert fetch(port, f"/get/k{n}", new).body == "'seen'"
        assert fetch(port, "/get/start", old).body == "'1'"  # grace period
        clock.advance(301)
        assert fetch(port, "/get/start", old).body == "None"
        assert fetch(port, "/get/start", new).body == "'1'"


@pytest.mark.parametrize(("octets", "kept"), [(0, True), (3, True), (4, False)])
def test_changed_source_address(
    app: flask.Flask, port: int, octets: int, kept: bool
) -> None:
    app.config["RIVO_SESSION_IP_OCTETS"] = octets
    session_id = fetch(port, "/set/a/1", source="127.0.0.1").cookie
    assert fetch(port, "/get/a", session_id, source="127.0.0.1").body == "'1'"
    reply = fetch(port, "/get/a", session_id, source="127.0.0.2")
    assert reply.body == ("'1'" if kept else "None")
    # Once ended, the session is gone for the first address too.
    back = fetch(port, "/get/a", session_id, source="127.0.0.1")
    assert back.body == ("'1'" if kept else "None")
