"""A session store in Redis, for several app servers sharing sessions.

Each session is one hash with a native TTL, so Redis drops dead sessions by
itself and nothing needs purging. Each logged-in user has a sorted set of
their session keys, scored by when each session began, for listing and
ending their sessions and for ending the oldest past the per-user cap.
Every write is a Lua script: the version check, the write and the upkeep of
the user's set are one atomic step and one round trip, and none of them
walks the user's other sessions, so a write costs the same however many
sessions the user has.

Keys are ``<prefix>s:<session key>`` and ``<prefix>user:<user id>``. On a
Redis Cluster the prefix becomes a hash tag (``{rivo:}``), so that a session
and its user's set live in one slot, as Lua scripts need.
"""

from __future__ import annotations

import json
import re
import time
import typing as t

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException
from redis.retry import Retry

from . import faults
from .base import Record
from .base import SessionStore

if t.TYPE_CHECKING:
    from collections.abc import Callable

#: Timeouts for the clients the store makes from a URL, in seconds: a server
#: that stops answering fails the request (HTTP 503) instead of hanging a
#: worker. A client you pass in keeps its own settings.
SOCKET_TIMEOUT = 5.0
CONNECT_TIMEOUT = 5.0

#: A key prefix that is a hash tag already: Redis hashes only what lies
#: between the first "{" and the next "}", if that is not empty.
HASH_TAG = re.compile(r"[^{]*\{[^}]+\}")

#: What redis-py raises when the server cannot serve: a Cluster none of whose
#: nodes answers raises RedisClusterException, which is no RedisError.
_ERRORS = (redis.RedisError, RedisClusterException)

# Field names of a session hash: version, expiry, last access, user, body.
# The body is JSON of everything the scripts never look at.

_SAVE = """
local cur = redis.call('HMGET', KEYS[1], 'v', 'e', 'u', 'b')
if cur[1] == ARGV[4] and cur[2] == ARGV[5] and cur[4] == ARGV[8] then
  return 1  -- this very write landed already (a resend after a lost reply)
end
local live = cur[1] and tonumber(cur[2]) > tonumber(ARGV[2])
if ARGV[1] == '' then
  if live then return 0 end
elseif not live or cur[1] ~= ARGV[1] then
  return 0
end
local ttl, user, member = tonumber(ARGV[3]), ARGV[7], ARGV[9]
local has_user = ARGV[12] == '1'
if cur[3] and (not has_user or cur[3] ~= user) then
  redis.call('ZREM', ARGV[10] .. cur[3], member)
end
if ttl <= 0 then
  redis.call('DEL', KEYS[1])
  return 1
end
redis.call('HSET', KEYS[1], 'v', ARGV[4], 'e', ARGV[5], 'a', ARGV[6], 'b', ARGV[8])
redis.call('PEXPIRE', KEYS[1], ttl)
if not has_user then
  redis.call('HDEL', KEYS[1], 'u')
else
  redis.call('HSET', KEYS[1], 'u', user)
  local index = ARGV[10] .. user
  redis.call('ZADD', index, ARGV[11], member)  -- scored by when it began
  if redis.call('PTTL', index) < ttl then redis.call('PEXPIRE', index, ttl) end
end
return 1
"""

_TOUCH = """
local cur = redis.call('HMGET', KEYS[1], 'v', 'e', 'u')
if not cur[1] or cur[1] ~= ARGV[1] or tonumber(cur[2]) <= tonumber(ARGV[2]) then
  return 0
end
local ttl = tonumber(ARGV[5])
redis.call('HSET', KEYS[1], 'a', ARGV[3], 'e', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ttl)
if cur[3] then
  local set = ARGV[6] .. cur[3]
  if redis.call('PTTL', set) < ttl then redis.call('PEXPIRE', set, ttl) end
end
return 1
"""

_DELETE = """
local user = redis.call('HGET', KEYS[1], 'u')
redis.call('DEL', KEYS[1])
if user then redis.call('ZREM', ARGV[1] .. user, ARGV[2]) end
return 1
"""

# Listing and ending all of a user's sessions walk the user's set, which the
# per-user cap keeps short; members whose session is gone are dropped.

_USER_SESSIONS = """
local found = {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local h = redis.call('HMGET', ARGV[1] .. member, 'v', 'e', 'a', 'b', 'u')
  if not h[1] or h[5] ~= ARGV[2] then
    redis.call('ZREM', KEYS[1], member)
  elseif tonumber(h[2]) > tonumber(ARGV[3]) then
    table.insert(found, {member, h[1], h[2], h[3], h[4]})
  end
end
return found
"""

_DELETE_USER_SESSIONS = """
local removed = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if member ~= ARGV[3] then
    local key = ARGV[1] .. member
    if redis.call('HGET', key, 'u') == ARGV[2] then
      redis.call('DEL', key)
      removed = removed + 1
    end
    redis.call('ZREM', KEYS[1], member)
  end
end
return removed
"""

# Past the cap, pop the oldest members (one more is read, in case the spared
# session is among them). A member whose session is gone or expired, or now
# belongs to someone else, is only dropped from the set; so a set never grows
# past the cap, and the work is one step per member ever added.
_LIMIT_USER_SESSIONS = """
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
if excess <= 0 then return 0 end
local ended = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, excess)) do
  if excess == 0 then break end
  if member ~= ARGV[4] then
    local key = ARGV[1] .. member
    local h = redis.call('HMGET', key, 'u', 'e')
    if h[1] == ARGV[2] then
      redis.call('DEL', key)
      if tonumber(h[2]) > tonumber(ARGV[5]) then ended = ended + 1 end
    end
    redis.call('ZREM', KEYS[1], member)
    excess = excess - 1
  end
end
return ended
"""

