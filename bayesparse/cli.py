"""Command line: ``bayesparse tour`` and ``bayesparse bench NAME``."""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

from bayesparse import __version__
from bayesparse.benchmarking import benchmarks_dir


def _bench(name: str, extra: list[str]) -> int:
    try:
        root = benchmarks_dir()
    except FileNotFoundError:
        raise SystemExit(
            "bench: the benchmarks ship with the source checkout, not the wheel; clone the "
            "repository and run `bayesparse bench NAME` there"
        ) from None
    available = sorted(p.stem for p in root.glob("*.py") if not p.stem.startswith("_"))
    # Only listed names: a path such as ../bayesparse/__init__ must never run.
    if name != "all" and name not in available:
        raise SystemExit(f"bench: no benchmark {name!r}; available: {', '.join(available)}")
    names = available if name == "all" else [name]
    for n in names:
        path = root / f"{n}.py"
        print(f"== bayesparse bench {n}")
        sys.argv = [str(path), *extra]
        runpy.run_path(str(path), run_name="__main__")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the command line.

    Parameters
    ----------
    argv : list of str, optional
        Arguments after the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        The exit status.
    """
    parser = argparse.ArgumentParser(prog="bayesparse", description=__doc__)
    parser.add_argument("--version", action="version", version=f"bayesparse {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    tour = sub.add_parser("tour", help="run every component on built-in data")
    tour.add_argument("--out", type=Path, default=Path("bayesparse-tour"), help="plot folder")
    tour.add_argument("--only", nargs="*", default=None, help="tour steps to run (by name)")
    bench = sub.add_parser("bench", help="run benchmarks/NAME.py against its peers",
                           usage="bayesparse bench NAME [ARGS ...]")
    bench.add_argument("name", help="benchmark name, or 'all'")
    bench.add_argument("args", nargs=argparse.REMAINDER, help="passed to the benchmark")
    ns = parser.parse_args(argv)
    if ns.command == "tour":
        from bayesparse.tour import UnknownStepError, run_tour

        try:
            run_tour(ns.out, only=ns.only)
        except UnknownStepError as err:
            parser.exit(2, f"bayesparse tour: {err}\n")
        return 0
    return _bench(ns.name, ns.args)


if __name__ == "__main__":
    raise SystemExit(main())
