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


def test_bench_accepts_only_listed_names():
    # A path reaching outside benchmarks/ must not run (it used to execute any file).
    with pytest.raises(SystemExit, match="no benchmark '../bayesparse/__init__'"):
        main(["bench", "../bayesparse/__init__"])


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    from bayesparse import __version__

    assert capsys.readouterr().out.strip() == f"bayesparse {__version__}"


def test_tour_unknown_step_is_one_line_without_traceback(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["tour", "--only", "nosuchstep"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown steps ['nosuchstep']" in err and "Traceback" not in err


def test_bench_from_a_wheel_says_to_use_a_checkout(monkeypatch):
    import bayesparse.cli as cli

    def missing():
        raise FileNotFoundError("no benchmarks")

    monkeypatch.setattr(cli, "benchmarks_dir", missing)
    with pytest.raises(SystemExit, match="source checkout"):
        main(["bench", "sbl"])


def test_bench_usage_names_only_required_arguments(capsys):
    with pytest.raises(SystemExit):
        main(["bench", "--help"])
    assert "usage: bayesparse bench NAME [ARGS ...]" in capsys.readouterr().out
