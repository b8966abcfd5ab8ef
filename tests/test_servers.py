"""The private servers of tests/servers.py start, stop and keep their data;
the in-process HTTP server of tests/support.py closes every response."""

from __future__ import annotations

import socket
import threading
import typing as t
import urllib.request

import pytest
import redis
import sqlalchemy as sa
from servers import POSTGRES_BIN
from servers import REDIS_CLI
from servers import REDIS_SERVER
from servers import AppProcess
from servers import PostgresServer
from servers import RedisCluster
from servers import RedisSentinel
from servers import RedisServer
from servers import port_is_free
from support import http_server
from support import require

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    require(REDIS_SERVER is not None, "redis-server is not installed")
    with RedisServer(tmp_path) as server:
        yield server


def test_redis_keeps_its_data_across_stop_and_kill(redis_server: RedisServer) -> None:
    with redis_server.client() as client:
        client.set("cart", "apples")
    redis_server.stop()
    assert port_is_free(redis_server.port)
    redis_server.stop()  # stopping a stopped server does nothing
    redis_server.start()
    with redis_server.client() as client:
        assert client.get("cart") == b"apples"
        client.set("cart", "pears")
    redis_server.kill()
    redis_server.start()
    redis_server.start()  # starting a running server does nothing
    with redis_server.client() as client:
        assert client.get("cart") == b"pears"


def test_a_paused_redis_times_out(redis_server: RedisServer) -> None:
    redis_server.pause()
    with redis_server.client(timeout=0.2) as client, pytest.raises(redis.TimeoutError):
        client.ping()
    redis_server.resume()
    with redis_server.client() as client:
        assert client.ping()


def test_a_server_that_cannot_start_says_why(tmp_path: Path) -> None:
    require(REDIS_SERVER is not None, "redis-server is not installed")
    server = RedisServer(tmp_path, "--no-such-option", "yes")
    with pytest.raises(RuntimeError, match="exited at start") as error:
        server.start()
    assert "no-such-option" in str(error.value)  # the log's tail says why
    assert not server.running


def test_postgres_keeps_its_data_across_stop(tmp_path: Path) -> None:
    require(POSTGRES_BIN is not None, "PostgreSQL is not installed")
    with PostgresServer(tmp_path) as server:
        engine = sa.create_engine(server.url)
        with engine.begin() as connection:
            connection.execute(sa.text("CREATE TABLE t (v text)"))
            connection.execute(sa.text("INSERT INTO t VALUES ('apples')"))
        engine.dispose()  # the pool's connections die with the server anyway
        server.stop()
        server.start()
        with engine.connect() as connection:
            assert connection.execute(sa.text("SELECT v FROM t")).scalar() == "apples"
        engine.dispose()
    assert not server.root.exists()


def test_redis_cluster_spreads_keys_over_its_nodes(tmp_path: Path) -> None:
    require(REDIS_SERVER is not None and REDIS_CLI is not None, "Redis is missing")
    with RedisCluster(tmp_path) as cluster, cluster.client() as client:
        keys = [f"key-{i}" for i in range(20)]
        for key in keys:
            client.set(key, key.upper())
        assert [client.get(key) for key in keys] == [k.upper().encode() for k in keys]
        assert len({client.keyslot(key) for key in keys}) > 1
        assert len(client.get_primaries()) == 3


def test_redis_sentinel_leads_to_the_master(tmp_path: Path) -> None:
    require(REDIS_SERVER is not None, "redis-server is not installed")
    with RedisSentinel(tmp_path) as sentinel, sentinel.client() as client:
        client.set("cart", "apples")
        assert client.get("cart") == b"apples"
        with sentinel.master.client() as direct:
            assert direct.get("cart") == b"apples"


def test_app_process_serves_the_app_its_factory_makes() -> None:
    env = {"DEMO_GREETING": "hello"}
    with AppProcess("servers_demo_app:create_app", env) as app:
        with urllib.request.urlopen(app.url, timeout=5) as response:  # noqa: S310
            assert response.read() == b"hello"
        app.stop()
        assert port_is_free(app.port)


def test_the_http_server_closes_each_response_before_sending_it() -> None:
    # Werkzeug's server calls close() only after sending and draining the
    # request, and skips it when a reset meets the drain: the e2e tests'
    # browsers leave pages mid-fetch, and an open static file's
    # ResourceWarning then failed a test at random. Closed before the first
    # byte goes out, a response never depends on the client staying.
    closed = threading.Event()

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            yield b"x"

        def close(self) -> None:
            closed.set()

    def app(environ: dict[str, t.Any], start_response: t.Any) -> Body:
        start_response("200 OK", [("Content-Length", "1")])
        return Body()

    with (
        http_server(app) as port,
        socket.create_connection(("127.0.0.1", port)) as client,
    ):
        client.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert client.recv(1024).startswith(b"HTTP/1.1 200")
        assert closed.is_set()
