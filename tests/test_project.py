"""Project-wide checks: every tour step and every benchmark's quick mode run, every code block
of README.md and docs/ runs, and the layering rules of docs/architecture.md hold."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from bayesparse.tour import run_tour, steps

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "bayesparse"


@pytest.mark.parametrize("name", [s.NAME for s in steps()])
def test_tour_step_runs(name, tmp_path):
    rows = run_tour(tmp_path, only=[name])
    assert rows, f"tour step {name} returned no summary row"
    assert any(p.suffix == ".png" and p.stat().st_size > 1000 for p in tmp_path.iterdir())


BENCHMARKS = sorted(p.stem for p in (ROOT / "benchmarks").glob("[!_]*.py"))


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmark_quick_mode_runs(name, tmp_path):
    env = {**os.environ, "BAYESPARSE_RESULTS_DIR": str(tmp_path), "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / f"{name}.py"), "--quick"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert list(tmp_path.glob("*.json")), "the quick run wrote no JSON"


def _code_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


DOC_BLOCKS = [
    pytest.param(path, i, block, id=f"{path.relative_to(ROOT)}#{i}")
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for i, block in enumerate(_code_blocks(path))
]


@pytest.mark.parametrize(("path", "index", "block"), DOC_BLOCKS)
def test_doc_code_block_runs(path, index, block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    import matplotlib

    matplotlib.use("Agg")
    exec(compile(block, f"{path.name}[block {index}]", "exec"), {"__name__": "__doc_block__"})


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return {n for n in names if n.startswith("bayesparse")}


def _package_imports(sub: str) -> dict[str, set[str]]:
    return {str(p.relative_to(ROOT)): _imports(p) for p in (PACKAGE / sub).rglob("*.py")}


def test_sparse_imports_nothing_else_of_ours():
    allowed = ("bayesparse.sparse", "bayesparse.rng")
    bad = {f: sorted(i for i in imps if not i.startswith(allowed))
           for f, imps in _package_imports("sparse").items()}
    assert not {f: b for f, b in bad.items() if b}


def test_inference_does_not_import_models():
    bad = {f: sorted(i for i in imps if i.startswith("bayesparse.models"))
           for f, imps in _package_imports("inference").items()}
    assert not {f: b for f, b in bad.items() if b}


def test_optim_solvers_do_not_import_models():
    """Solvers sit below the estimators that wrap them; only the BO loop builds models."""
    bad = {f: sorted(i for i in imps if i.startswith("bayesparse.models"))
           for f, imps in _package_imports("optim").items()
           if not f.endswith("bayesian_optimization.py")}
    assert not {f: b for f, b in bad.items() if b}


@pytest.mark.parametrize("sub", ["sparse", "inference", "optim", "models", "theory", "datasets"])
def test_library_does_not_import_the_front_ends(sub):
    """The tour, the command line and the benchmark helpers are leaves of the import graph."""
    front = ("bayesparse.tour", "bayesparse.cli", "bayesparse.benchmarking")
    bad = {f: sorted(i for i in imps if i.startswith(front))
           for f, imps in _package_imports(sub).items()}
    assert not {f: b for f, b in bad.items() if b}


def test_models_do_not_import_datasets():
    bad = {f: sorted(i for i in imps if i.startswith("bayesparse.datasets"))
           for f, imps in _package_imports("models").items()}
    assert not {f: b for f, b in bad.items() if b}
