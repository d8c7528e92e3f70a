"""Datafit/penalty problems under the generic BCD solver: against sklearn and closed forms."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.linear_model import Lasso, LogisticRegression

from bayesparse.optim.bcd import (
    L1,
    L2,
    GraphQuadratic,
    LeastSquares,
    Logistic,
    Softmax,
    bcd_solve,
)
from bayesparse.optim.bcd.message_passing import forest_solve, greedy_forest
from bayesparse.sparse import SparseTensor


def _design(seed, n=60, p=20):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, p)) * rng.uniform(0.1, 5, p), rng


def lattice(side, weight=1.0):
    """Adjacency of a side x side 4-neighbour lattice."""
    m = side * side
    i = np.arange(m)
    right = i[(i % side) != side - 1]
    down = i[i < m - side]
    rows = np.concatenate([right, down])
    cols = np.concatenate([right + 1, down + side])
    W = sp.coo_matrix((np.full(rows.size, weight), (rows, cols)), shape=(m, m))
    return sp.csr_matrix(W + W.T)


@pytest.mark.parametrize("partition,selection", [("variable", "gsq"), ("contiguous", "gsl"),
                                                 ("sorted", "cyclic")])
@pytest.mark.parametrize("update", ["gradient", "matrix"])
def test_l1_least_squares_matches_lasso(partition, selection, update):
    A, _ = _design(0)
    b = np.random.default_rng(1).standard_normal(60)
    res = bcd_solve(LeastSquares(A, b), L1(0.5), partition=partition, selection=selection,
                    update=update, block_size=4, n_iter=20_000, tol=1e-11)
    ref = Lasso(alpha=0.5 / 60, fit_intercept=False, tol=1e-14, max_iter=100_000).fit(A, b)
    np.testing.assert_allclose(res.x, ref.coef_, atol=1e-7)
    assert res.kkt <= 1e-11
    assert np.all(np.diff(res.objective) <= 1e-9)


def test_nonnegative_l1():
    A, rng = _design(2)
    b = A @ np.abs(rng.standard_normal(20)) + rng.standard_normal(60)
    res = bcd_solve(LeastSquares(A, b), L1(1.0, positive=True), partition="variable",
                    selection="gsl", update="matrix", block_size=5, n_iter=2000, tol=1e-10)
    ref = Lasso(alpha=1.0 / 60, positive=True, fit_intercept=False, tol=1e-14,
                max_iter=100_000).fit(A, b)
    assert res.x.min() >= 0
    np.testing.assert_allclose(res.x, ref.coef_, atol=1e-7)


@pytest.mark.parametrize("update,sparse", [("matrix", False), ("newton", True)])
def test_logistic_l2_matches_sklearn(update, sparse):
    A, rng = _design(3)
    y = np.sign(A @ rng.standard_normal(20) + rng.standard_normal(60))
    As = sp.csr_matrix(A) if sparse else A
    res = bcd_solve(Logistic(As, y), L2(1.0), partition="variable", selection="gsq",
                    update=update, block_size=5, n_iter=3000, tol=1e-9)
    ref = LogisticRegression(C=1.0, fit_intercept=False, tol=1e-14, max_iter=100_000).fit(A, y)
    np.testing.assert_allclose(res.x, ref.coef_.ravel(), atol=1e-6)


def test_logistic_l1_prox_newton_matches_liblinear():
    A, rng = _design(4)
    y = np.sign(A @ rng.standard_normal(20) + rng.standard_normal(60))
    res = bcd_solve(Logistic(SparseTensor.from_dense(A), y), L1(2.0), partition="variable",
                    selection="gsl", update="newton", block_size=5, n_iter=2000, tol=1e-10)
    ref = LogisticRegression(C=0.5, l1_ratio=1.0, solver="liblinear", fit_intercept=False,
                             tol=1e-12, max_iter=100_000).fit(A, y)
    np.testing.assert_allclose(res.x, ref.coef_.ravel(), atol=1e-6)
    assert np.sum(res.x == 0) > 0


def test_softmax_l2_matches_sklearn():
    A, rng = _design(5)
    yc = rng.integers(0, 3, 60)
    res = bcd_solve(Softmax(A, yc), L2(1.0), selection="gsq", update="matrix", block_size=5,
                    n_iter=5000, tol=1e-10)
    ref = LogisticRegression(C=1.0, fit_intercept=False, tol=1e-14, max_iter=100_000).fit(A, yc)
    np.testing.assert_allclose(res.x, ref.coef_.T, atol=1e-6)


def test_greedy_forest_is_a_forest_and_message_passing_solves_it():
    W = lattice(12)
    rng = np.random.default_rng(6)
    order = rng.permutation(144).astype(np.int64)
    nodes = greedy_forest(order, W.indptr, W.indices, 144)
    sub = W[nodes][:, nodes]
    n_comp = sp.csgraph.connected_components(sub)[0]
    assert sub.nnz // 2 == len(nodes) - n_comp  # edges = nodes - trees: acyclic
    assert len(nodes) > 144 // 2  # a large block
    Q = sp.diags(np.asarray(W.sum(1)).ravel() + 0.1) - W
    off = sp.csr_matrix(-W)
    rhs = rng.standard_normal((len(nodes), 2))
    x = forest_solve(nodes, off.indptr, off.indices, off.data, Q.diagonal(), rhs)
    np.testing.assert_allclose(Q.toarray()[np.ix_(nodes, nodes)] @ x, rhs, atol=1e-10)


@pytest.mark.parametrize("graph_type", ["scipy", "tensor"])
def test_label_propagation_message_passing_matches_closed_form(graph_type):
    W = lattice(20)
    rng = np.random.default_rng(7)
    labelled = rng.choice(400, 20, replace=False)
    Y = rng.choice([-1.0, 1.0], 20)
    G = SparseTensor.from_scipy(W) if graph_type == "tensor" else W
    prob = GraphQuadratic(G, labelled, Y)
    res = bcd_solve(prob, partition="forest", update="message_passing", block_size=400,
                    n_iter=1000, tol=1e-11)
    np.testing.assert_allclose(res.x, prob.solve()[:, 0], atol=1e-9)
    # far fewer iterations than size-5 blocks need
    fixed = bcd_solve(prob, selection="gsq", update="matrix", block_size=5, n_iter=300)
    assert res.objective[min(50, res.n_iter)] < fixed.objective[-1]


def test_graph_input_errors():
    with pytest.raises(ValueError, match="square"):
        GraphQuadratic(sp.csr_matrix(np.ones((3, 4))), [0], [1.0])
    with pytest.raises(TypeError, match="W"):
        GraphQuadratic(np.ones((3, 3)), [0], [1.0])
