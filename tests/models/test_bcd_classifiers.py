"""BCD classifiers against scikit-learn and the closed-form label propagation."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.datasets import make_moons
from sklearn.linear_model import LogisticRegression
from sklearn.utils.estimator_checks import check_estimator

from bayesparse.models.bcd_classifiers import BCDLabelPropagation, BCDLogisticRegression
from bayesparse.sparse import SparseTensor


def _binary(seed=0, n=80, p=30, classes=2):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    s = X[:, :classes] @ rng.standard_normal((classes, classes)) + 0.5 * rng.standard_normal(
        (n, classes))
    y = np.argmax(s, axis=1) if classes > 2 else (s[:, 0] + 0.3 > 0).astype(int)
    return X, y


@pytest.mark.parametrize("estimator", [
    BCDLogisticRegression(max_iter=50, tol=1e-4),
    BCDLogisticRegression(penalty="l1", max_iter=50, tol=1e-4),
    BCDLogisticRegression(selection="gsl", update="matrix", max_iter=20, tol=1e-4),
    BCDLabelPropagation()])
def test_check_estimator(estimator):
    # -1 marks unlabelled samples in semi-supervised y (sklearn's own LabelPropagation is
    # exempted from this check by name); with every sample labelled nothing is iterated
    expected = ({"check_classifiers_classes": "y = -1 means unlabelled",
                 "check_non_transformer_estimators_n_iter": "all labelled: no iteration"}
                if isinstance(estimator, BCDLabelPropagation) else None)
    check_estimator(estimator, expected_failed_checks=expected)


@pytest.mark.parametrize("fmt", ["dense", "csr", "tensor"])
@pytest.mark.parametrize("penalty", ["l1", "l2"])
def test_binary_matches_sklearn(fmt, penalty):
    X, y = _binary()
    X[np.abs(X) < 0.5] = 0.0
    Xf = {"dense": X, "csr": sp.csr_matrix(X),
          "tensor": SparseTensor.from_scipy(sp.csr_matrix(X))}[fmt]
    ours = BCDLogisticRegression(penalty=penalty, C=0.3, tol=1e-12).fit(Xf, y)
    ref = LogisticRegression(C=0.3, l1_ratio=1.0 if penalty == "l1" else 0.0,
                             solver="saga" if penalty == "l1" else "lbfgs", tol=1e-14,
                             max_iter=1_000_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6)
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-6)
    assert ours.kkt_ <= 1e-12
    np.testing.assert_allclose(ours.predict_proba(Xf), ref.predict_proba(X), atol=1e-6)


@pytest.mark.parametrize("selection", ["working_set", "gsq"])
def test_multinomial_l2_matches_sklearn(selection):
    X, y = _binary(1, n=60, p=10, classes=3)
    ours = BCDLogisticRegression(C=0.5, tol=1e-10, selection=selection, update="matrix",
                                 block_size=3).fit(X, y)
    ref = LogisticRegression(C=0.5, tol=1e-14, max_iter=100_000).fit(X, y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-6)
    # intercepts of the softmax are defined up to a common shift
    np.testing.assert_allclose(ours.intercept_ - ours.intercept_.mean(),
                               ref.intercept_ - ref.intercept_.mean(), atol=1e-6)


def test_binary_block_rules_agree_with_working_set():
    X, y = _binary(2, n=60, p=15)
    ws = BCDLogisticRegression(penalty="l1", C=0.5, tol=1e-10).fit(X, y)
    for sel, upd in [("gsl", "newton"), ("cyclic", "matrix")]:
        blk = BCDLogisticRegression(penalty="l1", C=0.5, tol=1e-10, selection=sel, update=upd,
                                    partition="contiguous", block_size=5).fit(X, y)
        np.testing.assert_allclose(blk.coef_, ws.coef_, atol=1e-7)


def _moons(n=300, n_lab=20, seed=0):
    X, y = make_moons(n, noise=0.05, random_state=seed)
    rng = np.random.default_rng(seed)
    lab = rng.choice(n, n_lab, replace=False)
    y_train = np.full(n, -1)
    y_train[lab] = y[lab]
    return X, y, y_train


@pytest.mark.parametrize("partition,update", [("forest", "message_passing"),
                                              ("variable", "matrix")])
def test_label_propagation_matches_linear_solve(partition, update):
    X, y, y_train = _moons(150, 15)
    model = BCDLabelPropagation(n_neighbors=5, tol=1e-11, partition=partition, update=update,
                                selection="gsl", block_size=None if partition == "forest"
                                else 50, max_iter=20_000).fit(X, y_train)
    from sklearn.neighbors import kneighbors_graph
    W = kneighbors_graph(X, 5, include_self=False)
    W = sp.csr_matrix(W.maximum(W.T))
    L = (sp.diags(np.asarray(W.sum(1)).ravel()) - W).tocsr()
    u, lab = np.flatnonzero(y_train == -1), np.flatnonzero(y_train != -1)
    Yl = np.eye(2)[y_train[lab]]
    F = sp.linalg.spsolve(sp.csc_matrix(L[u][:, u]), W[u][:, lab] @ Yl)
    F = F / F.sum(1, keepdims=True)
    np.testing.assert_allclose(model.label_distributions_[u], F, atol=1e-8)
    assert np.mean(model.transduction_ == y) > 0.95
    assert np.mean(model.predict(X + 0.01) == y) > 0.9


def test_label_propagation_given_graph_and_errors():
    X, y, y_train = _moons(100, 10)
    from sklearn.neighbors import kneighbors_graph
    W = kneighbors_graph(X, 5, include_self=False)
    W = W.maximum(W.T)
    m1 = BCDLabelPropagation(graph=SparseTensor.from_scipy(sp.csr_matrix(W))).fit(X, y_train)
    m2 = BCDLabelPropagation(n_neighbors=5).fit(X, y_train)
    np.testing.assert_allclose(m1.label_distributions_, m2.label_distributions_, atol=1e-6)
    with pytest.raises(ValueError, match="square"):
        BCDLabelPropagation(graph=sp.csr_matrix(np.ones((100, 99)))).fit(X, y_train)
    with pytest.raises(ValueError, match="no edges"):
        BCDLabelPropagation(graph=sp.csr_matrix((100, 100))).fit(X, y_train)
    cut = sp.lil_matrix(W)
    cut[:50, 50:] = 0
    cut[50:, :50] = 0
    y_half = y_train.copy()
    y_half[50:] = -1
    y_half[:5] = [0, 1, 0, 1, 0]
    with pytest.raises(ValueError, match="component"):
        BCDLabelPropagation(graph=sp.csr_matrix(cut)).fit(X, y_half)
    with pytest.raises(ValueError, match="no labelled"):
        BCDLabelPropagation().fit(X, np.full(100, -1))
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        BCDLogisticRegression().fit(Xn, y)
    with pytest.raises(ValueError, match="C"):
        BCDLogisticRegression(C=-1.0).fit(X, y)


@pytest.mark.parametrize("penalty", ["l1", "l2"])
def test_multinomial_separable_converges_or_warns(penalty):
    """Separable blobs at weak regularization: the class-block Newton solver reaches a KKT
    violation of 1e-8 (recomputed here from the softmax gradient); one sweep warns."""
    import warnings

    from scipy.special import softmax as softmax_fn
    from sklearn.exceptions import ConvergenceWarning

    rng = np.random.default_rng(3)
    y = np.repeat(np.arange(3), 40)
    X = 6.0 * np.eye(3, 6)[y] + rng.standard_normal((120, 6))
    C = 100.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        m = BCDLogisticRegression(penalty=penalty, C=C, tol=1e-8).fit(X, y)
    assert m.n_iter_ < 100 and m.score(X, y) == 1.0
    lam = 1.0 / (len(y) * C)
    G = (softmax_fn(X @ m.coef_.T + m.intercept_, axis=1) - np.eye(3)[y]) / len(y)
    grad = X.T @ G
    W = m.coef_.T
    if penalty == "l2":
        viol = np.abs(grad + lam * W)
    else:
        viol = np.where(W != 0, np.abs(grad + lam * np.sign(W)), np.maximum(np.abs(grad) - lam, 0))
    assert max(viol.max(), np.abs(G.sum(axis=0)).max()) <= 1e-8
    with pytest.warns(ConvergenceWarning, match="max_iter"):
        BCDLogisticRegression(penalty=penalty, C=C, tol=1e-8, max_iter=1).fit(X, y)
