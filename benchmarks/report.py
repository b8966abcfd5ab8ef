"""Write run.py's JSON report as the reStructuredText tables of the docs.

python benchmarks/report.py results.json docs/_include/benchmarks-run.txt \
    --targets docs/_include/benchmarks-targets.txt

docs/benchmarks.rst includes both files, so the tables it shows (every
scenario, and the performance targets against what the run measured) are
always those of the run its chart (plot.py) was drawn from, never copied by
hand.
"""

from __future__ import annotations

import argparse
import json
import typing as t


def headline(row: dict[str, t.Any], key: str) -> float | None:
    """The ratio ``key`` as the docs give it: the median of the round-by-round
    ratios, or, in older reports that lack it, the ratio of medians."""
    value = row.get("paired_" + key, row.get(key))
    return None if value is None else float(value)


def _ratio(row: dict[str, t.Any], key: str) -> str:
    """A ratio (:func:`headline`), with the ratio of best rounds after it
    (if the report has it)."""
    main = headline(row, key)
    if main is None:
        return ""
    best = row.get("best_" + key)
    return f"{main:.2f}x" + ("" if best is None else f" ({best:.2f}x)")


def against_goal(value: float, goal: float) -> str:
    """A ratio judged against ``goal``: two decimals, or as many more as it
    takes not to round it onto the goal's other side (0.998 misses 1.0, yet
    shows as 1.00)."""
    for decimals in range(2, 10):
        shown = f"{value:.{decimals}f}"
        if (float(shown) >= goal) == (value >= goal):
            break
    return shown + "x"


def _rate(row: dict[str, t.Any], key: str) -> str:
    """Requests per second: the median round, and the best one after it."""
    best = row.get("best_" + key)
    return f"{row[key]:,.0f}" + ("" if best is None else f" ({best:,.0f})")


def _plain(row: dict[str, t.Any], key: str) -> str:
    value = row.get(key)
    return (
        ""
        if value is None
        else f"{value:,}"
        if isinstance(value, int)
        else f"{value:g}"
    )


#: The columns: a heading, the report's key, and how a cell is written.
COLUMNS: tuple[tuple[str, str, t.Callable[[dict[str, t.Any], str], str]], ...] = (
    ("request", "scenario", lambda row, key: str(row[key])),
    ("req/s", "requests_per_second", _rate),
    ("vs bare Flask", "vs_bare", _ratio),
    ("vs cookie session", "vs_cookie", _ratio),
    ("vs Flask-Session", "vs_flask_session", _ratio),
    ("vs Flask-Session, no refresh", "vs_flask_session_tuned", _ratio),
    ("store calls per request", "store_calls_per_request", _plain),
    ("bytes per session", "bytes_per_session", _plain),
)


def list_table(widths: str, rows: t.Iterable[list[str]]) -> str:
    """reStructuredText's ``list-table`` of ``rows``, the first the headings;
    an empty cell stays empty."""
    lines = [".. list-table::", "   :header-rows: 1", f"   :widths: {widths}", ""]
    for row in rows:
        first, *rest = row
        lines.append(f"   * - {first}")
        lines.extend(f"     - {cell}".rstrip() for cell in rest)
    return "\n".join(lines) + "\n"


def table(report: dict[str, t.Any]) -> str:
    """The report's rows as a ``list-table``: each rate is the median
    round's and each ratio the median of the rounds' ratios, with the best
    rounds' in brackets; a value a row lacks is blank."""
    rows = [[heading for heading, _, _ in COLUMNS]]
    rows += (
        [write(result, key) for _, key, write in COLUMNS]
        for result in report["results"]
    )
    return list_table("28 12 10 10 10 10 10 10", rows)


class Target(t.NamedTuple):
    """A performance target: rivo's row, the ratio it is held to, the goal."""

    route: str
    store: str
    path: str
    ratio: str
    goal: float


