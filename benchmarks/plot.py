"""Draw run.py's JSON report as the bar chart docs/benchmarks.rst shows.

python benchmarks/plot.py results.json docs/_static/benchmarks.png
"""

from __future__ import annotations

import json
import sys
import typing as t

import matplotlib as mpl

mpl.use("Agg")  # no display needed
import matplotlib.pyplot as plt

#: The requests drawn, in this order, as groups of bars.
OPS = {
    "/plain": "untouched (cookie)",
    "/read": "read",
    "/write": "write",
    "/account": "login_required",
}


def plot(report: dict[str, t.Any], path: str) -> None:
    """Requests per second relative to bare Flask, one group per store."""
    rows = [r for r in report["results"] if r["store"] is not None]  # no baselines
    labels = list(dict.fromkeys(r["scenario"].rsplit(", ", 1)[0] for r in rows))
    figure, axes = plt.subplots(figsize=(8, 0.4 * len(labels) + 1.2), dpi=80)
    height = 0.8 / len(OPS)
    for n, (path_, name) in enumerate(OPS.items()):
        by_label = {
            r["scenario"].rsplit(", ", 1)[0]: r["vs_bare"]
            for r in rows
            if r["path"] == path_
        }
        values = [by_label.get(label, 0) for label in labels]
        axes.barh(
            [i + n * height for i in range(len(labels))], values, height, label=name
        )
    axes.set_yticks([i + height for i in range(len(labels))], labels, fontsize=8)
    axes.invert_yaxis()
    axes.axvline(1.0, color="black", linewidth=0.8)
    axes.set_xlabel("requests/s relative to bare Flask (1.0), median of rounds")
    axes.legend(fontsize=8, loc="lower right")
    figure.tight_layout()
    figure.savefig(path)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(args[0], encoding="utf-8") as file:
        plot(json.load(file), args[1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