#: A client of a single Redis (or one that Sentinel manages), or of a Cluster.
Client: t.TypeAlias = "redis.Redis | RedisCluster"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisStore(SessionStore):
    """Keeps sessions in Redis, shared by every app server that uses it.

    :param client: a ``redis://``, ``rediss://`` or ``unix://`` URL, or a
        client: :class:`redis.Redis`, a client from
        :meth:`redis.sentinel.Sentinel.master_for`, or a
        :class:`redis.cluster.RedisCluster`.
    :param prefix: starts every key, so that several applications can share
        one server.
    :param clock: where the store reads the time to tell live records from
        expired ones (Redis's TTLs expire them for good).

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
            )
            if isinstance(client, str)
            else client
        )
        if isinstance(self.client, RedisCluster) and not HASH_TAG.match(prefix):
            prefix = "{" + prefix + "}"
        #: Starts every key the store writes.
        self.prefix = prefix
        self._sessions, self._users = f"{prefix}s:", f"{prefix}user:"
        self.clock = clock
        register = self.client.register_script
        self._save = register(_SAVE)
        self._touch = register(_TOUCH)
        self._delete = register(_DELETE)
        self._user_sessions = register(_USER_SESSIONS)
        self._delete_user_sessions = register(_DELETE_USER_SESSIONS)
        self._limit_user_sessions = register(_LIMIT_USER_SESSIONS)

    def _ttl_ms(self, expires_at: float) -> int:
        return int((expires_at - self.clock()) * 1000)

    @staticmethod
    def _call(command: t.Callable[..., t.Any], *args: t.Any, **kwargs: t.Any) -> t.Any:
        """Run a command or script; a server out of reach is a StoreError
        (that quotes nothing of redis-py's error text, see :mod:`.faults`)."""
        try:
            return command(*args, **kwargs)
        except _ERRORS as error:
            raise faults.unavailable("Redis", error) from None

    @staticmethod
    def _record(
        version: bytes | str,
        expires_at: bytes | str,
        accessed_at: bytes | str,
        body: bytes | str,
        user_id: bytes | str | None,
    ) -> Record:
        fields = json.loads(body)
        return Record(
            data=fields["d"],
            version=int(version),
            created_at=fields["c"],
            accessed_at=float(accessed_at),
            id_issued_at=fields["i"],
            expires_at=float(expires_at),
            user_id=None if user_id is None else _text(user_id),
            user_agent=fields["ua"],
            address=fields["ip"],
            successor=fields["s"],
        )

    # -- the store interface -------------------------------------------------

    def load(self, key: str) -> Record | None:
        fields = self._call(self.client.hgetall, self._sessions + key)
        found = {_text(k): v for k, v in t.cast("dict[t.Any, t.Any]", fields).items()}
        if "v" not in found:
            return None
        return self._record(
            found["v"], found["e"], found["a"], found["b"], found.get("u")
        )

    def save(self, key: str, record: Record, expected_version: int | None) -> bool:
        body = {
            "d": dict(record.data),
            "c": record.created_at,
            "i": record.id_issued_at,
            "ua": record.user_agent,
            "ip": record.address,
            "s": record.successor,
        }
        args: list[object] = [
            "" if expected_version is None else str(expected_version),
            repr(self.clock()),
            self._ttl_ms(record.expires_at),
            str(record.version),
            repr(record.expires_at),
            repr(record.accessed_at),
            record.user_id or "",
            json.dumps(body, separators=(",", ":")),
            key,
            self._users,
            repr(record.created_at),
            "0" if record.user_id is None else "1",
        ]
        return bool(self._call(self._save, [self._sessions + key], args))

    def touch(
        self, key: str, accessed_at: float, expires_at: float, expected_version: int
    ) -> None:
        args: list[object] = [
            str(expected_version),
            repr(self.clock()),
            repr(accessed_at),
            repr(expires_at),
            self._ttl_ms(expires_at),
            self._users,
        ]
        self._call(self._touch, [self._sessions + key], args)

    def delete(self, key: str) -> None:
        self._call(self._delete, [self._sessions + key], [self._users, key])

    def user_sessions(self, user_id: str) -> list[tuple[str, Record]]:
        args: list[object] = [self._sessions, user_id, repr(self.clock())]
        rows = self._call(self._user_sessions, [self._users + user_id], args)
        return [
            (
                _text(member),
                self._record(version, expires_at, accessed_at, body, user_id),
            )
            for member, version, expires_at, accessed_at, body in rows
        ]

    def delete_user_sessions(self, user_id: str, keep: str | None = None) -> int:
        args: list[object] = [self._sessions, user_id, keep or ""]
        script = self._delete_user_sessions
        return int(self._call(script, [self._users + user_id], args))

    def limit_user_sessions(
        self, user_id: str, keep: int, spare: str | None = None
    ) -> int:
        """End the user's oldest sessions past ``keep``: one ``ZCARD`` while
        the user is within the cap; past it, a few commands per session
        ended. A session that expired counts until it is popped."""
        args: list[object] = [
            self._sessions,
            user_id,
            keep,
            spare or "",
            repr(self.clock()),
        ]
        script = self._limit_user_sessions
        return int(self._call(script, [self._users + user_id], args))

    def purge_expired(self, now: float) -> int:
        """Nothing to do: Redis expires sessions by itself."""
        return 0

    def close(self) -> None:
        """Close the connections of a client the store made itself."""
        if self._own_client:
            self.client.close()
