"""The Bayesian optimization loop: history, reproducibility, hooks, bad input."""

from concurrent.futures import ProcessPoolExecutor
from functools import partial

import pytest
import torch
from botorch.models import SingleTaskGP

from bayesparse.optim.bayesian_optimization import (
    BayesianOptimizer,
    BOError,
    fit_surrogate,
    minimize,
)

BOUNDS = torch.tensor([[-1.0, -1.0], [2.0, 2.0]], dtype=torch.float64)
FAST = dict(num_restarts=2, raw_samples=16, mc_samples=16, acq_options={"maxiter": 15},
            progress=False)


def quad(X):
    return ((X - 0.5) ** 2).sum(-1)


def test_history_and_best_so_far():
    res = minimize(quad, BOUNDS, surrogate="gp", n_init=4, budget=10, q=3, random_state=0,
                   **FAST)
    assert res.X.shape == (10, 2) and res.Y.shape == (10, 1)
    assert len(res.fit_seconds) == 2
    assert ((res.X >= BOUNDS[0]) & (res.X <= BOUNDS[1])).all()
    torch.testing.assert_close(res.Y[:, 0], quad(res.X))
    torch.testing.assert_close(res.best, torch.cummin(res.Y[:, 0], 0).values)
    assert len(res.acq_seconds) == 2  # 3 + 3 after 4 initial points
    assert res.seconds_per_iteration > 0


def test_bo_improves_on_its_sobol_design():
    res = minimize(quad, BOUNDS, surrogate="gp", n_init=5, budget=11, q=2, random_state=1,
                   **FAST)
    # A GP on a quadratic bowl gets far closer to the minimum (0) than the 5 Sobol points.
    assert res.best[-1] < 0.25 * res.best[4]


@pytest.mark.parametrize("surrogate", ["gp", "random", "ensemble"])
def test_random_state_reproducible(surrogate):
    opts = {"ensemble": dict(hidden=(8,), n_members=3, steps=50)}.get(surrogate, {})
    a, b = (minimize(quad, BOUNDS, surrogate=surrogate, n_init=4, budget=7, q=3,
                     random_state=3, surrogate_options=opts, **FAST) for _ in range(2))
    torch.testing.assert_close(a.X, b.X, rtol=0, atol=0)
    c = minimize(quad, BOUNDS, surrogate=surrogate, n_init=4, budget=7, q=3, random_state=4,
                 surrogate_options=opts, **FAST)
    assert not torch.equal(a.X, c.X)


@pytest.mark.parametrize("acquisition", ["qucb", "qlognei"])
def test_other_acquisitions_and_callable_surrogate(acquisition):
    def surrogate(X, Y, random_state=None):
        return fit_surrogate("gp", X, Y, random_state=random_state)

    res = minimize(quad, BOUNDS, surrogate=surrogate, acquisition=acquisition, n_init=4,
                   budget=6, q=2, random_state=0, **FAST)
    assert res.X.shape == (6, 2)


def test_constraint_hook_reports_feasible_best():
    def f(X):  # objective, then a constraint x1 >= 0.8 written as 0.8 - x1 <= 0
        return torch.stack([quad(X), 0.8 - X[:, 0]], -1)

    res = minimize(f, BOUNDS, n_init=5, budget=7, q=2, n_constraints=1, acquisition="qlognei",
                   random_state=0, **FAST)
    feasible = res.Y[:, 1] <= 0
    expected = [res.Y[:i + 1][feasible[:i + 1], 0].min() if feasible[:i + 1].any()
                else float("inf") for i in range(7)]
    torch.testing.assert_close(res.best, torch.tensor(expected, dtype=torch.float64))


def test_multi_objective_hypervolume_is_monotone():
    def f(X):
        return torch.stack([quad(X), ((X + 0.5) ** 2).sum(-1)], -1)

    res = minimize(f, BOUNDS, n_init=4, budget=8, q=2, ref_point=[10.0, 10.0],
                   random_state=0, **FAST)
    assert res.Y.shape == (8, 2)
    assert (res.best.diff() >= 0).all() and res.best[-1] > 0


def test_gp_surrogate_is_single_task_gp():
    X = torch.rand(6, 2, dtype=torch.float64)
    assert isinstance(fit_surrogate("gp", X, quad(X).unsqueeze(-1), random_state=0),
                      SingleTaskGP)


@pytest.mark.parametrize("kw,match", [
    (dict(bounds=torch.tensor([[0.0, 1.0], [0.0, 0.0]])), "bounds"),
    (dict(acquisition="ei"), "acquisition"),
    (dict(surrogate="forest"), "surrogate"),
    (dict(acquisition="qlognehvi"), "ref_point"),
    (dict(n_init=1), "n_init"),
])
def test_bad_arguments(kw, match):
    args = {"bounds": BOUNDS, **kw}
    with pytest.raises(ValueError, match=match):
        BayesianOptimizer(quad, **args)


def test_bad_runtime_input():
    with pytest.raises(ValueError, match="budget"):
        BayesianOptimizer(quad, BOUNDS, n_init=5, progress=False).run(3)
    with pytest.raises(ValueError, match="NaN"):
        minimize(lambda X: X[:, 0] * float("nan"), BOUNDS, n_init=3, budget=4, **FAST)
    with pytest.raises(ValueError, match="ref_point"):
        minimize(lambda X: torch.stack([quad(X), quad(X)], -1), BOUNDS, n_init=3, budget=4,
                 **FAST)
    with pytest.raises(TypeError, match="f"):
        BayesianOptimizer("quad", BOUNDS)
    with pytest.raises(ValueError, match="surrogate"):
        fit_surrogate("forest", torch.rand(3, 2), torch.rand(3, 1))


