"""What one write costs RedisStore, by how many sessions the user has.

Issue 8 measured the old store at 2.7 ms per log-in with 1,000 sessions of
one user, 11 ms with 10,000 and 183 ms with 100,000: every log-in walked the
user's set. This measures a log-in (the write of the new session, then
keeping ``RIVO_SESSION_MAX_PER_USER``) and an ID rotation (the new record,
then the old one turned into a pointer) with 10, 1,000 and 100,000 sessions
of one user. The sessions are written straight into Redis with a pipeline,
so the large case takes a second to set up rather than minutes.

A log-in is measured twice: with the cap far away, as with a cap raised for
an unusual application, and at the cap, where each log-in ends the oldest
session. Run ``python benchmarks/per_user.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
import typing as t

import redis
from run import SERVERS
from run import redact

from flask_rivo.ids import new_session_id
from flask_rivo.ids import session_key
from flask_rivo.stores import Record
from flask_rivo.stores import RedisStore
from flask_rivo.stores.redis_lua import pack

#: How many sessions the user has in each row.
SIZES = (10, 1_000, 100_000)
#: Starts every key the benchmark writes; removed before and after the run
#: (and by run.py's clean-up, which removes every ``rivobench:`` key).
PREFIX = "rivobench:per-user:"
#: A cap no row reaches.
FAR_CAP = 10**9
#: Sessions written per pipeline round trip while filling.
CHUNK = 10_000


def new_record(user: str) -> Record:
    now = time.time()
    return Record(
        data={"n": "0"},
        version=1,
        created_at=now,
        accessed_at=now,
        id_issued_at=now,
        expires_at=now + 3600,
        user_id=user,
        user_agent="bench",
        address="192.0.2.10",
    )


def fill(client: redis.Redis, user: str, sessions: int) -> None:
    """Give ``user`` that many live sessions, older than any made later."""
    index, began = f"{PREFIX}user:{user}", time.time() - 86400
    packed = pack(new_record(user))
    for start in range(0, sessions, CHUNK):
        with client.pipeline(transaction=False) as pipe:
            for n in range(start, min(start + CHUNK, sessions)):
                member = session_key(new_session_id())
                pipe.set(f"{PREFIX}s:{member}", packed, px=3_600_000)
                pipe.zadd(index, {member: began + n / 1000})
            pipe.pexpire(index, 3_600_000)
            pipe.execute()


def log_in(store: RedisStore, user: str, cap: int) -> float:
    """One log-in's store work, in seconds."""
    key, record = session_key(new_session_id()), new_record(user)
    started = time.perf_counter()
    if not store.save(key, record, None):
        raise RuntimeError("a log-in's write was refused")
    store.limit_user_sessions(user, cap, key)
    return time.perf_counter() - started


def rotation(store: RedisStore, user: str) -> float:
    """One ID rotation's store work, in seconds (set-up excluded)."""
    old, new, record = (
        session_key(new_session_id()),
        session_key(new_session_id()),
        new_record(user),
    )
    store.save(old, record, None)
    pointer = dataclasses.replace(record, version=2, user_id=None, successor="00")
    started = time.perf_counter()
    if not (store.save(new, record, None) and store.save(old, pointer, 1)):
        raise RuntimeError("a rotation's write was refused")
    return time.perf_counter() - started


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)


def measure(client: redis.Redis, repeat: int) -> list[dict[str, t.Any]]:
    """Each size's median milliseconds per log-in and per rotation."""
    store = RedisStore(client, prefix=PREFIX)
    rows = []
    for sessions in SIZES:
        user = f"user-{sessions}"
        fill(client, user, sessions)
        for _ in range(10):  # warm up: scripts loaded, connection open
            log_in(store, user, FAR_CAP)
        far = [log_in(store, user, FAR_CAP) for _ in range(repeat)]
        at_cap = [log_in(store, user, sessions) for _ in range(repeat)]
        held = client.zcard(f"{PREFIX}user:{user}")
        if held != sessions:
            raise RuntimeError(f"the cap left {held} sessions, not {sessions}")
        rotations = [rotation(store, user) for _ in range(repeat)]
        rows.append(
            {
                "sessions": sessions,
                "log_in_ms": median_ms(far),
                "log_in_at_cap_ms": median_ms(at_cap),
                "rotation_ms": median_ms(rotations),
            }
        )
    return rows


def clean_up(client: redis.Redis) -> None:
    keys = list(client.scan_iter(match=f"{PREFIX}*", count=10_000))
    for start in range(0, len(keys), CHUNK):
        client.delete(*keys[start : start + CHUNK])


def table(rows: list[dict[str, t.Any]]) -> str:
    header = ("sessions of the user", "log-in", "log-in at the cap", "rotation")
    lines = [header] + [
        (
            f"{row['sessions']:,}",
            *(
                f"{row[k]:.3f} ms"
                for k in ("log_in_ms", "log_in_at_cap_ms", "rotation_ms")
            ),
        )
        for row in rows
    ]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = [
        "  ".join(c.rjust(w) for c, w in zip(line, widths, strict=True))
        for line in lines
    ]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    option, url = SERVERS["redis"]
    parser.add_argument(option, dest="url", default=url, metavar="URL", help=f"({url})")
    parser.add_argument(
        "--repeat", type=int, default=200, help="operations measured per cell (200)"
    )
    parser.add_argument("--json", metavar="PATH", help="also write the numbers here")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    client = redis.Redis.from_url(args.url, socket_connect_timeout=3, socket_timeout=30)
    try:
        version = client.info("server")["redis_version"]
        clean_up(client)
    except redis.RedisError as error:
        print(
            f"benchmark failed: cannot use Redis at {redact(args.url)}: {error}",
            file=sys.stderr,
        )
        return 1
    try:
        print(
            f"RedisStore, median of {args.repeat} per cell;"
            f" Redis {version} at {redact(args.url)}"
        )
        rows = measure(client, args.repeat)
    finally:
        clean_up(client)
        client.close()
    print(table(rows))
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(
                {"repeat": args.repeat, "redis": version, "results": rows},
                file,
                indent=2,
            )
            file.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
