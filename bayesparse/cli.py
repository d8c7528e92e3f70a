"""Command line: ``bayesparse tour`` and ``bayesparse bench NAME``."""

from __future__ import annotations

import argparse
import runpy
import sys
from pathlib import Path

from bayesparse.benchmarking import benchmarks_dir


def _bench(name: str, extra: list[str]) -> int:
    root = benchmarks_dir()
    names = (
        sorted(p.stem for p in root.glob("*.py") if not p.stem.startswith("_"))
        if name == "all"
        else [name]
    )
    for n in names:
        path = root / f"{n}.py"
        if not path.exists():
            available = ", ".join(sorted(p.stem for p in root.glob("[!_]*.py")))
            raise SystemExit(f"bench: no benchmark {n!r}; available: {available}")
        print(f"== bayesparse bench {n}")
        sys.argv = [str(path), *extra]
        runpy.run_path(str(path), run_name="__main__")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bayesparse", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    tour = sub.add_parser("tour", help="run every component on built-in data")
    tour.add_argument("--out", type=Path, default=Path("bayesparse-tour"), help="plot folder")
    tour.add_argument("--only", nargs="*", default=None, help="tour steps to run (by name)")
    bench = sub.add_parser("bench", help="run benchmarks/NAME.py against its peers")
    bench.add_argument("name", help="benchmark name, or 'all'")
    bench.add_argument("args", nargs=argparse.REMAINDER, help="passed to the benchmark")
    ns = parser.parse_args(argv)
    if ns.command == "tour":
        from bayesparse.tour import run_tour

        run_tour(ns.out, only=ns.only)
        return 0
    return _bench(ns.name, ns.args)


if __name__ == "__main__":
    raise SystemExit(main())
