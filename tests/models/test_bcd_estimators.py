"""BCD estimators against scikit-learn, plus check_estimator and input validation."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import ElasticNet, Lasso, lasso_path
from sklearn.utils.estimator_checks import check_estimator

from bayesparse.models import BCDElasticNet, BCDLasso, bcd_lasso_path
from bayesparse.sparse import SparseTensor


def _data(seed=0, n=80, p=120):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    y = X[:, :5] @ rng.standard_normal(5) + 0.5 * rng.standard_normal(n) + 3.0
    return X, y


@pytest.mark.parametrize("estimator", [BCDLasso(), BCDElasticNet(),
                                       BCDElasticNet(selection="gsl", block_size=3)])
def test_check_estimator(estimator):
    check_estimator(estimator)


@pytest.mark.parametrize("fmt", ["dense", "csr", "csc", "tensor"])
def test_lasso_matches_sklearn_with_intercept(fmt):
    X, y = _data()
    X[np.abs(X) < 0.8] = 0.0
    Xf = {"dense": X, "csr": sp.csr_matrix(X), "csc": sp.csc_matrix(X),
          "tensor": SparseTensor.from_scipy(sp.csr_matrix(X))}[fmt]
    ours = BCDLasso(alpha=0.05, tol=1e-12).fit(Xf, y)
    ref = Lasso(alpha=0.05, tol=1e-14, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6)
    assert abs(ours.intercept_ - ref.intercept_) < 1e-6
    np.testing.assert_allclose(ours.predict(Xf), ref.predict(X), atol=1e-5)


@pytest.mark.parametrize("selection", ["working_set", "gsl", "gs", "cyclic"])
def test_elastic_net_matches_sklearn(selection):
    X, y = _data(1, n=60, p=30)
    bs = 1 if selection == "working_set" else 3
    ours = BCDElasticNet(alpha=0.1, l1_ratio=0.6, tol=1e-12, selection=selection,
                         block_size=bs, random_state=0).fit(X, y)
    ref = ElasticNet(alpha=0.1, l1_ratio=0.6, tol=1e-14, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6)
    assert ours.dual_gap_ <= 1e-12 * np.var(y) / 2 + 1e-15


def test_ridge_matrix_update_is_exact():
    X, y = _data(2, n=50, p=20)
    ours = BCDElasticNet(alpha=0.3, l1_ratio=0.0, selection="gsq", update="matrix",
                         block_size=5, tol=1e-12).fit(X, y)
    Xc, yc = X - X.mean(0), y - y.mean()
    w = np.linalg.solve(Xc.T @ Xc / 50 + 0.3 * np.eye(20), Xc.T @ yc / 50)
    np.testing.assert_allclose(ours.coef_, w, atol=1e-6)


def test_lasso_path_matches_sklearn():
    X, y = _data(3)
    alphas, coefs, gaps = bcd_lasso_path(X, y, n_alphas=10, tol=1e-12)
    _, ref, _ = lasso_path(X, y, alphas=alphas, tol=1e-14, max_iter=100_000)
    np.testing.assert_allclose(coefs, ref, atol=1e-6)
    assert np.all(gaps <= 1e-12 * (y @ y) / (2 * len(y)))


def test_bad_input():
    X, y = _data()
    with pytest.raises(ValueError, match="alpha"):
        BCDLasso(alpha=-1.0).fit(X, y)
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        BCDLasso().fit(Xn, y)
    with pytest.raises(ValueError, match="block_size"):
        BCDLasso(block_size=5).fit(X, y)
    with pytest.raises(ValueError, match="l1_ratio=0"):
        BCDElasticNet(update="matrix", selection="gsq").fit(X, y)
    with pytest.raises(ValueError, match="alphas"):
        bcd_lasso_path(X, y, alphas=[-1.0])