def test_objective_error_keeps_history_and_resume_matches_uninterrupted_run():
    full = minimize(quad, BOUNDS, n_init=4, budget=10, q=3, random_state=0, **FAST)
    calls = []

    def flaky(X):
        calls.append(X.shape[0])
        if len(calls) == 3:
            raise RuntimeError("simulator crashed")
        return quad(X)

    with pytest.raises(BOError, match="simulator crashed") as info:
        minimize(flaky, BOUNDS, n_init=4, budget=10, q=3, random_state=0, **FAST)
    hist = info.value.history
    assert hist is info.value.result and hist.X.shape == (7, 2)
    torch.testing.assert_close(hist.X, full.X[:7], rtol=0, atol=0)
    assert len(hist.fit_seconds) == 1
    resumed = minimize(quad, BOUNDS, n_init=4, budget=10, q=3, random_state=0, history=hist,
                       **FAST)
    # Equal up to the round trip of the history through the bounds (X -> [0, 1]^d).
    torch.testing.assert_close(resumed.X, full.X, rtol=0, atol=1e-9)
    torch.testing.assert_close(resumed.best, full.best, rtol=0, atol=1e-9)


def test_nan_policy_skip_and_raise():
    def f(X):  # undefined on part of the box
        y = quad(X)
        return torch.where(X[:, 0] > 1.0, float("nan"), y)

    res = minimize(f, BOUNDS, n_init=6, budget=12, q=3, random_state=0, on_nan="skip", **FAST)
    assert res.n_evaluations == 12 and torch.isfinite(res.Y).all()
    assert res.X_failed.shape[0] >= 1 and (res.X_failed[:, 0] > 1.0).all()
    assert (res.X[:, 0] <= 1.0).all()
    torch.testing.assert_close(res.Y[:, 0], quad(res.X))
    with pytest.raises(BOError, match="on_nan") as info:
        minimize(f, BOUNDS, n_init=6, budget=12, q=3, random_state=0, **FAST)
    kept = info.value.result  # the finite points of the same initial design
    assert torch.isfinite(kept.Y).all() and 1 <= kept.X.shape[0] < 6
    torch.testing.assert_close(kept.X, res.X[:kept.X.shape[0]], rtol=0, atol=0)


def test_maximize_mirrors_minimize():
    a = minimize(quad, BOUNDS, n_init=4, budget=7, q=3, random_state=2, **FAST)
    b = minimize(lambda X: -quad(X), BOUNDS, n_init=4, budget=7, q=3, random_state=2,
                 maximize=True, **FAST)
    torch.testing.assert_close(a.X, b.X, rtol=0, atol=0)
    torch.testing.assert_close(b.best, -a.best)
    torch.testing.assert_close(b.best, torch.cummax(b.Y[:, 0], 0).values)


@pytest.mark.parametrize("kw,err,match", [
    (dict(n_init=2.5), ValueError, "n_init"),
    (dict(n_init=0), ValueError, "n_init"),
    (dict(n_init=True), ValueError, "n_init"),
    (dict(budget=6.0), ValueError, "budget"),
    (dict(budget=0), ValueError, "budget"),
    (dict(bounds=torch.tensor([[0.0, -float("inf")], [1.0, 1.0]])), ValueError, "bounds"),
    (dict(bounds=torch.tensor([[1.0, 1.0], [0.0, 0.0]])), ValueError, "bounds"),
    (dict(on_nan="ignore"), ValueError, "on_nan"),
    (dict(executor="pool"), TypeError, "executor"),
    (dict(surrogate=lambda X, Y, random_state: "not a model"), TypeError, "surrogate"),
    (dict(f=lambda X: quad(X)[:-1]), ValueError, "f: expected"),
    (dict(f=lambda X: torch.ones(X.shape[0], 2, 2)), ValueError, "f: expected"),
])
def test_bad_input_names_the_argument(kw, err, match):
    args = dict(f=quad, bounds=BOUNDS, n_init=3, budget=4, random_state=0, **FAST)
    args.update(kw)
    with pytest.raises(err, match=match):
        minimize(args.pop("f"), args.pop("bounds"), **args)


OBJECTIVE = partial(torch.linalg.vector_norm, dim=-1)  # picklable for process pools


def test_process_pool_executor_equals_serial():
    serial = minimize(OBJECTIVE, BOUNDS, n_init=4, budget=8, q=2, random_state=0, **FAST)
    with ProcessPoolExecutor(2) as pool:
        par = minimize(OBJECTIVE, BOUNDS, n_init=4, budget=8, q=2, random_state=0,
                       executor=pool, **FAST)
    torch.testing.assert_close(par.X, serial.X, rtol=0, atol=0)
    torch.testing.assert_close(par.Y, serial.Y, rtol=0, atol=0)


def test_dask_cluster_executor_equals_serial():
    distributed = pytest.importorskip("distributed")
    serial = minimize(OBJECTIVE, BOUNDS, n_init=4, budget=6, q=2, random_state=1, **FAST)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        par = minimize(OBJECTIVE, BOUNDS, n_init=4, budget=6, q=2, random_state=1,
                       executor=client.get_executor(), **FAST)
    torch.testing.assert_close(par.X, serial.X, rtol=0, atol=0)
    torch.testing.assert_close(par.Y, serial.Y, rtol=0, atol=0)
