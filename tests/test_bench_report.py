"""The benchmark's targets table never shows a ratio rounded onto the other
side of its target, and calls a target met or missed only when the run's
confidence interval says so (benchmarks/report.py, benchmarks/run.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


report = load("report.py")
run = load("run.py")


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


def write_row(
    ratios: dict[str, float], **report_fields: object
) -> tuple[str, list[str]]:
    """The targets table of a run whose one row is rivo's Redis write with
    ``ratios``, and that row's cells."""
    row = {"kind": "rivo", "store": "redis", "path": "/write", **ratios}
    table = report.targets({"results": [row], **report_fields})
    cells = table.split("* - write, Redis")[1].splitlines()
    return table, [cell.strip() for cell in cells]


def test_the_targets_table_gives_a_near_miss_its_verdict_and_digits() -> None:
    _, cells = write_row(
        {
            "paired_vs_flask_session": 0.998,
            "vs_flask_session": 0.973,
            "best_vs_flask_session": 1.015,
        }
    )
    assert cells[1:7] == [
        "- Flask-Session as installed, same backend",
        "- 0.998x",
        "- 0.97x",
        "- 1.01x",
        "- >= 1x",
        "- not met",
    ]


@pytest.mark.parametrize(
    ("n", "ranks"),
    # The sign-test ranks of the median's 95% interval, as tables give them
    # (e.g. Conover, Practical Nonparametric Statistics, table A3).
    [(6, (1, 6)), (10, (2, 9)), (20, (6, 15)), (40, (14, 27)), (100, (40, 61))],
)
def test_the_median_interval_takes_the_sign_test_ranks(
    n: int, ranks: tuple[int, int]
) -> None:
    values = [float(v) for v in range(n, 0, -1)]  # any order
    assert run.median_interval(values) == ranks


def test_too_few_rounds_give_no_interval() -> None:
    assert run.median_interval([1.0, 2.0, 3.0, 4.0, 5.0]) is None
    assert run.median_interval([]) is None


def test_ratios_carry_the_interval_of_their_median() -> None:
    own = [110.0, 90.0, 104.0, 100.0, 120.0, 95.0, 101.0, 99.0, 108.0, 102.0]
    other = [100.0] * 10
    found = run.ratios(own, other)
    assert found["paired_"] == pytest.approx(1.015)
    assert found["paired_low_"] == pytest.approx(0.95)  # 2nd of 10
    assert found["paired_high_"] == pytest.approx(1.10)  # 9th of 10
    assert "paired_low_" not in run.ratios(own[:5], other[:5])


@pytest.mark.parametrize(
    ("paired", "bounds", "said"),
    [
        (1.02, (1.001, 1.05), "met"),
        (1.0, (1.0, 1.0), "met"),
        (1.02, (0.99, 1.05), "level"),  # the median reaches it; the run cannot tell
        (0.998, (0.97, 1.01), "level"),
        (0.97, (0.95, 0.9999), "not met"),
        (1.02, None, "met"),  # an older report: the median alone
        (0.998, None, "not met"),
    ],
)
def test_a_verdict_follows_the_interval(
    paired: float, bounds: tuple[float, float] | None, said: str
) -> None:
    assert report.verdict(paired, bounds, 1.0) == said


def test_the_targets_table_shows_the_interval_and_calls_a_straddle_level() -> None:
    table, cells = write_row(
        {
            "paired_vs_flask_session": 1.017,
            "paired_low_vs_flask_session": 0.9996,
            "paired_high_vs_flask_session": 1.043,
            "vs_flask_session": 1.02,
            "best_vs_flask_session": 1.05,
        },
        confidence=0.95,
    )
    assert "rounds' ratios: median (95% interval)" in table
    assert cells[2] == "- 1.02x (0.9996 to 1.04)"  # the low end not shown as 1.00
    assert cells[6] == "- level"


@pytest.mark.parametrize(
    "stores",
    [
        ["memory", "sqlite", "postgresql", "mariadb", "redis"],
        ["redis"],
        ["postgresql", "memory"],
        [],
    ],
)
def test_a_pass_runs_the_sides_of_each_goal_side_by_side(
    stores: list[str],
) -> None:
    scenarios = run.build_scenarios(stores, {})
    order = run.timing_order(scenarios)
    assert sorted(map(id, order)) == sorted(map(id, scenarios))
    at = {id(s): n for n, s in enumerate(order)}
    bare = run.find(scenarios, "bare", "/plain")
    for scenario in scenarios:
        if scenario.kind != "rivo":
            continue
        path, store = scenario.path, scenario.store
        if path == "/plain":  # its goal is against bare Flask, in its midst
            assert 1 <= abs(at[id(bare)] - at[id(scenario)]) <= 3, scenario.name
            continue
        peers = [
            s
            for s in scenarios
            if s.kind in run.PEERS and (s.path, s.store) == (path, store)
        ]
        # Memory's goal is set against the cookie session, which comes
        # between rivo and its first peer there.
        most = 2 if store == "memory" else 1
        for peer in peers:
            assert 1 <= abs(at[id(peer)] - at[id(scenario)]) <= most, scenario.name
        if store == "memory":
            cookie = run.find(scenarios, "cookie", path)
            assert at[id(cookie)] == at[id(scenario)] - 1
