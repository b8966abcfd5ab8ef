"""Write run.py's JSON report as the reStructuredText table of the docs.

python benchmarks/report.py results.json docs/_generated/benchmarks-run.rst

docs/benchmarks.rst includes the file, so the table it shows is always the
one of the run its chart (plot.py) was drawn from, never copied by hand.
"""

from __future__ import annotations

import json
import sys
import typing as t

#: The columns: a heading, the report's key, and how a value is written.
COLUMNS: tuple[tuple[str, str, t.Callable[[t.Any], str]], ...] = (
    ("request", "scenario", str),
    ("req/s", "requests_per_second", lambda v: f"{v:,.0f}"),
    ("vs bare Flask", "vs_bare", lambda v: f"{v:.2f}x"),
    ("vs cookie session", "vs_cookie", lambda v: f"{v:.2f}x"),
    ("vs Flask-Session", "vs_flask_session", lambda v: f"{v:.2f}x"),
    ("vs Flask-Session, no refresh", "vs_flask_session_tuned", lambda v: f"{v:.2f}x"),
    ("store calls per request", "store_calls_per_request", lambda v: f"{v:g}"),
    ("bytes per session", "bytes_per_session", lambda v: f"{v:,}"),
)


def table(report: dict[str, t.Any]) -> str:
    """The report's rows as a ``list-table``; a value a row lacks is blank."""
    lines = [
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 34 9 9 9 9 9 9 9",
        "",
    ]
    rows = [[heading for heading, _, _ in COLUMNS]]
    for result in report["results"]:
        rows.append(
            [
                "" if result.get(key) is None else write(result[key])
                for _, key, write in COLUMNS
            ]
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
