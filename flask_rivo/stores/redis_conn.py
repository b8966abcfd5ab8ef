"""One command to Redis and its reply, for :class:`~.redis.RedisStore`'s
hot paths (a session's read and its write), at the least cost redis-py
allows.

``execute_command`` wraps every command in retry closures, events and
metrics, and the pool's checkout polls the socket: together several times
what sending the command and reading its reply cost. :class:`Sender` sends
straight over a connection instead, and on a client the store made itself
keeps that connection in the thread between commands, so a request takes
none from the pool at all. It also packs the command itself (:func:`pack`):
the store sends only text and whole numbers, which need none of the checks
and chunking of redis-py's packer, at about a third of its cost.

What keeps this as safe as the pool:

* A connection whose reply was not read in full (a timeout, an error, an
  interrupt) is closed at once, before anything else is sent on it, so no
  command can ever read another one's reply.
* A connection kept by a thread goes back to the pool when the thread ends;
  after a ``fork`` the child makes its own (the parent's socket is never
  used by two processes).
* A dropped connection is for the caller to retry (through
  ``execute_command``, with the client's own retry policy): the commands
  the store sends are safe to send again.

On a client the store makes from a URL, the kernel keeps the socket
timeout (:func:`kernel_timed`): a Python socket with a timeout polls before
each send and each receive, two system calls more per command, about 7 µs
of a command's 100 in ``make bench``.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import sys
import threading
import typing as t

import redis
from redis.connection import AbstractConnection
from redis.connection import UnixDomainSocketConnection

if t.TYPE_CHECKING:
    from redis.connection import ConnectionInterface


class _Lease:
    """A connection of the pool, kept by one thread; it goes back to the pool
    when the thread ends (its thread-local storage is freed)."""

    __slots__ = ("connection", "pid", "pool")

    def __init__(self, pool: redis.ConnectionPool) -> None:
        self.pool = pool
        self.pid = os.getpid()
        self.connection: ConnectionInterface = pool.get_connection()

    def __del__(self) -> None:
        if self.pid != os.getpid():
            return  # a forked child's copy: the parent's to give back
        # The interpreter may be shutting down: nothing left to give back to.
        with contextlib.suppress(Exception):
            self.pool.release(self.connection)  # type: ignore[arg-type]


class Sender:
    """Sends commands over the connections of one plain client's pool.

    :param pool: the client's connection pool.
    :param keep: keep a connection per thread (only for a client the store
        made: with a client the application shares, a kept connection
        would be one fewer for the application's own use).
    """

    def __init__(self, pool: redis.ConnectionPool, *, keep: bool) -> None:
        self._pool = pool
        self._keep = keep
        self._local = threading.local()

    def __call__(self, *args: object) -> t.Any:
        """Send a command and read its reply.

        :raises redis.RedisError: a :class:`redis.ResponseError` for the
            server's error reply; a :class:`redis.ConnectionError` for a
            dropped connection, to retry.
        """
        command = pack(args)
        if not self._keep:
            return self._once(command)
        lease: _Lease | None = getattr(self._local, "lease", None)
        # Asked of the kernel each time: a process forked from C (uWSGI's
        # workers, by default) runs no at-fork hook that could keep a copy.
        if lease is None or lease.pid != os.getpid():
            lease = self._local.lease = _Lease(self._pool)
        return _exchange(lease.connection, command)

    def _once(self, command: bytes) -> t.Any:
        pool = self._pool
        connection = pool.get_connection()
        try:
            return _exchange(connection, command)
        finally:
            pool.release(connection)


def pack(args: tuple[object, ...]) -> bytes:
    """A command as the Redis protocol (RESP) sends it: an array of bulk
    strings, the text in UTF-8 (the store accepts no client that encodes
    otherwise), byte for byte what redis-py sends.

    :param args: the command's name and arguments: :class:`str` or
        :class:`int` (not :class:`bool`), as the store sends them.
    :raises TypeError: an argument of another type (a bug in the store: a
        float would lose digits here, redis-py would send its ``repr``).
    """
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if type(arg) is str:
            data = arg.encode()
        elif type(arg) is int:
            data = b"%d" % arg
        else:
            raise TypeError(f"cannot send {type(arg).__name__} to Redis")
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _exchange(connection: ConnectionInterface, command: bytes) -> t.Any:
    """One packed command and its whole reply; the connection closed if the
    reply was not read in full."""
    try:
        connection.send_packed_command([command])  # type: ignore[no-untyped-call]
        return connection.read_response()
    except redis.ResponseError:
        raise  # the server's reply, read in full: the connection is fine
    except BaseException:
        connection.disconnect()  # type: ignore[no-untyped-call]
        raise


#: The largest command sent on the kernel's timeout, in bytes: it fits in
#: the socket's send buffer (Linux starts at 16 KiB) at once. A larger one
#: is sent on Python's, which counts for the whole ``sendall``, where the
#: kernel's counts for each system call (a slow reader would stretch it).
KERNEL_SEND_LIMIT = 4096


class _KernelTimeout(AbstractConnection):
    """A connection whose socket timeout the kernel keeps.

    Its socket blocks, with ``SO_RCVTIMEO`` and ``SO_SNDTIMEO`` set to the
    timeout, so Python polls it before no send or receive; a receive or
    send that runs out of time still raises :class:`redis.TimeoutError`
    (which the store's client does not retry), not the
    :class:`redis.ConnectionError` that redis-py makes of the kernel's
    ``EAGAIN``. Where redis-py sets a timeout of its own for one read (a
    pool's check for unread data, a pubsub's wait), that read keeps it:
    ``None``, to wait however long it takes, lifts the kernel's for it.
    Commands above :data:`KERNEL_SEND_LIMIT` are sent on Python's timeout.
    A timeout that is not positive is left to redis-py.
    """

    def __init__(self, **options: t.Any) -> None:
        super().__init__(**options)
        #: The timeout in seconds, for the kernel; redis-py's own stays
        #: ``None``, which is what keeps its socket blocking.
        self.kernel_timeout: float | None = None
        if self.socket_timeout is not None and self.socket_timeout > 0:
            self.kernel_timeout, self.socket_timeout = self.socket_timeout, None

    def _connect(self) -> socket.socket:
        sock: socket.socket = super()._connect()  # type: ignore[no-untyped-call,safe-super]
        if self.kernel_timeout:
            _set_kernel_timeout(sock, self.kernel_timeout, sending=True)
        return sock

    def read_response(self, *args: t.Any, **options: t.Any) -> t.Any:
        sock = self._sock
        if options.get("timeout", 0) is None and self.kernel_timeout and sock:
            # A read told to wait however long it takes (a pubsub's
            # get_message(timeout=None), listen()): redis-py lifts its own
            # timeout for it, the kernel's must go too.
            _set_kernel_timeout(sock, None)
            try:
                return self._read(*args, **options)
            finally:
                if self._sock is sock:  # not closed meanwhile
                    _set_kernel_timeout(sock, self.kernel_timeout)
        return self._read(*args, **options)

    def _read(self, *args: t.Any, **options: t.Any) -> t.Any:
        try:
            return super().read_response(*args, **options)
        except redis.ConnectionError as error:
            raise _timed_out(error, "reading from") from None

    def send_packed_command(
        self, command: t.Any, *args: t.Any, **options: t.Any
    ) -> None:
        if self.kernel_timeout and _size(command) > KERNEL_SEND_LIMIT:
            self.connect()  # type: ignore[no-untyped-call]
            sock = t.cast("socket.socket", self._sock)
            sock.settimeout(self.kernel_timeout)
            try:
                return self._send(command, *args, **options)
            finally:
                if self._sock is sock:  # not closed meanwhile
                    sock.settimeout(None)
        return self._send(command, *args, **options)

    def _send(self, *args: t.Any, **options: t.Any) -> None:
        try:
            super().send_packed_command(*args, **options)  # type: ignore[no-untyped-call]
        except redis.ConnectionError as error:
            raise _timed_out(error, "writing to") from None


def _size(command: t.Any) -> int:
    """The bytes of a packed command: one string, or a list of parts."""
    if isinstance(command, (str, bytes)):
        return len(command)
    return sum(map(len, command))


def _set_kernel_timeout(
    sock: socket.socket, seconds: float | None, *, sending: bool = False
) -> None:
    """Set the kernel's receive timeout (and the send timeout too, if
    ``sending``) on ``sock``; ``None`` for none. Never rounded down to
    nothing: the kernel's zero is no timeout at all."""
    whole, fraction = divmod(seconds or 0, 1)
    micro = int(fraction * 1e6)
    if seconds and not whole and not micro:
        micro = 1
    interval = struct.pack("@ll", int(whole), micro)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, interval)
    if sending:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, interval)


