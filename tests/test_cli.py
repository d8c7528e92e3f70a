"""The tour and the benchmark harness."""

import json

import pytest

from bayesparse.benchmarking import best_time, markdown_table, write_results
from bayesparse.cli import main
from bayesparse.tour import run_tour, steps


def test_tour_sparse_step_writes_plot_and_row(tmp_path, capsys):
    rows = run_tour(tmp_path, only=["sparse"])
    assert len(rows) == 1 and rows[0].component == "sparse"
    assert (tmp_path / "sparse_patterns.png").stat().st_size > 1000
    assert "max err" in capsys.readouterr().out


def test_tour_rejects_unknown_step(tmp_path):
    with pytest.raises(ValueError, match="only: unknown steps"):
        run_tour(tmp_path, only=["nope"])


def test_every_tour_step_has_the_contract():
    for s in steps():
        assert isinstance(s.NAME, str) and isinstance(s.ORDER, int) and callable(s.run)


def test_bench_unknown_name_lists_available():
    with pytest.raises(SystemExit, match="available"):
        main(["bench", "no_such_benchmark"])


def test_write_results_json(monkeypatch, tmp_path):
    import bayesparse.benchmarking as b

    monkeypatch.setattr(b, "benchmarks_dir", lambda: tmp_path)
    path = write_results("demo", {"n": 3}, [{"case": "a", "ratio": 2.0, "t": float("nan")}])
    data = json.loads(path.read_text())
    assert data["cases"][0]["ratio"] == 2.0 and data["cases"][0]["t"] is None
    assert "torch" in data["environment"]["versions"]


def test_helpers():
    t, out = best_time(lambda: 7, repeat=2)
    assert out == 7 and t >= 0
    with pytest.raises(ValueError, match="repeat"):
        best_time(lambda: 1, repeat=0)
    assert markdown_table([{"a": 1.23456, "b": "x"}], ["a", "b"]).splitlines()[2] == "| 1.23 | x |"
