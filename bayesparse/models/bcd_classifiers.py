"""scikit-learn classifiers on block coordinate descent: logistic regression, label propagation.

``BCDLogisticRegression`` minimizes scikit-learn's ``C sum_i loss_i + penalty(w)`` (binary
logistic or multinomial softmax loss, L1 or L2 penalty, unpenalized intercept).
``selection="working_set"`` on binary problems runs the numba working-set proximal Newton of
:func:`bayesparse.optim.bcd.logistic_working_set.logistic_working_set`, on multinomial ones
the class-block proximal Newton of :func:`bayesparse.optim.bcd.softmax_newton`; a rule of
:data:`bayesparse.optim.bcd.SELECTION_RULES` runs
:func:`bayesparse.optim.bcd.bcd_solve` on the :class:`~bayesparse.optim.bcd.Logistic` /
:class:`~bayesparse.optim.bcd.Softmax` datafit (Nutini, Laradji & Schmidt 2022).

``BCDLabelPropagation`` is the harmonic-function label propagation of Zhu, Ghahramani &
Lafferty (2003), ``min (1/2) sum_ij w_ij ||F_i - F_j||^2`` with the labelled rows of ``F``
fixed to their one-hot labels, on a given graph or the symmetrized kNN graph of ``X``, solved
by BCD with greedy forest blocks and message passing (Nutini et al. Sec. 4).

References
----------
.. [1] J. Nutini, I. Laradji, M. Schmidt. Let's Make Block Coordinate Descent Converge Faster.
   JMLR 23(131), 2022.
.. [2] X. Zhu, Z. Ghahramani, J. Lafferty. Semi-supervised learning using Gaussian fields and
   harmonic functions. ICML 2003.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.special import expit, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.neighbors import NearestNeighbors, kneighbors_graph
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from bayesparse.models.bcd_estimators import _as_matrix
from bayesparse.optim.bcd.logistic_working_set import logistic_working_set, softmax_newton
from bayesparse.optim.bcd.problems import L1, L2, GraphQuadratic, Logistic, Softmax
from bayesparse.optim.bcd.rules import SELECTION_RULES
from bayesparse.optim.bcd.solver import PARTITIONS, UPDATES, bcd_solve
from bayesparse.sparse import SparseTensor


class BCDLogisticRegression(ClassifierMixin, BaseEstimator):
    """Logistic regression (binary or multinomial, L1 or L2) by block coordinate descent.

    Parameters
    ----------
    penalty : {"l1", "l2"}, default="l2"
    C : float, default=1.0
        Inverse regularization strength, as in scikit-learn (``C sum loss + penalty``).
    fit_intercept : bool, default=True
        Fit an unpenalized intercept.
    tol : float, default=1e-6
        Stop when the largest KKT violation of ``mean loss + penalty / (n C)`` is below it.
    max_iter : int, default=1000
        Working-set rounds (binary), sweeps over the classes (multinomial), or passes of
        ``n_features / block_size`` block updates (block rules).
    selection : str, default="working_set"
        ``"working_set"`` (binary: numba proximal Newton on KKT working sets; multinomial:
        numba proximal Newton on class blocks, :func:`bayesparse.optim.bcd.softmax_newton`)
        or a block rule (cyclic, random, lipschitz, gs, gsl, gsq).
    partition : {"contiguous", "sorted", "random", "variable"}, default="variable"
        Block partition of the rules.
    block_size : int, default=5
    update : {"gradient", "matrix", "newton"}, default="newton"
        Block update of the rules (``"newton"`` is binary only; multinomial uses ``"matrix"``
        with Böhning's bound in its place).
    random_state : None, int or numpy.random.Generator

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coef_ : ndarray of shape (1, n_features) or (n_classes, n_features)
    intercept_ : ndarray of shape (1,) or (n_classes,)
    n_iter_ : int
    kkt_ : float
        Largest KKT violation at the solution (the optimality measure).

    Examples
    --------
    >>> import numpy as np
    >>> from bayesparse.models.bcd_classifiers import BCDLogisticRegression
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((100, 10)); y = (X[:, 0] > 0).astype(int)
    >>> clf = BCDLogisticRegression(penalty="l1", C=0.5).fit(X, y)
    >>> float(clf.score(X, y)) > 0.9
    True

    References
    ----------
    .. [1] J. Nutini, I. Laradji, M. Schmidt. JMLR 23(131), 2022.
    """

    _parameter_constraints: dict = {
        "penalty": [StrOptions({"l1", "l2"})],
        "C": [Interval(Real, 0, None, closed="neither")],
        "fit_intercept": ["boolean"],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "selection": [StrOptions({"working_set", *SELECTION_RULES})],
        "partition": [StrOptions(set(PARTITIONS) - {"forest"})],
        "block_size": [Interval(Integral, 1, None, closed="left")],
        "update": [StrOptions(set(UPDATES) - {"message_passing"})],
        "random_state": ["random_state"],
    }

    def __init__(self, penalty: str = "l2", C: float = 1.0, fit_intercept: bool = True,
                 tol: float = 1e-6, max_iter: int = 1000, selection: str = "working_set",
                 partition: str = "variable", block_size: int = 5, update: str = "newton",
                 random_state=None) -> None:
        self.penalty = penalty
        self.C = C
        self.fit_intercept = fit_intercept
        self.tol = tol
        self.max_iter = max_iter
        self.selection = selection
        self.partition = partition
        self.block_size = block_size
        self.update = update
        self.random_state = random_state

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y) -> BCDLogisticRegression:
        """Fit on ``X`` (dense, scipy.sparse or ``SparseTensor``) and class labels ``y``.

        Parameters
        ----------
        X : array-like, scipy.sparse matrix or SparseTensor of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        X, y = validate_data(self, _as_matrix(X), y, accept_sparse=["csr", "csc"],
                             dtype=np.float64)
        check_classification_targets(y)
        self.classes_, y_idx = np.unique(y, return_inverse=True)
        k = len(self.classes_)
        if k < 2:
            raise ValueError(f"y: needs samples of at least 2 classes, got 1 class "
                             f"({self.classes_[0]!r})")
        n, p = X.shape
        lam = 1.0 / (n * self.C)
        binary = k == 2
        if binary and self.selection == "working_set":
            res = logistic_working_set(
                X, 2.0 * y_idx - 1.0, lam if self.penalty == "l1" else 0.0,
                lam if self.penalty == "l2" else 0.0, fit_intercept=self.fit_intercept,
                tol=self.tol, max_iter=self.max_iter)
            coef, intercept, kkt, n_iter = (res.coef[None, :], np.array([res.intercept]),
                                            res.kkt, res.n_iter)
        elif self.selection == "working_set":
            res = softmax_newton(X, y_idx, k, lam if self.penalty == "l1" else 0.0,
                                 lam if self.penalty == "l2" else 0.0,
                                 fit_intercept=self.fit_intercept, tol=self.tol,
                                 max_iter=self.max_iter)
            coef, intercept, kkt, n_iter = res.coef.T.copy(), res.intercept, res.kkt, res.n_iter
        else:
            coef, intercept, kkt, n_iter = self._fit_blocks(X, y_idx, k, lam)
        if kkt > self.tol:
            warnings.warn(f"BCD did not reach the KKT tolerance {self.tol:.1e} (violation "
                          f"{kkt:.1e}); increase max_iter", ConvergenceWarning, stacklevel=2)
        self.coef_, self.intercept_ = coef, intercept
        self.kkt_, self.n_iter_ = float(kkt), int(n_iter)
        return self

    def _fit_blocks(self, X, y_idx, k, lam):
        n, p = X.shape
        if self.fit_intercept:
            ones = np.ones((n, 1))
            X = sp.hstack([X, ones], format="csc") if sp.issparse(X) else np.hstack([X, ones])
        d = X.shape[1]
        binary = k == 2
        datafit = Logistic(X, 2.0 * y_idx - 1.0) if binary else Softmax(X, y_idx, n_classes=k)
        # the solver works on the summed loss: weights n lam, none on the intercept row
        weights = np.full((d, 1), n * lam)
        if self.fit_intercept:
            weights[-1] = 0.0
        penalty = L1(weights) if self.penalty == "l1" else L2(weights)
        selection, partition, bs = self.selection, self.partition, min(self.block_size, d)
        update = "matrix" if self.update == "newton" and not binary else self.update
        if partition == "variable" and selection not in ("gs", "gsl", "gsq"):
            partition = "contiguous"
        res = bcd_solve(datafit, penalty, partition=partition, block_size=bs,
                        selection=selection, update=update,
                        n_iter=self.max_iter * -(-d // bs), tol=self.tol * n,
                        random_state=self.random_state)
        W = res.x.reshape(d, -1)
        W, b = (W[:-1], W[-1]) if self.fit_intercept else (W, np.zeros(W.shape[1]))
        return W.T.copy(), np.asarray(b, dtype=float), res.kkt / n, res.n_iter

    def decision_function(self, X) -> np.ndarray:
        """Scores ``X coef_^T + intercept_`` (one column for binary problems, raveled).

        Parameters
        ----------
        X : array-like, scipy.sparse matrix or SparseTensor of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
        """
        check_is_fitted(self)
        X = validate_data(self, _as_matrix(X), accept_sparse=["csr", "csc"], dtype=np.float64,
                          reset=False)
        scores = np.asarray(X @ self.coef_.T) + self.intercept_
        return scores.ravel() if scores.shape[1] == 1 else scores

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (logistic for binary, softmax for multinomial problems).

        Parameters
        ----------
        X : array-like, scipy.sparse matrix or SparseTensor of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        s = self.decision_function(X)
        if s.ndim == 1:
            p1 = expit(s)
            return np.column_stack([1 - p1, p1])
        return softmax(s, axis=1)

    def predict(self, X) -> np.ndarray:
        """Most probable class.

        Parameters
        ----------
        X : array-like, scipy.sparse matrix or SparseTensor of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        s = self.decision_function(X)
        idx = (s > 0).astype(int) if s.ndim == 1 else np.argmax(s, axis=1)
        return self.classes_[idx]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


class BCDLabelPropagation(ClassifierMixin, BaseEstimator):
    """Label propagation (harmonic functions) solved by BCD with message passing.

    ``fit(X, y)`` takes ``y = -1`` for unlabelled samples and propagates the labels over
    ``graph`` (an ``n_samples x n_samples`` SparseTensor or scipy.sparse adjacency) or, by
    default, the symmetrized ``n_neighbors``-NN connectivity graph of ``X``.

    Parameters
    ----------
    graph : SparseTensor or scipy.sparse matrix, optional
        Symmetric non-negative edge weights between the training samples.
    n_neighbors : int, default=7
        Neighbours of the kNN graph, and of the vote that labels new points in ``predict``.
    tol : float, default=1e-8
        Stop when the largest gradient entry is below ``tol`` times its value at zero.
    max_iter : int, default=10000
        Block updates.
    partition : {"forest", "contiguous", "sorted", "random", "variable"}, default="forest"
        Greedy forest blocks (with ``update="message_passing"``) or the blocks of the rules.
    selection : str, default="gsl"
        Rule for the non-forest partitions.
    block_size : int, optional
        Largest block (all unknowns for forests, 5 otherwise by default).
    update : {"message_passing", "matrix", "gradient"}, default="message_passing"
    random_state : None, int or numpy.random.Generator

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    label_distributions_ : ndarray of shape (n_samples, n_classes)
        Propagated class weights of every training sample (rows sum to 1).
    transduction_ : ndarray of shape (n_samples,)
        Label of every training sample.
    n_iter_ : int
    kkt_ : float
        Largest gradient entry at the solution.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_moons
    >>> from bayesparse.models.bcd_classifiers import BCDLabelPropagation
    >>> X, y = make_moons(200, noise=0.05, random_state=0)
    >>> y_train = np.full(200, -1); y_train[:20] = y[:20]
    >>> model = BCDLabelPropagation(n_neighbors=5).fit(X, y_train)
    >>> float(np.mean(model.transduction_ == y)) > 0.95
    True

    References
    ----------
    .. [1] X. Zhu, Z. Ghahramani, J. Lafferty. ICML 2003.
    .. [2] J. Nutini, I. Laradji, M. Schmidt. JMLR 23(131), 2022, Sec. 4.
    """

    _parameter_constraints: dict = {
        "graph": [None, "sparse matrix", SparseTensor],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "partition": [StrOptions(set(PARTITIONS))],
        "selection": [StrOptions(set(SELECTION_RULES))],
        "block_size": [None, Interval(Integral, 1, None, closed="left")],
        "update": [StrOptions({"message_passing", "matrix", "gradient"})],
        "random_state": ["random_state"],
    }

    def __init__(self, graph=None, n_neighbors: int = 7, tol: float = 1e-8,
                 max_iter: int = 10_000, partition: str = "forest", selection: str = "gsl",
                 block_size: int | None = None, update: str = "message_passing",
                 random_state=None) -> None:
        self.graph = graph
        self.n_neighbors = n_neighbors
        self.tol = tol
        self.max_iter = max_iter
        self.partition = partition
        self.selection = selection
        self.block_size = block_size
        self.update = update
        self.random_state = random_state

    def _graph(self, X) -> sp.csr_matrix:
        n = X.shape[0]
        if self.graph is None:
            if n < 2:
                raise ValueError(f"X: n_samples={n}; a kNN graph needs at least 2 samples")
            W = kneighbors_graph(X, min(self.n_neighbors, n - 1), mode="connectivity",
                                 include_self=False)
            return sp.csr_matrix(W.maximum(W.T))
        W = self.graph.to_scipy("csr") if isinstance(self.graph, SparseTensor) else self.graph
        if W.shape[0] != W.shape[1]:
            raise ValueError(f"graph: the adjacency must be square, got shape {W.shape}")
        if W.shape[0] != n:
            raise ValueError(f"graph: has {W.shape[0]} nodes but X has {n} samples")
        W = sp.csr_matrix(W, dtype=np.float64)
        if not np.all(np.isfinite(W.data)) or np.any(W.data < 0):
            raise ValueError("graph: edge weights must be finite and non-negative")
        return W

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y) -> BCDLabelPropagation:
        """Propagate the labels of ``y`` (``-1`` = unlabelled) over the graph.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        X, y = validate_data(self, _as_matrix(X), y, accept_sparse=["csr", "csc"],
                             dtype=np.float64)
        check_classification_targets(y)
        W = self._graph(X)
        n = X.shape[0]
        unlab = y == -1 if y.dtype.kind in "iuf" else np.zeros(n, dtype=bool)
        classes = np.unique(y[~unlab])
        if classes.size == 0:
            raise ValueError("y: no labelled sample (every label is -1)")
        self.classes_ = classes
        labelled = np.flatnonzero(~unlab)
        Yl = (y[labelled][:, None] == classes[None, :]).astype(float)
        F = np.zeros((n, len(classes)))
        F[labelled] = Yl
        self.n_iter_, self.kkt_ = 0, 0.0
        if unlab.any():
            off = W - sp.diags(W.diagonal())
            if off.nnz == 0:
                raise ValueError("graph: has no edges; pass a graph with edges or use the "
                                 "kNN graph of X")
            n_comp, comp = connected_components(off, directed=False)
            has_label = np.zeros(n_comp, dtype=bool)
            has_label[comp[labelled]] = True
            if not has_label.all():
                bad = int(np.flatnonzero(~has_label)[0])
                raise ValueError(f"graph: a connected component of {np.sum(comp == bad)} "
                                 "node(s) has no labelled node; label one of its nodes or "
                                 "connect it to the rest of the graph")
            prob = GraphQuadratic(W, labelled, Yl)
            m = len(prob.unlabelled)
            forest = self.partition == "forest"
            bs = self.block_size if self.block_size is not None else (m if forest else 5)
            scale = max(float(np.abs(prob.c).max()), np.finfo(float).tiny)
            res = bcd_solve(prob, partition=self.partition, block_size=bs,
                            selection=self.selection, update=self.update,
                            n_iter=self.max_iter, tol=self.tol * scale,
                            random_state=self.random_state)
            F[prob.unlabelled] = res.x.reshape(m, -1)
            self.n_iter_, self.kkt_ = int(res.n_iter), float(res.kkt) / scale
            if self.kkt_ > self.tol:
                warnings.warn(f"BCD did not reach the tolerance {self.tol:.1e} (relative "
                              f"gradient {self.kkt_:.1e}); increase max_iter",
                              ConvergenceWarning, stacklevel=2)
        F = np.clip(F, 0.0, None)
        self.label_distributions_ = F / np.maximum(F.sum(1, keepdims=True), 1e-300)
        self.transduction_ = classes[np.argmax(self.label_distributions_, axis=1)]
        self.nn_ = NearestNeighbors(n_neighbors=min(self.n_neighbors, n)).fit(X)
        return self

    def predict_proba(self, X) -> np.ndarray:
        """Class weights of new points: the mean distribution of their nearest training samples.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        check_is_fitted(self)
        X = validate_data(self, _as_matrix(X), accept_sparse=["csr", "csc"], dtype=np.float64,
                          reset=False)
        idx = self.nn_.kneighbors(X, return_distance=False)
        P = self.label_distributions_[idx].mean(axis=1)
        return P / np.maximum(P.sum(1, keepdims=True), 1e-300)

    def predict(self, X) -> np.ndarray:
        """Most probable class of new points.

        Parameters
        ----------
        X : array-like or scipy.sparse matrix of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
