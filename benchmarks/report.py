"""Write run.py's JSON report as the reStructuredText table of the docs.

python benchmarks/report.py results.json docs/_include/benchmarks-run.txt

docs/benchmarks.rst includes the file, so the table it shows is always the
one of the run its chart (plot.py) was drawn from, never copied by hand.
"""

from __future__ import annotations

import json
import sys
import typing as t


def _ratio(row: dict[str, t.Any], key: str) -> str:
    """A ratio of medians, with the ratio of best rounds after it (if the
    report has it: older ones do not)."""
    if row.get(key) is None:
        return ""
    best = row.get("best_" + key)
    return f"{row[key]:.2f}x" + ("" if best is None else f" ({best:.2f}x)")


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


def table(report: dict[str, t.Any]) -> str:
    """The report's rows as a ``list-table``: each figure is the median
    round's, with the best round's in brackets; a value a row lacks is
    blank."""
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 28 12 10 10 10 10 10 10",
        "",
    ]
    rows = [[heading for heading, _, _ in COLUMNS]]
    rows += (
        [write(result, key) for _, key, write in COLUMNS]
        for result in report["results"]
    )
    for row in rows:
        first, *rest = row
        lines.append(f"   * - {first}")
        lines.extend(f"     - {cell}".rstrip() for cell in rest)
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(args[0], encoding="utf-8") as file:
        report = json.load(file)
    with open(args[1], "w", encoding="utf-8") as file:
        file.write(table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
