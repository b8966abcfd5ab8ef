"""How :class:`~flask_rivo.stores.redis.RedisStore` lays sessions out in
Redis, and the Lua scripts that read and write them.

A session is one string key holding a packed record (:func:`pack`)::

    <cover> <version> <expires_at> <accessed_at> <created_at> <json>[\\n<user>]

The scripts read the version, the expiry and the user with one pattern
match, without decoding the JSON, and a touch rewrites the two times by
splicing strings. JSON never holds a raw newline, so the user, last, may
hold anything. ``<cover>`` is ``-``, or on a sharded Cluster the time until
which the user's index is known to outlive the session (see
:mod:`.redis_shards`). A lone ``-`` is a claimed key: a sharded store's
pruner dropped it from an index, so no write may land there again.

Two sets of scripts: on one Redis (or one Cluster slot) a session's write
files it in its user's index in the same atomic step; on a sharded Cluster
each script touches one key, and the store orders its steps instead.
"""

from __future__ import annotations

import hashlib
import json

from .base import Record

#: Every script reads session keys through ``get``: a value of another
#: type (a hash of the layout before this one, a key some other program
#: wrote) is no session, and is dropped when met; a plain ``GET`` would fail
#: the whole script, and with it every request of that session, and the
#: listing and ending of its user's sessions.
_GET = r"""
local function get(key)
  local cur = redis.pcall('GET', key)
  if type(cur) == 'table' then
    redis.call('DEL', key)
    return false
  end
  return cur
end
"""

#: Reads a stored value: version, expiry (a number), user (nil if none),
#: cover; nothing for a claimed key.
_PARSE = r"""
local function parse(s)
  local x, v, e = string.match(s, '^(%S+) (%d+) (%S+) ')
  if not v then return nil end
  local nl = string.find(s, '\n', 1, true)
  local u = nil
  if nl then u = string.sub(s, nl + 1) end
  return v, tonumber(e), u, x
end
"""

# A write checks that the record is live with the expected version (or, to
# create, that none is live). Failing that, a stored value equal to the one
# sent means a resent script (redis-py resends after a lost reply) whose
# write landed: that comparison, of two copies of the record, is made only
# then, as is every other string the common case can do without (the
# script's own time is most of what a write waits for).
_CHECK = """
local cur = get(key)
local v, e, old, x
if cur then
  v, e, old, x = parse(cur)
  if not v then return 0 end  -- claimed: never written again
end
if ARGV[1] ~= (v and e > tonumber(ARGV[2]) and v or '') then
  if cur and string.sub(cur, #x + 1) == string.sub(value, 2) then return DONE end
  return 0
end
local ttl = tonumber(ARGV[3])
local nl = string.find(value, '\\n', 1, true)
local user = nl and string.sub(value, nl + 1)
"""

# KEYS[1] session; ARGV expected version ('' to create), now, ttl (ms),
# value (cover '-'). The user's index is kept in the same step. Answers 1,
# or 0 on a conflict: an integer, the cheapest reply to parse.
SAVE = (
    _PARSE
    + "local key, value, DONE = KEYS[1], ARGV[4], 1"
    + _CHECK
    + """
local member = (old or user) and string.sub(key, SKIP)  -- in an index
if old and old ~= user then redis.call('ZREM', USERS .. old, member) end
if ttl <= 0 then
  redis.call('DEL', key)
  return 1
end
redis.call('SET', key, value, 'PX', ARGV[3])  -- as sent: no number to format
if user then
  local index = USERS .. user
  if old ~= user then  -- scored by when the session began
    local created = string.match(value, '^%S+ %S+ %S+ %S+ (%S+) ')
    redis.call('ZADD', index, created, member)
  end
  if redis.call('PTTL', index) < ttl then redis.call('PEXPIRE', index, ttl) end
end
return 1
"""
)

