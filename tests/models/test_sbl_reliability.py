"""Regression tests for SBL / KroSBL bad inputs and edge cases (issue 11 item 9, issue 18):
non-finite or non-positive noise variances, NaN SNR, a single Kronecker factor under the AM
M-step, ill-scaled factors, and ``ConvergenceWarning`` at ``max_iter``."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from bayesparse.datasets.irs_mimo import kronecker_problem
from bayesparse.inference.sbl import sbl
from bayesparse.models.kronecker_sbl import KroneckerSBL
from bayesparse.models.sbl import SBLRegression

BAD_NOISE = [np.inf, -np.inf, 0.0, -1.0, np.nan]


@pytest.fixture(scope="module")
def problem():
    return kronecker_problem((16, 16), (8, 8), (2, 2), snr_db=20.0, random_state=0)


@pytest.mark.parametrize("nv", BAD_NOISE)
def test_kronecker_sbl_rejects_bad_noise_variance(problem, nv):
    with pytest.raises(ValueError, match="noise_variance"):
        KroneckerSBL(noise_variance=nv).fit(problem.factors, problem.y)


@pytest.mark.parametrize("nv", BAD_NOISE)
def test_sbl_regression_rejects_bad_noise_variance(nv):
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 10)), rng.normal(size=20)
    with pytest.raises(ValueError, match="noise_variance"):
        SBLRegression(noise_variance=nv).fit(X, y)
    with pytest.raises(ValueError, match="noise_variance"):
        sbl(X, y, noise_variance=nv)


@pytest.mark.parametrize("snr", [np.nan, np.inf, -np.inf])
def test_kronecker_problem_rejects_non_finite_snr(snr):
    with pytest.raises(ValueError, match="snr_db"):
        kronecker_problem((8, 8), (4, 4), (1, 1), snr_db=snr, random_state=0)


@pytest.mark.parametrize("method", ["am", "svd"])
def test_single_factor_matches_classic_sbl(method):
    """With one factor KroSBL is classic SBL with EM updates: same support and mean as
    :func:`sbl` (no pruning) at a tight tolerance."""
    rng = np.random.default_rng(3)
    A = rng.normal(size=(20, 40))
    x = np.zeros(40)
    x[[3, 17, 31]] = [1.0, -2.0, 0.7]
    y = A @ x + 1e-3 * rng.normal(size=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = KroneckerSBL(method=method, noise_variance=1e-6, max_iter=60, tol=0.0,
                             prune_abs=0.0, prune_rel=0.0).fit([A], y)
    ref = sbl(A, y, method="em", noise_variance=1e-6, max_iter=60, tol=0.0, prune_rel=0.0)
    np.testing.assert_allclose(model.coef_, ref.coef, atol=1e-6)
    assert np.flatnonzero(np.abs(model.coef_) > 0.1).tolist() == [3, 17, 31]


@pytest.mark.parametrize("scale", [1e160, 1e200])
def test_ill_scaled_factor_clear_error(scale):
    rng = np.random.default_rng(0)
    A = rng.normal(size=(6, 12))
    y = rng.normal(size=36)
    with pytest.raises(ValueError, match=r"factors\[0\].*rescale"):
        KroneckerSBL(noise_variance=1e-3).fit([A * scale, A], y)


def test_large_but_representable_factor_still_fits():
    """Scaling one factor by 1e120 and the noise by 1e240 is the same problem: same support."""
    rng = np.random.default_rng(0)
    A, B = rng.normal(size=(10, 30)), rng.normal(size=(10, 30))
    x = np.zeros(30)
    x[[3, 7]] = 1.0
    y = np.kron(A, B) @ np.kron(x, x)
    ref = KroneckerSBL(method="svd", noise_variance=1e-6).fit([A, B], y)
    big = KroneckerSBL(method="svd", noise_variance=1e-6 * 1e240).fit([A * 1e120, B], y * 1e120)
    assert np.all(np.isfinite(big.coef_))
    top = np.flatnonzero(np.abs(ref.coef_) > 0.1)
    np.testing.assert_array_equal(np.flatnonzero(np.abs(big.coef_) > 0.1), top)


def test_overflowing_y_clear_error(problem):
    with pytest.raises(ValueError, match="y"):
        KroneckerSBL(noise_variance=1.0).fit(problem.factors, problem.y * 1e160)


def test_convergence_warning_both_estimators(problem):
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        KroneckerSBL(noise_variance=problem.noise_variance, max_iter=2).fit(
            problem.factors, problem.y)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 50))
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        SBLRegression(max_iter=2).fit(X, X[:, 0] + 0.1 * rng.normal(size=30))


def test_no_warning_when_converged(problem):
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        KroneckerSBL(method="svd", noise_variance=problem.noise_variance).fit(
            problem.factors, problem.y)


@pytest.mark.parametrize("method", ["svd", "am"])
def test_kronecker_sbl_learned_noise_irs_mimo(method):
    """IRS-MIMO at 20 dB: learned σ² within a factor 2 of the truth on every draw and median
    channel NMSE within 2x of the known-noise fit (before: σ² ≈ 100x truth, NMSE ≈ 1)."""
    from bayesparse.datasets import irs_mimo_draw, irs_mimo_setup

    setup = irs_mimo_setup(random_state=0)
    known, learned = [], []
    for d in range(4):
        draw = irs_mimo_draw(setup, snr_db=20.0, random_state=100 + d)
        kw = dict(method=method, prune_rel=(1e-2, 1e-1, 1e-3) if method == "am" else 0.0)
        a = KroneckerSBL(noise_variance=draw.noise_variance, **kw).fit(setup.factors, draw.y)
        b = KroneckerSBL(**kw).fit(setup.factors, draw.y)
        assert 0.5 <= b.noise_variance_ / draw.noise_variance <= 2.0
        known.append(setup.channel_nmse(a.coef_, draw))
        learned.append(setup.channel_nmse(b.coef_, draw))
    assert np.median(learned) <= 2.0 * np.median(known)


def test_sbl_regression_learned_noise():
    """Sparse Gaussian regression (80 x 256, 10 non-zeros, 20 dB): learned σ² within a factor
    2 of the truth (median of 6 draws) and NMSE within 2x of the known-noise fit."""
    ratios, known, learned = [], [], []
    for s in range(6):
        rng = np.random.default_rng(s)
        X = rng.normal(size=(80, 256)) / np.sqrt(80)
        w = np.zeros(256)
        w[rng.choice(256, 10, replace=False)] = rng.normal(size=10)
        clean = X @ w
        s2 = np.mean(clean**2) / 100.0
        y = clean + np.sqrt(s2) * rng.normal(size=80)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            a = SBLRegression(noise_variance=s2, fit_intercept=False).fit(X, y)
            b = SBLRegression(fit_intercept=False).fit(X, y)
        ratios.append(b.noise_variance_ / s2)
        known.append(np.sum((a.coef_ - w) ** 2) / np.sum(w**2))
        learned.append(np.sum((b.coef_ - w) ** 2) / np.sum(w**2))
    assert 0.5 <= np.median(ratios) <= 2.0
    assert np.median(learned) <= 2.0 * np.median(known)


def test_kronecker_sbl_is_a_base_estimator(problem):
    """get_params / set_params / clone and the sklearn checks that do not need ``fit(X, y)``
    (the multi-factor ``fit(factors, y)`` takes a list of matrices, not one ``X``; the
    fit-based checks of ``check_estimator`` do not apply)."""
    from sklearn.base import clone
    from sklearn.utils.estimator_checks import (
        check_get_params_invariance,
        check_no_attributes_set_in_init,
        check_parameters_default_constructible,
        check_set_params,
    )

    est = KroneckerSBL(method="am", prune_rel=1e-2, max_iter=50)
    assert est.get_params()["prune_rel"] == 1e-2
    c = clone(est)
    assert c.get_params() == est.get_params() and c is not est
    for check in (check_parameters_default_constructible, check_get_params_invariance,
                  check_set_params, check_no_attributes_set_in_init):
        check("KroneckerSBL", KroneckerSBL())
    with pytest.raises(ValueError, match="method"):
        KroneckerSBL(method="lbfgs").fit(problem.factors, problem.y)
    with pytest.raises(ValueError, match="max_iter"):
        KroneckerSBL(max_iter=0).fit(problem.factors, problem.y)


def test_default_constructor_sparse_and_accurate():
    """``KroneckerSBL()`` with learned noise on a 32x32 Kronecker-support problem: a sparse
    ``support_`` (the old default kept 1024 of 1024 entries) and NMSE below 1e-2."""
    p = kronecker_problem((32, 32), (16, 16), (3, 3), snr_db=20.0, random_state=1)
    m = KroneckerSBL().fit(p.factors, p.y)
    assert m.support_.nnz <= 30
    assert np.sum(np.abs(m.coef_ - p.x) ** 2) / np.sum(np.abs(p.x) ** 2) < 1e-2


def test_matrix_measurements_match_vector():
    """``Y = A1 X A2^T + N`` as a matrix gives the same fit as ``vec_row(Y)``; a transposed
    ``Y`` is rejected (before: any 2-D ``y`` was refused or silently raveled)."""
    rng = np.random.default_rng(2)
    A1, A2 = rng.normal(size=(12, 20)), rng.normal(size=(10, 20))
    X = np.zeros((20, 20))
    X[np.ix_([2, 9], [4, 15])] = rng.normal(size=(2, 2))
    Y = A1 @ X @ A2.T + 1e-3 * rng.normal(size=(12, 10))
    vec = KroneckerSBL(noise_variance=1e-6).fit([A1, A2], Y.ravel())
    mat = KroneckerSBL(noise_variance=1e-6).fit([A1, A2], Y)
    np.testing.assert_allclose(mat.coef_, vec.coef_, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(mat.coef_.reshape(20, 20), X, atol=1e-2)
    with pytest.raises(ValueError, match="transpose"):
        KroneckerSBL(noise_variance=1e-6).fit([A1, A2], Y.T)
