"""``bayesparse tour``: run every component that exists on built-in data.

Each module in this package is one step: it defines ``NAME`` (short id), ``ORDER`` (position)
and ``run(out: Path) -> list[TourRow]``, writing its plots into ``out``. Steps are discovered,
so a component joins the tour by adding its module here, and a missing one never shows.
"""

from __future__ import annotations

import importlib
import pkgutil
import time
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm


class UnknownStepError(ValueError):
    """``only`` names a tour step that does not exist."""


@dataclass
class TourRow:
    """One line of the tour's summary table."""

    component: str
    task: str
    metric: str
    seconds: float


def steps() -> list:
    """The tour step modules, in order."""
    mods = [
        importlib.import_module(f"{__name__}.{m.name}")
        for m in pkgutil.iter_modules(__path__)
        if not m.name.startswith("_")
    ]
    return sorted(mods, key=lambda m: (m.ORDER, m.NAME))


def run_tour(out: Path, only: list[str] | None = None) -> list[TourRow]:
    """Run the steps, print the summary table and return its rows."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    chosen = [s for s in steps() if only is None or s.NAME in only]
    if only:
        unknown = set(only) - {s.NAME for s in chosen}
        if unknown:
            names = ", ".join(s.NAME for s in steps())
            raise UnknownStepError(f"only: unknown steps {sorted(unknown)}; available: {names}")
    rows: list[TourRow] = []
    bar = tqdm(chosen, desc="bayesparse tour", unit="step")
    for step in bar:
        bar.set_postfix_str(step.NAME)
        start = time.perf_counter()
        new = step.run(out)
        for r in new:
            if not r.seconds:
                r.seconds = time.perf_counter() - start
        rows.extend(new)
    widths = [max(len(h), *(len(getattr(r, a)) for r in rows)) if rows else len(h)
              for h, a in (("component", "component"), ("task", "task"), ("quality", "metric"))]
    header = (f"{'component':<{widths[0]}}  {'task':<{widths[1]}}  "
              f"{'quality':<{widths[2]}}  time")
    print("\n" + header + "\n" + "-" * len(header))
    for r in rows:
        print(f"{r.component:<{widths[0]}}  {r.task:<{widths[1]}}  "
              f"{r.metric:<{widths[2]}}  {r.seconds:.2f} s")
    print(f"\nplots written to {out.resolve()}/")
    return rows
