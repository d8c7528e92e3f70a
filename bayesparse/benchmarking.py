"""Benchmark harness: timing, environment capture and the JSON/PNG result files.

Every ``benchmarks/NAME.py`` compares against its peer libraries in the same run and calls
:func:`write_results`, which writes ``benchmarks/results/NAME.json`` (environment, parameters,
per-case rows, ratios); the script saves ``NAME.png`` next to it via :func:`result_path`.

Examples
--------
>>> from bayesparse.benchmarking import best_time
>>> t, out = best_time(lambda: sum(range(1000)), repeat=3)
>>> out
499500
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

T = TypeVar("T")

_PEERS = (
    "bayesparse", "torch", "numpy", "scipy", "scikit-learn", "pot", "regot", "skglm", "celer",
    "fastrp", "botorch", "gpytorch", "pyro-ppl",
)


def benchmarks_dir() -> Path:
    """The repository's ``benchmarks/`` folder (benchmarks run from a source checkout)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks"
    if not path.is_dir():
        raise FileNotFoundError(
            f"benchmarks: {path} not found; run benchmarks from a source checkout"
        )
    return path


def result_path(name: str, suffix: str) -> Path:
    """``benchmarks/results/NAME.suffix`` (the folder is created)."""
    out = benchmarks_dir() / "results"
    out.mkdir(exist_ok=True)
    return out / f"{name}.{suffix}"


def environment() -> dict[str, Any]:
    """Machine, thread counts and versions of this library and its peers."""
    versions = {}
    for pkg in _PEERS:
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "versions": versions,
    }


def best_time(fn: Callable[[], T], repeat: int = 3) -> tuple[float, T]:
    """Best wall time of ``repeat`` calls (seconds) and the last call's result."""
    if repeat < 1:
        raise ValueError(f"repeat: expected >= 1, got {repeat}")
    best, out = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out  # type: ignore[return-value]


def _jsonable(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.generic,)):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().tolist()
    if isinstance(x, float) and not np.isfinite(x):
        return None
    return x


def write_results(
    name: str, params: dict[str, Any], cases: list[dict[str, Any]], **extra: Any
) -> Path:
    """Write ``benchmarks/results/NAME.json`` and return its path."""
    payload = {"benchmark": name, "environment": environment(), "params": params,
               "cases": cases, **extra}
    path = result_path(name, "json")
    path.write_text(json.dumps(_jsonable(payload), indent=2) + "\n")
    return path


def markdown_table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    """A Markdown table of ``rows`` (for docs pages), numbers to 3 significant digits."""
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return f"{v:.3g}"
        return str(v)

    head = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    return head + "".join(
        "| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |\n" for r in rows
    )