def _timed_out(error: redis.ConnectionError, doing: str) -> redis.RedisError:
    """What a failure of a :class:`_KernelTimeout` connection is: a timeout
    if the kernel ran out of time (``EAGAIN`` on a blocking socket)."""
    cause = error.__cause__ or error.__context__
    if isinstance(cause, BlockingIOError):
        return redis.TimeoutError(f"Timeout {doing} socket")
    return error


class KernelTimedConnection(_KernelTimeout, redis.Connection):
    """A TCP connection whose timeout the kernel keeps."""


class KernelTimedUnixConnection(_KernelTimeout, UnixDomainSocketConnection):
    """A Unix socket connection whose timeout the kernel keeps."""


def kernel_timed(url: str) -> dict[str, t.Any]:
    """The options that make a client from ``url`` leave its socket
    timeouts to the kernel: none where that is not known to work the same
    (TLS connections, systems other than 64-bit Linux, whose ``timeval``
    may differ), and the client polls as redis-py does."""
    if not sys.platform.startswith("linux") or struct.calcsize("@l") != 8:
        return {}
    scheme = url.partition("://")[0].lower()
    if scheme == "redis":
        return {"connection_class": KernelTimedConnection}
    if scheme == "unix":
        return {"connection_class": KernelTimedUnixConnection}
    return {}
