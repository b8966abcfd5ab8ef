"""A session store in Redis, for several app servers sharing sessions.

Each session is one string key with a native TTL, so Redis drops dead
sessions by itself and nothing needs purging. The string packs the record
(see :func:`pack`): a header the Lua scripts read with one pattern match,
then JSON of what they never look at; a read is one ``GET`` and one
``json.loads``. Each logged-in user has a sorted set of their session keys,
scored by when each session began, for listing and ending their sessions and
for ending the oldest past the per-user cap. A write is one Lua script, sent
by ``EVALSHA`` with four arguments: the version check, the write and, on one
Redis, the upkeep of the user's set are one atomic step and one round trip,
and none of them walks the user's other sessions.

Keys are ``<prefix>s:<session key>`` and ``<prefix>user:<user id>``. On a
Redis Cluster every key hashes on its whole name, so sessions spread over
all the masters; a script then touches one key only, and the store orders
its writes to the user's set around the session's (see :mod:`.redis_shards`).
A prefix that holds a hash tag keeps all of a store's keys in one slot, and
the one-script writes, as on a single Redis.
"""

from __future__ import annotations

import codecs
import re
import time
import typing as t

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.exceptions import NoScriptError
from redis.exceptions import RedisClusterException
from redis.retry import Retry

from . import faults
from . import redis_lua as lua
from .base import Record
from .base import SessionStore
from .redis_conn import Sender
from .redis_conn import kernel_timed
from .redis_lua import pack
from .redis_lua import unpack
from .redis_shards import CLAIM_MS
from .redis_shards import Shards

if t.TYPE_CHECKING:
    from collections.abc import Callable

#: Timeouts for the clients the store makes from a URL, in seconds: a server
#: that stops answering fails the request (HTTP 503) instead of hanging a
#: worker. A client you pass in keeps its own settings.
SOCKET_TIMEOUT = 5.0
CONNECT_TIMEOUT = 5.0

#: A key prefix that holds a hash tag: Redis hashes only what lies between
#: the first "{" and the next "}", if that is not empty.
HASH_TAG = re.compile(r"[^{]*\{[^}]+\}")

#: What redis-py raises when the server cannot serve: a Cluster none of whose
#: nodes answers raises RedisClusterException, which is no RedisError.
_ERRORS = (redis.RedisError, RedisClusterException)

#: A client of a single Redis (or one that Sentinel manages), or of a Cluster.
Client: t.TypeAlias = "redis.Redis | RedisCluster"


def _plain_pool(client: Client) -> redis.ConnectionPool | None:
    """The pool of a client whose connections :class:`~.redis_conn.Sender`
    may use directly: a plain :class:`redis.Redis` (Sentinel's included)
    that holds no single connection of its own and caches nothing on the
    client side."""
    if type(client) is not redis.Redis or client.connection is not None:
        return None
    pool = client.connection_pool
    if getattr(pool, "cache", None) is not None:
        return None
    return pool


def _check_encoding(client: Client) -> None:
    """Refuse a client that encodes text other than in UTF-8.

    Records hold their user's ID as text, read back as UTF-8, and the user
    index's key holds it too: in another encoding, a user's sessions could
    neither be listed nor ended, and a client that decodes replies would
    garble the data it read.

    :raises ValueError: naming the client's encoding.
    """
    encoding = client.get_encoder().encoding
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        name = encoding
    if name != "utf-8":
        raise ValueError(
            f"RedisStore needs a client that encodes text in UTF-8, not"
            f" {encoding!r}: make it with encoding='utf-8' (the default)"
        )


