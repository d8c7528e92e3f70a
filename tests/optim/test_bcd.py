"""Block coordinate descent solvers against closed forms and scikit-learn / skglm."""

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import ElasticNet, Lasso

from bayesparse.optim.bcd import (
    SELECTION_RULES,
    bcd_least_squares,
    enet_duality_gap,
    enet_working_set,
)


def _problem(seed, n=60, p=40, scaled=True):
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, p)) * (rng.uniform(0.1, 5, p) if scaled else 1.0)
    return A, rng.standard_normal(n)


@pytest.mark.parametrize("rule", sorted(SELECTION_RULES))
@pytest.mark.parametrize("update", ["gradient", "matrix"])
def test_least_squares_converges_to_lstsq(rule, update):
    A, b = _problem(0, n=60, p=20, scaled=False)
    res = bcd_least_squares(A, b, block_size=4, selection=rule, update=update, n_iter=3000,
                            random_state=0)
    x_star = np.linalg.lstsq(A, b, rcond=None)[0]
    np.testing.assert_allclose(res.x, x_star, atol=1e-6)
    assert np.all(np.diff(res.objective) <= 1e-10)  # block descent never increases F


def test_greedy_rules_beat_random_and_cyclic_per_iteration():
    """The paper's ordering on a scaled least-squares problem (Sec. 3, Fig. 2)."""
    A, b = _problem(1, n=200, p=500)
    f_star = 0.5 * np.sum((A @ np.linalg.lstsq(A, b, rcond=None)[0] - b) ** 2)
    final = {}
    for update in ("gradient", "matrix"):
        for rule in ("cyclic", "random", "gs", "gsl", "gsq"):
            res = bcd_least_squares(A, b, block_size=5, selection=rule, update=update,
                                    n_iter=300, random_state=0)
            final[update, rule] = res.objective[-1] - f_star
    for update in ("gradient", "matrix"):
        assert final[update, "gsl"] < final[update, "gs"] < min(
            final[update, "random"], final[update, "cyclic"])
    assert final["matrix", "gsq"] < final["matrix", "gsl"]


def test_l1_bcd_matches_sklearn_lasso():
    A, b = _problem(2, n=50, p=30)
    n, alpha = A.shape[0], 0.1
    res = bcd_least_squares(A, b, lam=n * alpha, block_size=3, selection="gsl",
                            n_iter=20000, random_state=0)
    ref = Lasso(alpha=alpha, fit_intercept=False, tol=1e-14, max_iter=100000).fit(A, b)
    np.testing.assert_allclose(res.x, ref.coef_, atol=1e-6)


@pytest.mark.parametrize("sparse", [False, True])
@pytest.mark.parametrize("l1_ratio", [1.0, 0.5])
def test_working_set_matches_sklearn(sparse, l1_ratio):
    A, b = _problem(3, n=80, p=200, scaled=False)
    if sparse:
        A = sp.random(80, 200, density=0.1, random_state=3, format="csr") * 3
        b = A[:, :4] @ np.ones(4) + 0.1 * np.random.default_rng(3).standard_normal(80)
    alpha = 0.05
    res = enet_working_set(A, b, alpha * l1_ratio, alpha * (1 - l1_ratio), tol=1e-14)
    ref = ElasticNet(alpha=alpha, l1_ratio=l1_ratio, fit_intercept=False, tol=1e-14,
                     max_iter=100000).fit(A, b)
    np.testing.assert_allclose(res.coef, ref.coef_, atol=1e-6)
    assert res.dual_gap <= 1e-14


def test_working_set_matches_skglm():
    skglm = pytest.importorskip("skglm")
    A, b = _problem(4, n=100, p=300, scaled=False)
    alpha = 0.02
    res = enet_working_set(A, b, alpha, tol=1e-14)
    ref = skglm.Lasso(alpha=alpha, fit_intercept=False, tol=1e-14, max_iter=1000).fit(A, b)
    np.testing.assert_allclose(res.coef, ref.coef_, atol=1e-6)


def _primal(A, b, w, a1, a2):
    r = b - A @ w
    return r @ r / (2 * len(b)) + a1 * np.abs(w).sum() + a2 / 2 * w @ w


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), ratio=st.floats(0.01, 0.9),
       l1_ratio=st.sampled_from([1.0, 0.7, 0.3]), sparse=st.booleans())