# KEYS[1] session; ARGV expected version, now, ttl, value, the index's cover
# if just extended (or ''). Answers 2, writing nothing, while the user's
# index may not outlive the record: the store files it there first. Answers
# {1, old user} if the session left a user's index, to be unfiled after.
SHARDED_SAVE = (
    _PARSE
    + "local key, value, DONE = KEYS[1], ARGV[4], {1}"
    + _CHECK
    + """
local cover = '-'
if user and ttl > 0 then
  cover = ARGV[5]
  if cover == '' then
    if old == user then cover = x else cover = '-' end
  end
  local _, expires = parse(value)
  if cover == '-' or tonumber(cover) < expires then return 2 end
end
if ttl <= 0 then
  redis.call('DEL', key)
else
  redis.call('SET', key, cover .. string.sub(value, 2), 'PX', ARGV[3])
end
if old and old ~= user then return {1, old} end
return {1}
"""
)

# KEYS[1] session; ARGV expected version, now, accessed_at, expires_at, ttl.
_TOUCH = """
local cur = get(KEYS[1])
if not cur then return 0 end
local x, v, e, rest = string.match(cur, '^(%S+) (%d+) (%S+) %S+ (.*)$')
if not v or v ~= ARGV[1] or tonumber(e) <= tonumber(ARGV[2]) then return 0 end
local ttl = tonumber(ARGV[5])
if ttl <= 0 then
  redis.call('DEL', KEYS[1])
  return 1
end
local nl = string.find(rest, '\\n', 1, true)
"""
_TOUCHED = """
redis.call('SET', KEYS[1], x .. ' ' .. v .. ' ' .. ARGV[4] .. ' ' .. ARGV[3]
  .. ' ' .. rest, 'PX', ARGV[5])
"""
TOUCH = (
    _TOUCH
    + _TOUCHED
    + """
if nl then
  local index = USERS .. string.sub(rest, nl + 1)
  if redis.call('PTTL', index) < ttl then redis.call('PEXPIRE', index, ttl) end
end
return 1
"""
)
# ARGV[6]: the index's cover if just extended, or ''. Answers {2, user,
# created_at} while the index may not outlive the touched record.
SHARDED_TOUCH = (
    _TOUCH
    + """
if nl then
  if ARGV[6] ~= '' then x = ARGV[6] end
  if x == '-' or tonumber(x) < tonumber(ARGV[4]) then
    return {2, string.sub(rest, nl + 1), string.match(rest, '^(%S+) ')}
  end
end
"""
    + _TOUCHED
    + "return 1\n"
)

DELETE = (
    _PARSE
    + """
local cur = get(KEYS[1])
if not cur then return 0 end
redis.call('DEL', KEYS[1])
local _, _, user = parse(cur)
if user then redis.call('ZREM', USERS .. user, string.sub(KEYS[1], SKIP)) end
return 1
"""
)

# Answers the user the deleted session was filed under, to unfile it after.
SHARDED_DELETE = (
    _PARSE
    + """
local cur = get(KEYS[1])
if not cur then return false end
local v, _, user = parse(cur)
if not v then return false end  -- a claim stays
redis.call('DEL', KEYS[1])
return user or false
"""
)

# KEYS[1] index; ARGV member, score, ttl: file a session before writing it.
FILE = """
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 1
"""

# KEYS[1] session; ARGV user, now: end a session met in the user's index.
# Answers 3 (ended, was live), 2 (ended, was dead), 1 (missing: claimed, so
# that a write filed but not yet made can never land unindexed), or 0
# (another user's now); the member is unfiled after, in every case.
END = (
    _PARSE
    + """
local cur = get(KEYS[1])
if not cur then
  redis.call('SET', KEYS[1], '-', 'PX', CLAIM)
  return 1
end
local v, e, user = parse(cur)
if not v then return 1 end
if user ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if e > tonumber(ARGV[2]) then return 3 end
return 2
"""
)

# Listing and ending all of a user's sessions walk the user's set, which the
# per-user cap keeps short; members whose session is gone are dropped.

USER_SESSIONS = (
    _PARSE
    + """
local found = {}
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local cur = get(SESSIONS .. member)
  local v, e, user
  if cur then v, e, user = parse(cur) end
  if user ~= ARGV[1] then
    redis.call('ZREM', KEYS[1], member)
  elseif e > tonumber(ARGV[2]) then
    table.insert(found, member)
    table.insert(found, cur)
  end
end
return found
"""
)

