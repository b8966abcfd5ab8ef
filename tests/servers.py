"""Real, private database servers that a test may stop, kill and restart.

The shared servers on 5432/6379/3306 serve every test at once, so no test may
take them down. An outage test instead starts its own server here: a real
process, in a temporary folder, on a free loopback port. Stopping it is a
real outage (connection refused), and starting it again on the same port
with the same folder brings the data back, as a restarted production server
would.

Each class is a context manager, and also has ``start()``, ``stop()`` and
``kill()``, which do nothing when there is nothing to do. ``start()`` returns
once the server answers, ``stop()`` and ``kill()`` once the process is gone
and its port is free, so a test never races the server it controls.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import glob
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
import weakref
from pathlib import Path

import psycopg
import redis
from redis.backoff import NoBackoff
from redis.cluster import ClusterNode
from redis.cluster import RedisCluster as ClusterClient
from redis.retry import Retry
from redis.sentinel import Sentinel
from support import free_port

if t.TYPE_CHECKING:
    from collections.abc import Callable
    from collections.abc import Sequence
    from types import TracebackType

    from typing_extensions import Self

REDIS_SERVER = shutil.which("redis-server")
REDIS_CLI = shutil.which("redis-cli")


def _postgres_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin``: Debian keeps the
    server programs there, off the PATH."""
    found = glob.glob("/usr/lib/postgresql/*/bin/postgres")
    newest = max(found, key=lambda p: int(Path(p).parts[-3]), default=None)
    return Path(newest).parent if newest else None


POSTGRES_BIN = _postgres_bin()
TESTS_DIR = Path(__file__).resolve().parent
TIMEOUT = 20.0  # seconds a server may take to start or to stop


def processes() -> dict[int, tuple[int, str]]:
    """Every process: its parent and its state (``Z`` for a zombie)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):  # it exited meanwhile
            state, parent = stat.read_text().rpartition(")")[2].split()[:2]
            found[int(stat.parent.name)] = (int(parent), state)
    return found


def port_is_free(port: int) -> bool:
    """Whether nothing listens on ``port`` (bind as a restarted server would,
    with SO_REUSEADDR, so closed connections in TIME_WAIT do not count)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_until(what: str, check: Callable[[], bool], log: Path | None = None) -> None:
    """Poll ``check`` until it holds; after ``TIMEOUT`` raise an error that
    shows the end of ``log``, which usually says why."""
    deadline = time.monotonic() + TIMEOUT
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {TIMEOUT:.0f} s: {what}{tail(log)}")
        time.sleep(0.02)


def tail(log: Path | None, lines: int = 20) -> str:
    """The last lines of a log, to append to an error message."""
    if log is None or not log.exists():
        return ""
    text = log.read_text(errors="replace").splitlines()[-lines:]
    return f"\n--- last lines of {log} ---\n" + "\n".join(text)


def redis_client(port: int, timeout: float = 1.0) -> redis.Redis:
    """A client that fails at once: redis-py retries 3 times by default,
    with up to 10 s of backoff, so a probe of a down or hung server would
    take seconds (about 14 s with a 1 s timeout for a paused server)."""
    return redis.Redis(
        port=port,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
    )


