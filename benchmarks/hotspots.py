"""Where one scenario of ``run.py`` spends its time, function by function.

Builds the same app as ``run.py`` for one side (rivo, Flask-Session, the
cookie session or bare Flask), one store and one request, times it without
a profiler (microseconds per request, the best of five rounds), then
profiles the same requests with pyinstrument (a call tree, by default) or
cProfile (``--cprofile``: the functions that took longest, by their own
time and with their callees).

    python benchmarks/hotspots.py redis /read
    python benchmarks/hotspots.py postgresql /write --side flask-session
    python benchmarks/hotspots.py memory /read --cprofile
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import pstats
import sys

import run

#: The sides ``--side`` chooses from: the kinds of app ``run.py`` builds.
SIDES = ("rivo", *run.PEERS, "cookie", "bare")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("store", choices=list(run.STORES), help="the store")
    parser.add_argument("path", choices=list(run.OPS.values()), help="the request")
    parser.add_argument("--side", choices=SIDES, default="rivo", help="(rivo)")
    parser.add_argument(
        "--requests", type=int, default=4000, help="requests per round (4000)"
    )
    parser.add_argument(
        "--cprofile", action="store_true", help="cProfile tables, not a call tree"
    )
    for store, (option, url) in run.SERVERS.items():
        parser.add_argument(option, dest=store, default=url, metavar="URL")
    args = parser.parse_args(argv)
    if args.requests < 1:
        parser.error("--requests must be at least 1")
    urls = {store: getattr(args, store) for store in run.SERVERS}
    store = None if args.side in ("cookie", "bare") else args.store
    scenario = run.Scenario(
        "profiled", args.side, args.path, store, urls.get(args.store, "")
    )
    try:
        with contextlib.ExitStack() as cleanup:
            if store in run.SERVERS:
                run.open_servers([store], urls, cleanup)
            scenario.set_up(cleanup)
            scenario.run(max(100, args.requests // 10))
            best = min(scenario.run(args.requests) for _ in range(5))
            print(
                f"{args.side}, {args.store}, {args.path}:"
                f" {best / args.requests * 1e6:.1f} us per request"
                f" (best of 5 rounds of {args.requests}, no profiler)"
            )
            print(profile(scenario, args.requests, cprofile=args.cprofile))
            scenario.check()
    except run.BenchmarkError as error:
        print(f"profile failed: {error}", file=sys.stderr)
        return 1
    return 0


def profile(scenario: run.Scenario, requests: int, *, cprofile: bool) -> str:
    """The profile of ``requests`` more requests, as text."""
    if cprofile:
        profiler = cProfile.Profile()
        profiler.enable()
        scenario.run(requests)
        profiler.disable()
        out = io.StringIO()
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats("flask_rivo|flask_session", 40)
        return out.getvalue()
    try:
        from pyinstrument import Profiler
    except ImportError:  # pragma: no cover - told to the user
        return "pyinstrument is missing (pip install '.[bench]'); try --cprofile"
    tree = Profiler(interval=0.0001)
    tree.start()
    scenario.run(requests)
    tree.stop()
    return str(tree.output_text(unicode=False, color=False))


if __name__ == "__main__":
    sys.exit(main())