# Ends a member's session if it is the user's: 2 if it was live at ``now``,
# 1 if dead, 0 if there was none of the user's.
_FINISH = """
local function finish(member, user, now)
  local key = SESSIONS .. member
  local cur = get(key)
  if not cur then return 0 end
  local _, e, u = parse(cur)
  if u ~= user then return 0 end
  redis.call('DEL', key)
  if e > now then return 2 end
  return 1
end
"""

DELETE_USER_SESSIONS = (
    _PARSE
    + _FINISH
    + """
local removed = 0
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if member ~= ARGV[2] then
    if finish(member, ARGV[1], 0) > 0 then removed = removed + 1 end
    redis.call('ZREM', KEYS[1], member)
  end
end
return removed
"""
)

# Past the cap, pop the oldest members (one more is read, in case the spared
# session is among them). A member whose session is gone or expired, or now
# belongs to someone else, is only dropped from the set; so a set never grows
# past the cap, and the work is one step per member ever added.
LIMIT_USER_SESSIONS = (
    _PARSE
    + _FINISH
    + """
local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[2])
if excess <= 0 then return 0 end
local ended, now = 0, tonumber(ARGV[4])
for _, member in ipairs(redis.call('ZRANGE', KEYS[1], 0, excess)) do
  if excess == 0 then break end
  if member ~= ARGV[3] then
    if finish(member, ARGV[1], now) == 2 then ended = ended + 1 end
    redis.call('ZREM', KEYS[1], member)
    excess = excess - 1
  end
end
return ended
"""
)


_dumps = json.JSONEncoder(separators=(",", ":")).encode
_loads = json.loads


def pack(record: Record) -> str:
    """A record as stored: a header of numbers the scripts read, the rest as
    JSON, and the user last (after a newline, which JSON never holds), so
    that it may hold anything. The times are ``repr`` of their float, which
    reads back exactly."""
    data = record.data
    body = _dumps(
        [
            record.id_issued_at,
            record.user_agent,
            record.address,
            record.successor,
            data if type(data) is dict else dict(data),
        ]
    )
    head = (
        f"- {record.version} {record.expires_at!r} {record.accessed_at!r}"
        f" {record.created_at!r} {body}"
    )
    return head if record.user_id is None else f"{head}\n{record.user_id}"


def unpack(value: bytes | str) -> Record | None:
    """The record :func:`pack` made, or ``None`` for a claimed key, or for a
    value that is no packed record (see :data:`_GET`)."""
    if isinstance(value, str):  # a client that decodes responses
        value = value.encode()
    fields = value.split(b" ", 5)
    if len(fields) < 6:
        return None
    _, version, expires_at, accessed_at, created_at, rest = fields
    body, filed, user = rest.partition(b"\n")
    try:
        issued, user_agent, address, successor, data = _loads(body)
        record = Record(
            data,
            int(version),
            float(created_at),
            float(accessed_at),
            issued,
            float(expires_at),
            user.decode() if filed else None,
            user_agent,
            address,
            successor,
        )
    except (ValueError, TypeError):  # JSON, numbers, UTF-8, the list's length
        return None
    return record if isinstance(data, dict) else None


def _literal(text: str) -> str:
    """``text`` as a Lua long string, whatever it holds."""
    level = 0
    while f"]{'=' * level}]" in text:
        level += 1
    fence = "=" * level
    return f"[{fence}[{text}]{fence}]"


class Script:
    """A script with the store's constants folded in, and its SHA1 for
    ``EVALSHA``: the prefixes never travel with each call."""

    __slots__ = ("sha", "source")

    def __init__(self, body: str, sessions: str, users: str, claim_ms: int) -> None:
        constants = (
            f"local SESSIONS, USERS = {_literal(sessions)}, {_literal(users)}\n"
            f"local SKIP, CLAIM = {len(sessions.encode()) + 1}, {claim_ms}\n"
        ) + _GET
        #: The Lua source, sent once per server by ``SCRIPT LOAD``.
        self.source = constants + body
        #: What ``EVALSHA`` names it by.
        self.sha = hashlib.sha1(self.source.encode()).hexdigest()  # noqa: S324