class _Managed:
    """Context manager on top of ``start()`` and ``close()``."""

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Stop for good (and remove what only the server needed)."""
        self.stop()

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()  # what did start must not outlive the test
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class _Process(_Managed):
    """One server process listening on ``port``, its output in ``log``.

    Subclasses say how to run it (``_argv``) and how to tell that it answers
    (``_ready``). The process gets a session of its own so that ``kill()``
    takes its children with it (PostgreSQL's backends), as a crash would.
    """

    stop_signal = signal.SIGTERM  # the graceful shutdown
    user: str | None = None  # run as this OS user (when we are root)
    env: dict[str, str] | None = None  # None: our own environment
    _remove_tmp: weakref.finalize[..., t.Any] | None = None

    def __init__(self, log: Path, port: int | None = None) -> None:
        self.log = log
        self.cwd = log.parent
        self.port = port if port is not None else free_port()
        self._process: subprocess.Popen[bytes] | None = None

    def _argv(self) -> list[str]:
        raise NotImplementedError

    def _ready(self) -> bool:
        raise NotImplementedError

    def _options(self) -> dict[str, t.Any]:
        """Where and as whom our programs run; output goes to ``log``."""
        return {
            "stdin": subprocess.DEVNULL,
            "stderr": subprocess.STDOUT,
            "cwd": self.cwd,
            "env": self.env,
            "user": self.user,
            "group": self.user,
            "extra_groups": [] if self.user else None,
        }

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        if self.running:
            return
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            self._process = subprocess.Popen(  # noqa: S603 (our own argv)
                self._argv(), stdout=out, start_new_session=True, **self._options()
            )
        try:
            wait_until(f"{self} to answer", self._answers, self.log)
        except BaseException:
            self.kill()
            raise

    def _answers(self) -> bool:
        if not self.running:
            raise RuntimeError(f"{self} exited at start{tail(self.log)}")
        return self._ready()

    def stop(self) -> None:
        """Shut down gracefully (the server saves what it must)."""
        self._end(self.stop_signal)

    def kill(self) -> None:
        """SIGKILL the server and its children: a crash, nothing saved."""
        self._end(signal.SIGKILL)

    def pause(self) -> None:
        """SIGSTOP: the port still accepts connections, nothing answers,
        as with a hung server (for socket timeout tests)."""
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def _signal(self, sig: signal.Signals) -> None:
        if self._process is not None and self._process.poll() is None:
            os.killpg(self._process.pid, sig)

    def _end(self, sig: signal.Signals) -> None:
        process = self._process
        if process is None:
            return
        self._signal(sig)
        self._signal(signal.SIGCONT)  # a paused server must run to exit
        try:
            process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            process.wait()
            raise RuntimeError(f"{self} ignored {sig.name}{tail(self.log)}") from None
        finally:
            self._process = None
        wait_until(f"port {self.port} to be free", lambda: port_is_free(self.port))

    def _temporary_directory(self, prefix: str) -> Path:
        """A folder of our own under /tmp, owned by ``user``, removed on
        ``close()`` (or when this object goes away).

        pytest's ``tmp_path`` sits in a root-only folder (mode 700), which a
        server running as another user cannot enter.
        """
        path = Path(tempfile.mkdtemp(prefix=prefix))
        if self.user:
            shutil.chown(path, self.user, self.user)
        self._remove_tmp = weakref.finalize(self, shutil.rmtree, path, True)
        return path

    def close(self) -> None:
        self.stop()
        if self._remove_tmp is not None:
            self._remove_tmp()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} on 127.0.0.1:{self.port}>"


class RedisServer(_Process):
    """A redis-server whose acknowledged writes survive stop and kill.

    Every write is in the append-only file, fsynced before Redis answers,
    so even ``kill()`` loses nothing; ``options`` are added to (and may
    override) the command line.
    """

    def __init__(self, directory: Path, *options: str, port: int | None = None):
        super().__init__(directory / "redis.log", port)
        self.directory = directory
        self.options = options

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _argv(self) -> list[str]:
        assert REDIS_SERVER, "redis-server is not installed"
        return [
            *(REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"),
            *("--dir", str(self.directory), "--save", ""),
            *("--appendonly", "yes", "--appendfsync", "always"),
            *self.options,
        ]

    def client(self, timeout: float = 1.0) -> redis.Redis:
        """A client without retries (see :func:`redis_client`)."""
        return redis_client(self.port, timeout)

    def _ready(self) -> bool:
        """PING succeeds (Redis answers LOADING while it reads the AOF)."""
        try:
            with self.client() as client:
                return bool(client.ping())
        except (OSError, redis.RedisError):
            return False


class PostgresServer(_Process):
    """A PostgreSQL server (trust auth, user ``postgres``), made by initdb
    on the first ``start()``.

    initdb and postgres refuse to run as root, so when we are root they run
    as the ``postgres`` OS user, with their files in a folder of their own
    (see ``_temporary_directory``); ``directory`` only holds the log.
    ``fsync=off``: a stopped or killed server keeps its data (the kernel
    has it), only a power cut would lose it, and tests run faster.
    """

    stop_signal = signal.SIGINT  # "fast" shutdown: what pg_ctl stop -m fast sends
    user = "postgres" if os.geteuid() == 0 else None

    def __init__(self, directory: Path, port: int | None = None) -> None:
        super().__init__(directory / "postgres.log", port)
        self.root = self.cwd = self._temporary_directory("rivo-pg-")
        self.data = self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        if not (self.data / "PG_VERSION").exists():
            self._initdb()
        super().start()

    def _initdb(self) -> None:
        assert POSTGRES_BIN, "PostgreSQL is not installed"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as out:
            done = subprocess.run(  # noqa: S603 (our own argv)
                [
                    *(str(POSTGRES_BIN / "initdb"), "-D", str(self.data)),
                    *("-U", "postgres", "--auth=trust", "--no-sync"),
                    *("--locale=C", "--encoding=UTF8", "--no-instructions"),
                ],
                stdout=out,
                check=False,
                **self._options(),
            )
        if done.returncode:
            raise RuntimeError(f"initdb failed{tail(self.log)}")

    def _argv(self) -> list[str]:
        assert POSTGRES_BIN, "PostgreSQL is not installed"
        return [
            *(str(POSTGRES_BIN / "postgres"), "-D", str(self.data)),
            *("-p", str(self.port), "-c", "listen_addresses=127.0.0.1"),
            *("-k", str(self.root), "-c", "fsync=off"),
        ]

    def _signal(self, sig: signal.Signals) -> None:
        """Signal the postmaster and its backends, as a crash or a hang hits
        them all: each backend calls setsid(), so the process group misses
        them, and a backend that outlives a killed postmaster can still answer
        a query on its open connection."""
        backends = (
            [
                pid
                for pid, (parent, _) in processes().items()
                if parent == self._process.pid
            ]
            if self._process is not None and self._process.poll() is None
            else []
        )
        super()._signal(sig)
        for pid in backends:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        if sig == signal.SIGKILL and backends:

            def gone() -> bool:
                left = processes()
                return all(pid not in left or left[pid][1] == "Z" for pid in backends)

            wait_until("the killed backends to exit", gone, self.log)

    def _ready(self) -> bool:
        """A query succeeds (TCP connects long before the server is up)."""
        dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres"
        try:
            with psycopg.connect(dsn, connect_timeout=1) as connection:
                connection.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True


class AppProcess(_Process):
    """A Flask app served by a threaded werkzeug server in another process.

    ``factory`` ("module:function", importable from tests/) is called with
    no arguments and returns the app, which reads its configuration from
    the environment: ``env`` is added to ours. Several workers then share
    one store over the network, as in production, and the server can be
    killed in the middle of a request.
    """

    _SERVE = (
        "import importlib, sys\n"
        "from werkzeug.serving import make_server\n"
        "module, _, name = sys.argv[1].partition(':')\n"
        "app = getattr(importlib.import_module(module), name)()\n"
        "make_server('127.0.0.1', int(sys.argv[2]), app, threaded=True)"
        ".serve_forever()\n"
    )

    def __init__(self, factory: str, env: dict[str, str]) -> None:
        super().__init__(self._temporary_directory("rivo-app-") / "app.log")
        self.factory = factory
        paths = [str(TESTS_DIR), os.environ.get("PYTHONPATH", "")]
        pythonpath = os.pathsep.join(p for p in paths if p)
        self.env = {**os.environ, **env, "PYTHONPATH": pythonpath}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _argv(self) -> list[str]:
        return [sys.executable, "-c", self._SERVE, self.factory, str(self.port)]

    def _ready(self) -> bool:
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        return False


class DemoServer(_Process):
    """``python -m flask_rivo``, the demo site, exactly as a newcomer runs it.

    Its output, the emails it prints included, goes to ``log``.
    """

    def __init__(self, *options: str) -> None:
        super().__init__(self._temporary_directory("rivo-demo-") / "demo.log")
        self.options = options

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _argv(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "flask_rivo",
            "--port",
            str(self.port),
            *self.options,
        ]

    _ready = AppProcess._ready


class _Group(_Managed):
    """Several processes started in order and stopped in reverse."""

    def __init__(self, members: Sequence[_Process]) -> None:
        self.members = members

    def start(self) -> None:
        for member in self.members:
            member.start()

    def stop(self) -> None:
        for member in reversed(self.members):
            member.stop()

    def kill(self) -> None:
        for member in reversed(self.members):
            member.kill()


def _cluster_port(taken: set[int]) -> int:
    """A free port whose cluster bus port (port + 10000) is free too."""
    while True:
        port = free_port()
        bus = port + 10000
        if port not in taken and bus < 65536 and port_is_free(bus):
            return port


class RedisCluster(_Group):
    """Three Redis cluster masters, the 16384 slots shared between them.

    No persistence (``appendonly no``): a restart keeps the cluster (each
    node's nodes.conf) but not the data.
    """

    def __init__(self, directory: Path) -> None:
        taken: set[int] = set()
        nodes = []
        for i in range(3):
            port = _cluster_port(taken)
            taken.add(port)
            nodes.append(
                RedisServer(
                    directory / f"node-{i}",
                    *("--cluster-enabled", "yes", "--appendonly", "no"),
                    *("--cluster-config-file", "nodes.conf"),
                    port=port,
                )
            )
        super().__init__(nodes)
        self.servers = nodes

    @property
    def nodes(self) -> list[tuple[str, int]]:
        return [("127.0.0.1", server.port) for server in self.servers]

    def start(self) -> None:
        super().start()
        if self._info(self.servers[0])["cluster_slots_assigned"] == "0":
            self._create()  # a first start; a restart finds its nodes.conf
        for server in self.servers:
            ok = functools.partial(self._state_ok, server)
            wait_until(f"{server} to report cluster_state:ok", ok, server.log)

    def _create(self) -> None:
        assert REDIS_CLI, "redis-cli is not installed"
        done = subprocess.run(  # noqa: S603 (our own argv)
            [
                *(REDIS_CLI, "--cluster", "create"),
                *(f"{host}:{port}" for host, port in self.nodes),
                *("--cluster-replicas", "0", "--cluster-yes"),
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        if done.returncode:
            raise RuntimeError(f"redis-cli --cluster create failed:\n{done.stdout}")

    @classmethod
    def _state_ok(cls, server: RedisServer) -> bool:
        """The node sees all slots served (right after create or a restart,
        it may not yet)."""
        return cls._info(server)["cluster_state"] == "ok"

    @staticmethod
    def _info(server: RedisServer) -> dict[str, str]:
        """CLUSTER INFO of one node (redis-py parses it into a dict)."""
        with server.client() as client:
            return t.cast("dict[str, str]", client.execute_command("CLUSTER INFO"))

    def client(self) -> ClusterClient:
        nodes = [ClusterNode(host, port) for host, port in self.nodes]
        return ClusterClient(startup_nodes=nodes)


class _SentinelProcess(_Process):
    """One Redis Sentinel watching ``master_port`` as "mymaster"."""

    def __init__(self, directory: Path, master_port: int) -> None:
        super().__init__(directory / "sentinel.log")
        directory.mkdir(parents=True, exist_ok=True)
        self.config = directory / "sentinel.conf"
        # Sentinel rewrites its config file: it must be writable, ours.
        self.config.write_text(
            f"port {self.port}\n"
            "bind 127.0.0.1\n"
            f"dir {directory}\n"
            f"sentinel monitor mymaster 127.0.0.1 {master_port} 1\n"
            "sentinel down-after-milliseconds mymaster 1000\n"
            "sentinel failover-timeout mymaster 5000\n"
        )

    def _argv(self) -> list[str]:
        assert REDIS_SERVER, "redis-server is not installed"
        return [REDIS_SERVER, str(self.config), "--sentinel"]

    def _ready(self) -> bool:
        """Sentinel has reached the master: what ``master_for`` checks."""
        try:
            with redis_client(self.port) as client:
                state = client.sentinel_master("mymaster")
        except (OSError, redis.RedisError):
            return False
        return bool(state["is_master"]) and not (
            state["is_disconnected"] or state["is_sdown"] or state["is_odown"]
        )


class RedisSentinel(_Group):
    """A Redis master (``master``, a :class:`RedisServer`) and one Sentinel
    that knows it as "mymaster". Stop ``master`` for a master outage."""

    service_name = "mymaster"

    def __init__(self, directory: Path) -> None:
        self.master = RedisServer(directory / "master")
        self.sentinel = _SentinelProcess(directory / "sentinel", self.master.port)
        super().__init__([self.master, self.sentinel])

    @property
    def port(self) -> int:
        """The Sentinel's port."""
        return self.sentinel.port

    def client(self, socket_timeout: float = 1.0) -> redis.Redis:
        """A client of the master, found through the Sentinel (with
        redis-py's default retries, as an app would have them)."""
        sentinel = Sentinel([("127.0.0.1", self.port)], socket_timeout=socket_timeout)
        master = sentinel.master_for(self.service_name, socket_timeout=socket_timeout)
        return t.cast("redis.Redis", master)


class _Proxy(_Managed):
    """A TCP proxy on loopback to ``upstream_port``: each connection a
    client opens gets its own connection upstream, and ``_pump`` carries
    the bytes between the two."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._accept, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):  # the listener was closed
            while True:
                client, _ = self._listener.accept()
                threading.Thread(
                    target=self._serve, args=(client,), daemon=True
                ).start()

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        pair = _Pair(client, upstream)
        with client, upstream, contextlib.suppress(OSError):
            while True:
                ready, _, _ = select.select([client, upstream], [], [])
                for end in ready:
                    data = end.recv(65536)
                    if not data or not self._pump(pair, end is client, data):
                        return

    def _pump(self, pair: _Pair, sent: bool, data: bytes) -> bool:
        """Carry ``data``, ``sent`` by the client (or else replied); return
        whether to go on (if not, both connections close)."""
        raise NotImplementedError


@dataclasses.dataclass
class _Pair:
    """One client's connection through a proxy, and its own upstream."""

    client: socket.socket
    upstream: socket.socket
    #: Whether the client sent a request after :meth:`ReplyDropper.drop_next_reply`.
    sent_armed: bool = False


class ReplyDropper(_Proxy):
    """A proxy that can lose one reply, as a network does.

    Once :meth:`drop_next_reply` is called, the next request a client sends
    reaches the server, but the connection is cut before the reply comes
    back: the client cannot tell whether its write landed.
    """

    def __init__(self, upstream_port: int) -> None:
        super().__init__(upstream_port)
        self._armed = threading.Event()

    def drop_next_reply(self) -> None:
        self._armed.set()

    def _pump(self, pair: _Pair, sent: bool, data: bytes) -> bool:
        if sent:
            pair.sent_armed = pair.sent_armed or self._armed.is_set()
            pair.upstream.sendall(data)
        elif pair.sent_armed:
            self._armed.clear()
            return False  # the reply is lost: both connections close
        else:
            pair.client.sendall(data)
        return True


class SlowReader(_Proxy):
    """A proxy that passes on what a client sends at ``rate`` bytes a
    second, as a server busy elsewhere reads it; replies go back at once."""

    def __init__(self, upstream_port: int, rate: int) -> None:
        super().__init__(upstream_port)
        self.rate = rate

    def _pump(self, pair: _Pair, sent: bool, data: bytes) -> bool:
        if sent:
            pair.upstream.sendall(data)
            time.sleep(len(data) / self.rate)
        else:
            pair.client.sendall(data)
        return True