#: The performance targets rivo is held to, as the issue that set them put
#: them: each a ratio to bare Flask or to what users would pick instead.
TARGETS = (
    *(
        Target(
            f"untouched view with a session cookie, {name}",
            store,
            "/plain",
            "vs_bare",
            0.97,
        )
        for store, name in (
            ("memory", "memory"),
            ("sqlite", "SQLite"),
            ("postgresql", "PostgreSQL"),
            ("mariadb", "MariaDB"),
            ("redis", "Redis"),
        )
    ),
    Target("read-only, memory", "memory", "/read", "vs_cookie", 1.3),
    Target("read-only, Redis", "redis", "/read", "vs_flask_session", 1.7),
    Target(
        "write, Redis (compare-and-swap included)",
        "redis",
        "/write",
        "vs_flask_session",
        1.0,
    ),
    Target("read-only, PostgreSQL", "postgresql", "/read", "vs_flask_session", 5.0),
)

#: What each target's ratio is measured against.
AGAINST = {
    "vs_bare": "bare Flask",
    "vs_cookie": "Flask's cookie session",
    "vs_flask_session": "Flask-Session as installed, same backend",
}


def interval(row: dict[str, t.Any], key: str) -> tuple[float, float] | None:
    """The confidence interval of the ratio ``key``'s rounds' median, if the
    report has one (run.py's ``median_interval``; older reports lack it)."""
    low, high = row.get("paired_low_" + key), row.get("paired_high_" + key)
    return None if low is None or high is None else (float(low), float(high))


def verdict(paired: float, bounds: tuple[float, float] | None, goal: float) -> str:
    """Whether a target is met: by the interval of the rounds' median if
    there is one (met when all of it reaches the goal, not met when all of
    it falls short, level when it spans the goal: the run cannot tell), or
    else by the median alone."""
    if bounds is None:
        return "met" if paired >= goal else "not met"
    low, high = bounds
    if low >= goal:
        return "met"
    return "not met" if high < goal else "level"


def targets(report: dict[str, t.Any]) -> str:
    """The targets against the run, judged by :func:`verdict`: the median
    of the round-by-round ratios (the ratio of medians in older reports)
    with its confidence interval, the ratio of medians and of best rounds
    beside it; a target whose row the run lacks (a store it skipped) is
    left out."""
    rows = {
        (r["store"], r["path"]): r for r in report["results"] if r["kind"] == "rivo"
    }
    confidence = report.get("confidence")
    heading = (
        "rounds' ratios (median)"
        if confidence is None
        else f"rounds' ratios: median ({confidence:.0%} interval)"
    )
    cells = [
        [
            "route",
            "against",
            heading,
            "medians",
            "best rounds",
            "target",
            "verdict",
        ]
    ]
    for target in TARGETS:
        row = rows.get((target.store, target.path))
        paired = None if row is None else headline(row, target.ratio)
        if row is None or paired is None:
            continue
        best = row.get("best_" + target.ratio)
        bounds = interval(row, target.ratio)
        shown = against_goal(paired, target.goal)
        if bounds is not None:
            low, high = (against_goal(b, target.goal)[:-1] for b in bounds)
            shown += f" ({low} to {high})"
        cells.append(
            [
                target.route,
                AGAINST[target.ratio],
                shown,
                f"{row[target.ratio]:.2f}x",
                "" if best is None else f"{best:.2f}x",
                f">= {target.goal:g}x",
                verdict(paired, bounds, target.goal),
            ]
        )
    return list_table("30 22 10 10 10 8 10", cells)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", help="run.py's JSON report")
    parser.add_argument("table", help="where to write the table of every scenario")
    parser.add_argument("--targets", metavar="PATH", help="where to write the targets")
    args = parser.parse_args(argv)
    with open(args.report, encoding="utf-8") as file:
        report = json.load(file)
    with open(args.table, "w", encoding="utf-8") as file:
        file.write(table(report))
    if args.targets:
        with open(args.targets, "w", encoding="utf-8") as file:
            file.write(targets(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