class RedisStore(SessionStore):
    """Keeps sessions in Redis, shared by every app server that uses it.

    :param client: a ``redis://``, ``rediss://`` or ``unix://`` URL, or a
        client: :class:`redis.Redis`, a client from
        :meth:`redis.sentinel.Sentinel.master_for`, or a
        :class:`redis.cluster.RedisCluster`.
    :param prefix: starts every key, so that several applications can share
        one server. On a Cluster, a prefix with a hash tag (``"{rivo}:"``)
        keeps every key in one slot, and so on one master.
    :param clock: where the store reads the time to tell live records from
        expired ones (Redis's TTLs expire them for good).
    :raises ValueError: a client that encodes text other than in UTF-8.

    .. versionadded:: 0.1
    """

    def __init__(
        self,
        client: str | Client,
        *,
        prefix: str = "rivo:",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._own_client = isinstance(client, str)
        #: The Redis client the store talks through.
        self.client: Client = (
            redis.Redis.from_url(
                client,
                socket_timeout=SOCKET_TIMEOUT,
                socket_connect_timeout=CONNECT_TIMEOUT,
                # One immediate retry covers a connection the server dropped
                # while idle. A timeout is not retried: a hung server costs a
                # request SOCKET_TIMEOUT once, not twice.
                retry=Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
                **kernel_timed(client),
            )
            if isinstance(client, str)
            else client
        )
        _check_encoding(self.client)
        #: Starts every key the store writes.
        self.prefix = prefix
        #: Whether sessions spread over a Cluster's slots (a Cluster, and a
        #: prefix without a hash tag), each script then touching one key.
        self.sharded = isinstance(self.client, RedisCluster) and not HASH_TAG.match(
            prefix
        )
        self._sessions, self._users = f"{prefix}s:", f"{prefix}user:"
        self.clock = clock
        self._execute: Callable[..., t.Any] = self.client.execute_command
        pool = _plain_pool(self.client)
        self._send = None if pool is None else Sender(pool, keep=self._own_client)

        def script(body: str) -> lua.Script:
            return lua.Script(body, self._sessions, self._users, CLAIM_MS)

        sharded = self.sharded
        self._save = script(lua.SHARDED_SAVE if sharded else lua.SAVE)
        self._touch = script(lua.SHARDED_TOUCH if sharded else lua.TOUCH)
        self._delete = script(lua.SHARDED_DELETE if sharded else lua.DELETE)
        self._user_sessions = script(lua.USER_SESSIONS)
        self._delete_user_sessions = script(lua.DELETE_USER_SESSIONS)
        self._limit_user_sessions = script(lua.LIMIT_USER_SESSIONS)
        self._shards = Shards(self, script) if sharded else None

    def _ttl_ms(self, expires_at: float, now: float) -> int:
        return int((expires_at - now) * 1000)

    @staticmethod
    def _call(command: t.Callable[..., t.Any], *args: t.Any, **kwargs: t.Any) -> t.Any:
        """Run a command; a server out of reach is a StoreError (that quotes
        nothing of redis-py's error text, see :mod:`.faults`)."""
        try:
            return command(*args, **kwargs)
        except _ERRORS as error:
            raise faults.unavailable("Redis", error) from None

    def _command(self, *args: object) -> t.Any:
        """Send one command and read its reply: the store's way to Redis on
        its hot paths, a read and a write each.

        On a plain client (one Redis, or one that Sentinel manages, without
        client-side caching) through :class:`~.redis_conn.Sender`, at a
        fraction of what ``execute_command`` costs; a dropped connection is
        then retried through ``execute_command``, with the client's own
        retry policy, as everything is on other clients.

        :raises redis.RedisError: as ``execute_command`` does.
        """
        send = self._send
        if send is not None:
            try:
                return send(*args)
            except redis.ConnectionError:
                pass
        return self._execute(*args)

    def _run(self, script: lua.Script, key: str, *args: object) -> t.Any:
        """Run a script on ``key`` by ``EVALSHA``, loading it first where the
        server lacks it (a new or restarted server, a new Cluster node).

        Straight :meth:`_command`, not redis-py's ``Script``, which copies
        the arguments into new tuples on every call.
        """
        try:
            return self._command("EVALSHA", script.sha, 1, key, *args)
        except NoScriptError:
            pass
        except _ERRORS as error:
            raise faults.unavailable("Redis", error) from None
        self._call(self.client.script_load, script.source)
        return self._call(self._command, "EVALSHA", script.sha, 1, key, *args)

    # -- the store interface -------------------------------------------------

    def load(self, key: str) -> Record | None:
        try:
            value = self._command("GET", self._sessions + key)
        except redis.ResponseError as error:
            if str(error).startswith("WRONGTYPE"):
                return None  # no session: see redis_lua._GET
            raise faults.unavailable("Redis", error) from None
        except _ERRORS as error:
            raise faults.unavailable("Redis", error) from None
        return None if value is None else unpack(value)

    def save(self, key: str, record: Record, expected_version: int | None) -> bool:
        now = self.clock()
        args = (
            "" if expected_version is None else str(expected_version),
            repr(now),
            self._ttl_ms(record.expires_at, now),
            pack(record),
        )
        if self._shards is not None:
            return self._shards.save(key, record, now, args)
        return bool(self._run(self._save, self._sessions + key, *args))

    def touch(
        self, key: str, accessed_at: float, expires_at: float, expected_version: int
    ) -> None:
        now = self.clock()
        args = (
            str(expected_version),
            repr(now),
            repr(accessed_at),
            repr(expires_at),
            self._ttl_ms(expires_at, now),
        )
        if self._shards is not None:
            self._shards.touch(key, expires_at, now, args)
        else:
            self._run(self._touch, self._sessions + key, *args)

    def delete(self, key: str) -> None:
        if self._shards is not None:
            self._shards.delete(key)
        else:
            self._run(self._delete, self._sessions + key)

    def user_sessions(self, user_id: str) -> list[tuple[str, Record]]:
        if self._shards is not None:
            return self._shards.user_sessions(user_id)
        now = repr(self.clock())
        rows = self._run(self._user_sessions, self._users + user_id, user_id, now)
        pairs = []
        for member, value in zip(rows[::2], rows[1::2], strict=True):
            record = unpack(value)
            if record is not None:
                key = member.decode() if isinstance(member, bytes) else member
                pairs.append((key, record))
        return pairs

    def delete_user_sessions(self, user_id: str, keep: str | None = None) -> int:
        if self._shards is not None:
            return self._shards.delete_user_sessions(user_id, keep)
        script = self._delete_user_sessions
        return int(self._run(script, self._users + user_id, user_id, keep or ""))

    def limit_user_sessions(
        self, user_id: str, keep: int, spare: str | None = None
    ) -> int:
        """End the user's oldest sessions past ``keep``: one ``ZCARD`` while
        the user is within the cap; past it, a few commands per session
        ended. A session that expired counts until it is popped."""
        if self._shards is not None:
            return self._shards.limit_user_sessions(user_id, keep, spare)
        args = (user_id, keep, spare or "", repr(self.clock()))
        script = self._limit_user_sessions
        return int(self._run(script, self._users + user_id, *args))

    def purge_expired(self, now: float) -> int:
        """Nothing to do: Redis expires sessions by itself."""
        return 0

    def close(self) -> None:
        """Close the connections of a client the store made itself."""
        if self._own_client:
            self.client.close()
