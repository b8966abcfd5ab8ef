"""The benchmark's targets table never shows a ratio rounded onto the other
side of its target (benchmarks/report.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

REPORT = Path(__file__).parent.parent / "benchmarks" / "report.py"


def load_report() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_report", REPORT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


report = load_report()


@pytest.mark.parametrize(
    ("value", "goal", "shown"),
    [
        (0.998, 1.0, "0.998x"),  # would read 1.00x, and is not met
        (1.004, 1.0, "1.00x"),
        (1.2991, 1.3, "1.299x"),
        (0.9996, 1.0, "0.9996x"),  # three decimals would still read 1.000x
        (0.96999, 0.97, "0.96999x"),
        (1.3, 1.3, "1.30x"),
        (6.57, 5.0, "6.57x"),
    ],
)
def test_a_ratio_is_never_rounded_onto_the_other_side_of_its_goal(
    value: float, goal: float, shown: str
) -> None:
    assert report.against_goal(value, goal) == shown


def test_the_targets_table_gives_a_near_miss_its_verdict_and_digits() -> None:
    rows = [
        {
            "kind": "rivo",
            "store": "redis",
            "path": "/write",
            "paired_vs_flask_session": 0.998,
            "vs_flask_session": 0.973,
            "best_vs_flask_session": 1.015,
        }
    ]
    table = report.targets({"results": rows})
    row = table.split("* - write, Redis")[1].splitlines()
    assert [cell.strip() for cell in row[1:7]] == [
        "- Flask-Session as installed, same backend",
        "- 0.998x",
        "- 0.97x",
        "- 1.01x",
        "- >= 1x",
        "- not met",
    ]
