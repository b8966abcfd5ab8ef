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
"""

from __future__ import annotations

import contextlib
import os
import threading
import typing as t

import redis

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
