"""What many sessions cost: memory in the memory store, and purging them.

* Memory per 100,000 sessions in ``MemoryStore`` (Python's own allocations,
  measured with :mod:`tracemalloc`), each session as a browser leaves it: a
  small datum, a browser's User-Agent, an address.
* ``SQLAlchemyStore.purge_expired`` of 1,000,000 expired sessions on
  PostgreSQL and SQLite: the time it takes and the peak of Python memory
  while it runs (flat: it deletes in batches, never loading keys). The rows
  are made inside the database (``generate_series``, a recursive CTE), so
  filling takes seconds.
* ``flask users purge`` is measured by ``purge.py`` (PostgreSQL, the real
  command through Flask's CLI runner); this script keeps timing the store's
  own ``purge_expired``, on PostgreSQL and SQLite, without a users table.

Run ``python benchmarks/capacity.py --help`` for the options.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import tracemalloc
import typing as t
from pathlib import Path

import sqlalchemy as sa
from run import SERVERS
from run import USER_AGENT
from run import redact

from flask_rivo.ids import new_session_id
from flask_rivo.ids import session_key
from flask_rivo.stores import MemoryStore
from flask_rivo.stores import Record
from flask_rivo.stores import SQLAlchemyStore

#: The table the purge measurement fills and drops.
TABLE = "rivo_bench_purge"
#: Expired sessions made per INSERT while filling.
FILL_CHUNK = 100_000


def memory_per_sessions(count: int) -> dict[str, t.Any]:
    """Bytes the memory store holds for ``count`` sessions, and per session."""
    now = time.time()
    store = MemoryStore(count, clock=time.time)
    keys = [session_key(new_session_id()) for _ in range(count)]
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    for n, key in enumerate(keys):
        record = Record(
            data={"csrf_token": f'"{n:040x}"', "n": str(n)},
            version=1,
            created_at=now,
            accessed_at=now,
            id_issued_at=now,
            expires_at=now + 3600,
            user_agent=USER_AGENT,
            address="192.0.2.10",
        )
        store.save(key, record, None)
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    if len(store) != count:
        raise RuntimeError(f"the store kept {len(store)} of {count} sessions")
    return {"sessions": count, "bytes": used, "bytes_per_session": used // count}


def fill_expired(store: SQLAlchemyStore, rows: int) -> None:
    """``rows`` expired sessions, made by the database itself."""
    store.load("0" * 64)  # creates the table
    dead = time.time() - 3600
    columns = (
        "key, version, user_id, expires_at, created_at, accessed_at,"
        " id_issued_at, user_agent, address, successor, data"
    )
    values = (
        f"1, NULL, {dead}, {dead}, {dead}, {dead}, '{USER_AGENT}',"
        " '192.0.2.10', NULL, '{\"n\":\"0\"}'"
    )
    name = store.table.name
    # In chunks: the store's engine gives a statement 10 s at most.
    for start in range(1, rows + 1, FILL_CHUNK):
        end = min(start + FILL_CHUNK - 1, rows)
        if store.engine.dialect.name == "postgresql":
            sql = (
                f"INSERT INTO {name} ({columns}) SELECT"
                f" md5(g::text) || md5((g + 1)::text), {values}"
                f" FROM generate_series({start}, {end}) AS g"
            )
        else:
            sql = (
                f"WITH RECURSIVE g(n) AS (SELECT {start} UNION ALL SELECT n + 1"
                f" FROM g WHERE n < {end}) INSERT INTO {name} ({columns})"
                f" SELECT printf('%064d', n), {values} FROM g"
            )
        with store.engine.begin() as connection:
            connection.exec_driver_sql(sql)


def purge(url: str, rows: int) -> dict[str, t.Any]:
    """Fill ``rows`` expired sessions, then time ``purge_expired``."""
    store = SQLAlchemyStore(url, table_name=TABLE)
    try:
        store.table.drop(store.engine, checkfirst=True)
        started = time.perf_counter()
        fill_expired(store, rows)
        filled = time.perf_counter() - started
        tracemalloc.start()
        started = time.perf_counter()
        removed = store.purge_expired(time.time())
        took = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        if removed != rows:
            raise RuntimeError(f"purged {removed} of {rows} sessions")
        return {
            "database": store.engine.dialect.name,
            "rows": rows,
            "fill_seconds": round(filled, 2),
            "purge_seconds": round(took, 2),
            "peak_python_bytes": peak,
        }
    finally:
        store.table.drop(store.engine, checkfirst=True)
        store.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sessions", type=int, default=100_000, help="memory store (100000)"
    )
    parser.add_argument(
        "--purge-rows", type=int, default=1_000_000, help="to purge (1000000)"
    )
    option, default = SERVERS["postgresql"]
    parser.add_argument(option, dest="postgresql", default=default, metavar="URL")
    parser.add_argument("--json", metavar="PATH", help="also write the numbers here")
    args = parser.parse_args(argv)
    report: dict[str, t.Any] = {"memory": memory_per_sessions(args.sessions)}
    memory = report["memory"]
    print(
        f"MemoryStore: {memory['sessions']:,} sessions take"
        f" {memory['bytes'] / 2**20:.1f} MiB ({memory['bytes_per_session']:,} B each)"
    )
    with tempfile.TemporaryDirectory() as folder:
        urls = [args.postgresql, f"sqlite:///{Path(folder) / 'purge.db'}"]
        report["purge"] = []
        for url in urls:
            try:
                found = purge(url, args.purge_rows)
            except sa.exc.SQLAlchemyError as error:
                print(f"benchmark failed at {redact(url)}: {error}", file=sys.stderr)
                return 1
            report["purge"].append(found)
            print(
                f"purge_expired on {found['database']}: {found['rows']:,} expired"
                f" sessions in {found['purge_seconds']} s (filled in"
                f" {found['fill_seconds']} s), Python peak"
                f" {found['peak_python_bytes'] / 2**10:.0f} KiB"
            )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