def test_gap_is_true_gap(seed, ratio, l1_ratio, sparse):
    """The reported gap bounds P(w) - P(w*) and is recomputed from an explicit dual point."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((30, 50))
    if sparse:
        A = sp.csr_matrix(A * (rng.random((30, 50)) < 0.3))
    b = rng.standard_normal(30)
    n = 30
    alpha = ratio * np.max(np.abs(A.T @ b)) / n / l1_ratio
    a1, a2 = alpha * l1_ratio, alpha * (1 - l1_ratio)
    w = enet_working_set(A, b, a1, a2, tol=1e-3 * (b @ b) / n, max_iter=3).coef
    gap = enet_duality_gap(A, b, w, a1, a2)
    Ad = A.toarray() if sparse else A
    r = b - Ad @ w
    primal = _primal(Ad, b, w, a1, a2)
    if a2 == 0:
        # Lasso dual D(theta) = b.theta - n ||theta||^2 / 2 at theta = s r / n, feasible
        s = min(1.0, a1 * n / max(np.abs(Ad.T @ r).max(), 1e-300))
        theta = s * r / n
        np.testing.assert_allclose(primal - (b @ theta - n / 2 * theta @ theta), gap,
                                   rtol=1e-8, atol=1e-12)
    else:
        # elastic-net dual D(theta) = b.theta - n ||theta||^2 / 2 - (conjugate penalty)
        theta = r / n
        dual = b @ theta - n / 2 * theta @ theta - 0.5 / a2 * np.sum(
            np.maximum(np.abs(Ad.T @ theta) - a1, 0) ** 2)
        np.testing.assert_allclose(primal - dual, gap, rtol=1e-8, atol=1e-12)
    w_star = enet_working_set(A, b, a1, a2, tol=1e-13).coef
    assert _primal(Ad, b, w, a1, a2) - _primal(Ad, b, w_star, a1, a2) <= gap + 1e-10


def test_bad_arguments():
    A, b = _problem(0, n=10, p=4)
    with pytest.raises(ValueError, match="selection"):
        bcd_least_squares(A, b, selection="nope")
    with pytest.raises(ValueError, match="update"):
        bcd_least_squares(A, b, lam=1.0, update="nope")
    with pytest.raises(ValueError, match="partition"):
        bcd_least_squares(A, b, partition="forest", update="message_passing")
    with pytest.raises(ValueError, match="variable blocks"):
        bcd_least_squares(A, b, partition="variable", selection="cyclic")
    with pytest.raises(ValueError, match="block_size"):
        bcd_least_squares(A, b, block_size=0)
    with pytest.raises(ValueError, match="lam"):
        bcd_least_squares(A, b, lam=-1.0)


def test_logistic_gap_is_true_gap_and_vanishes():
    """The logistic duality gap bounds P(w) - P(w*) and is ~0 at the working-set solution."""
    from scipy.special import log_expit

    from bayesparse.optim.bcd import logistic_duality_gap, logistic_working_set

    rng = np.random.default_rng(5)
    X = rng.standard_normal((60, 40))
    y = np.sign(X[:, :3] @ np.ones(3) + 0.5 * rng.standard_normal(60))
    a1 = 0.05

    def primal(w):
        return -np.mean(log_expit(y * (X @ w))) + a1 * np.abs(w).sum()

    w_star = logistic_working_set(X, y, a1, tol=1e-12).coef
    assert logistic_duality_gap(X, y, w_star, a1) <= 1e-10
    for scale in (0.0, 0.5, 2.0):
        w = scale * w_star + 0.01 * rng.standard_normal(40)
        assert primal(w) - primal(w_star) <= logistic_duality_gap(X, y, w, a1) + 1e-12


def test_logistic_gap_tol_stops_on_the_true_gap():
    """On a separable p > n problem at small a1 a KKT tolerance leaves a large gap (gap ~
    kkt ||w||_1); gap_tol stops on the recomputed duality gap itself."""
    import scipy.sparse as sp

    from bayesparse.optim.bcd import logistic_duality_gap, logistic_working_set

    rng = np.random.default_rng(7)
    X = sp.random(200, 1000, density=0.02, format="csr", random_state=7)
    y = np.sign(X @ rng.standard_normal(1000) + 1e-9)
    a1 = 1e-3 * np.max(np.abs(X.T @ y)) / (2 * 200)
    res = logistic_working_set(X, y, a1, gap_tol=1e-8, max_iter=200)
    gap = logistic_duality_gap(X, y, res.coef, a1)
    assert gap <= 1e-8
    assert res.dual_gap == pytest.approx(gap, rel=1e-6, abs=1e-14)
    loose = logistic_working_set(X, y, a1, tol=1e-8, max_iter=200)
    assert logistic_duality_gap(X, y, loose.coef, a1) == pytest.approx(loose.dual_gap, abs=1e-14)
    assert loose.kkt <= 1e-8 < loose.dual_gap  # the KKT rule stops 100x above this gap
    with pytest.raises(ValueError, match="gap_tol"):
        logistic_working_set(X, y, a1, fit_intercept=True, gap_tol=1e-8)
