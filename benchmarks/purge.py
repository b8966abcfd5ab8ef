"""How long ``flask users purge`` takes over 1,000,000 expired sessions on
PostgreSQL, and how much memory it needs (issue 10).

The table is filled by one ``INSERT ... SELECT generate_series`` (seconds,
not the hours a million log-ins would take), then the real command runs
through Flask's CLI runner, on an app with ``RivoUsers`` and a
``SQLAlchemyStore`` on that table. It reports the purge's wall time, the
process's peak RSS before and after (``resource.getrusage``: flat memory
means the peak does not grow), and the peak of Python allocations during
the purge (``tracemalloc``). A smaller ``--rows`` run next to the large one
shows that memory does not grow with the backlog.

Run ``python benchmarks/purge.py --help`` for the options. It writes only
the tables ``rivo_bench_purge`` and ``rivo_bench_purge_users``, removed
before and after the run.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import tracemalloc
import typing as t

import flask
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import scoped_session
from sqlalchemy.orm import sessionmaker

from flask_rivo import RivoUsers
from flask_rivo import UserMixin
from flask_rivo.stores import SQLAlchemyStore

#: The session table the benchmark fills.
TABLE = "rivo_bench_purge"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class Base(DeclarativeBase):
    pass


class User(UserMixin, Base):
    """An empty users table: the purge of accounts has nothing to do."""

    __tablename__ = f"{TABLE}_users"
    id: Mapped[str] = mapped_column(sa.String(25), primary_key=True)


def fill(
    engine: sa.Engine, table: sa.Table, rows: int, *, expires_at: float, start: int = 0
) -> None:
    """Insert ``rows`` anonymous sessions expiring at ``expires_at``, keys
    numbered from ``start``, in one statement (PostgreSQL only)."""
    series = sa.func.generate_series(start, start + rows - 1)
    numbers = series.table_valued("n").render_derived(name="series")
    key = sa.func.lpad(sa.func.to_hex(numbers.c.n), 64, "0")
    moment = sa.literal(expires_at - 3600.0, sa.Double)
    select = sa.select(
        key,
        sa.literal(1, sa.BigInteger),
        sa.null(),
        sa.literal(expires_at, sa.Double),
        moment,
        moment,
        moment,
        sa.literal(""),
        sa.literal(""),
        sa.null(),
        sa.literal("{}"),
    ).select_from(numbers)
    columns = [
        "key", "version", "user_id", "expires_at", "created_at", "accessed_at",
        "id_issued_at", "user_agent", "address", "successor", "data",
    ]  # fmt: skip
    with engine.begin() as connection:
        connection.execute(sa.insert(table).from_select(columns, select))
        connection.execute(sa.text(f"ANALYZE {table.name}"))


def _rss_mib() -> float:
    """The process's peak resident set so far, in MiB (Linux: KiB units)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(url: str, rows: int) -> dict[str, float]:
    """Fill, purge with ``flask users purge``, and report the figures."""
    engine = sa.create_engine(url)
    store = SQLAlchemyStore(engine, table_name=TABLE)
    Base.metadata.drop_all(engine)
    store.table.drop(engine, checkfirst=True)
    store.table.create(engine)
    Base.metadata.create_all(engine)
    try:
        started = time.perf_counter()
        fill(engine, store.table, rows, expires_at=time.time() - 60)
        filled = time.perf_counter() - started
        app = flask.Flask(__name__)
        app.config.update(SECRET_KEY="bench", RIVO_SESSION_STORE=store)  # noqa: S106
        RivoUsers(app, user_model=User, db_session=scoped_session(sessionmaker(engine)))
        rss_before = _rss_mib()
        tracemalloc.start()
        started = time.perf_counter()
        result = app.test_cli_runner().invoke(args=["users", "purge"])
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        if (
            result.exit_code != 0
            or f"expired sessions: {rows} removed" not in result.output
        ):
            raise SystemExit(f"the purge failed:\n{result.output}")
        with engine.connect() as connection:
            left = connection.scalar(
                sa.select(sa.func.count()).select_from(store.table)
            )
        if left:
            raise SystemExit(f"{left} rows left after the purge")
        return {
            "rows": rows,
            "fill_s": filled,
            "purge_s": seconds,
            "rows_per_s": rows / seconds,
            "rss_before_mib": rss_before,
            "rss_after_mib": _rss_mib(),
            "python_peak_mib": peak / 2**20,
        }
    finally:
        store.table.drop(engine, checkfirst=True)
        Base.metadata.drop_all(engine)
        engine.dispose()


def main(argv: t.Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--postgres-url", default=DEFAULT_URL)
    parser.add_argument(
        "--rows", type=int, nargs="+", default=[100_000, 1_000_000],
        help="backlogs to purge, each in a fresh table (default: 100000 1000000)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    print("rows       fill s  purge s   rows/s  RSS before  RSS after  Python peak")
    for rows in args.rows:
        r = measure(args.postgres_url, rows)
        print(
            f"{rows:>9,} {r['fill_s']:>7.1f} {r['purge_s']:>8.1f}"
            f" {r['rows_per_s']:>8,.0f}"
            f" {r['rss_before_mib']:>8.1f} MiB {r['rss_after_mib']:>6.1f} MiB"
            f" {r['python_peak_mib']:>8.2f} MiB"
        )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
