"""SBLRegression: sklearn conformance, ARDRegression agreement, recovery, EM monotonicity."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import ARDRegression
from sklearn.utils.estimator_checks import check_estimator

from bayesparse.inference.sbl import sbl
from bayesparse.models.sbl import SBLRegression


def test_check_estimator():
    # complex input is accepted on purpose (the showcase is complex), so sklearn's
    # "complex data must raise" check is the one expected failure
    check_estimator(SBLRegression(), expected_failed_checks={
        "check_complex_data": "complex data is supported by design"})


def test_agrees_with_ard_regression():
    # MacKay updates + learned noise = ARDRegression with vanishing Gamma hyper-priors;
    # pruning at 1e-4 * max(γ) matches ARD's threshold_lambda = 1e4 here (max γ ≈ 4).
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 20))
    w = np.zeros(20)
    w[[1, 5, 9]] = [1.5, -2.0, 0.7]
    y = X @ w + 0.1 * rng.normal(size=100) + 3.0
    ard = ARDRegression(tol=1e-10, max_iter=1000).fit(X, y)
    ours = SBLRegression(method="mackay", tol=1e-10, max_iter=1000,
                         noise_warmup=0).fit(X, y)
    p_ard, s_ard = ard.predict(X, return_std=True)
    p_our, s_our = ours.predict(X, return_std=True)
    assert np.max(np.abs(p_ard - p_our)) <= 1e-6 * np.max(np.abs(p_ard))
    assert np.max(np.abs(s_ard - s_our)) <= 2e-2 * np.max(s_ard)
    assert ours.noise_variance_ == pytest.approx(1.0 / ard.alpha_, rel=1e-4)
    np.testing.assert_array_equal(ours.active_, np.flatnonzero(ard.lambda_ < 1e4))


@pytest.mark.parametrize("method", ["em", "mackay"])
@pytest.mark.parametrize("dtype", [float, complex])
def test_noiseless_exact_support(method, dtype):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(40, 100)).astype(dtype)
    if dtype is complex:
        X += 1j * rng.normal(size=X.shape)
    w = np.zeros(100, dtype=dtype)
    support = [4, 21, 57, 80, 93]
    w[support] = rng.normal(size=5) + (1j * rng.normal(size=5) if dtype is complex else 0)
    model = SBLRegression(method=method, noise_variance=1e-8, fit_intercept=False,
                          max_iter=1000).fit(X, X @ w)
    np.testing.assert_array_equal(np.flatnonzero(np.abs(model.coef_) > 1e-3), support)
    np.testing.assert_allclose(model.coef_, w, atol=1e-3)
    assert model.coef_.dtype == np.dtype(dtype)


def test_posterior_matches_closed_form_both_branches():
    # the Woodbury (K > M) and the K x K branch give Σ = (Φ^HΦ/σ² + Γ^{-1})^{-1}, μ = ΣΦ^Hy/σ²
    rng = np.random.default_rng(2)
    for M, N in ((10, 30), (30, 10)):
        Phi = rng.normal(size=(M, N)) + 1j * rng.normal(size=(M, N))
        y = rng.normal(size=M) + 1j * rng.normal(size=M)
        res = sbl(Phi, y, noise_variance=0.3, max_iter=3, prune_rel=0.0)
        g = res.gamma
        S = np.linalg.inv(Phi.conj().T @ Phi / 0.3 + np.diag(1.0 / g))
        np.testing.assert_allclose(res.coef, S @ Phi.conj().T @ y / 0.3, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(res.sigma, S, rtol=1e-7, atol=1e-10)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**16), M=st.integers(5, 25), N=st.integers(5, 40),
       complex_data=st.booleans(), learn=st.booleans())
def test_em_cost_decreases(seed, M, N, complex_data, learn):
    rng = np.random.default_rng(seed)
    Phi = rng.normal(size=(M, N)) + (1j * rng.normal(size=(M, N)) if complex_data else 0)
    y = Phi[:, :2] @ np.ones(2) + 0.3 * rng.normal(size=M)
    res = sbl(Phi, y, method="em", noise_variance=None if learn else 0.1, max_iter=40,
              prune_rel=0.0, tol=0.0)
    cost = np.array(res.cost)
    assert np.all(np.diff(cost) <= 1e-8 * np.abs(cost[:-1]) + 1e-9)


def test_complex_predict_std():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(30, 50)) + 1j * rng.normal(size=(30, 50))
    w = np.zeros(50, complex)
    w[[2, 7]] = [1 + 1j, -2.0]
    y = X @ w + 0.05 * (rng.normal(size=30) + 1j * rng.normal(size=30))
    model = SBLRegression(fit_intercept=False).fit(X, y)
    mean, std = model.predict(X, return_std=True)
    assert np.linalg.norm(mean - X @ w) < 0.1 * np.linalg.norm(X @ w)
    assert np.all(std >= np.sqrt(model.noise_variance_) - 1e-12)


def test_bad_inputs():
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(10, 5)), rng.normal(size=10)
    y_nan = y.copy()
    y_nan[3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        SBLRegression().fit(X, y_nan)
    with pytest.raises(ValueError, match="noise_variance"):
        SBLRegression(noise_variance=-1.0).fit(X, y)
    with pytest.raises(ValueError, match="method"):
        SBLRegression(method="newton").fit(X, y)
    with pytest.raises(ValueError, match="max_iter"):
        SBLRegression(max_iter=0).fit(X, y)
    with pytest.raises(ValueError):
        SBLRegression().fit(X, y[:5])
