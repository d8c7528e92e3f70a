"""Problems for block coordinate descent: a datafit and a penalty, apart from the solver.

As in skglm, a problem is a smooth datafit ``f`` plus a separable penalty ``g``; the solvers of
this package (:func:`bayesparse.optim.bcd.bcd_solve`) only call the few methods below. The
variable is a matrix ``x`` of shape ``(d, k)`` (``k = 1`` for vectors, ``k`` classes for softmax
and multi-class label propagation); blocks are sets of rows.

Datafits (Nutini, Laradji & Schmidt 2022, Sec. 2 and 6; their problems A-E):

- :class:`LeastSquares` ``||A x - b||^2 / 2`` (``/ n`` with ``scale``), block matrix
  ``A_b^T A_b``;
- :class:`Logistic` ``sum_i log(1 + exp(-y_i a_i^T x))``, block matrix the bound
  ``A_b^T A_b / 4`` or the exact Hessian ``A_b^T diag(s (1 - s)) A_b``;
- :class:`Softmax` multinomial logistic ``sum_i [logsumexp(a_i^T X) - a_i^T X_{:, y_i}]``,
  block matrix Böhning's bound ``A_b^T A_b / 2`` acting on every class column (``(1/2) I``
  bounds ``diag(p) - p p^T``);
- :class:`GraphQuadratic` label propagation ``(1/2) sum_{ij} w_ij (u_i - u_j)^2`` over the
  unlabelled nodes with the labelled ones fixed: ``u^T L_uu u / 2 - u^T W_ul y_l``, block
  matrix ``L_bb`` (the graph is a ``SparseTensor`` or a scipy.sparse matrix).

Penalties: :class:`NoPenalty`, :class:`L1` (optionally ``positive``, the paper's non-negative
L1 problem), :class:`L2` ``lam ||x||^2 / 2``. Every block matrix acts on each column of the
block (Kronecker with ``I_k``), so a block step costs one ``|b| x |b|`` solve.

References
----------
.. [1] J. Nutini, I. Laradji, M. Schmidt. Let's Make Block Coordinate Descent Converge Faster:
   Faster Greedy Rules, Message-Passing, Active-Set Complexity, and Superlinear Convergence.
   JMLR 23(131), 2022.
.. [2] Q. Bertrand et al. Beyond L1: Faster and Better Sparse Models with skglm. NeurIPS 2022.
.. [3] D. Böhning. Multinomial logistic regression algorithm. Ann. Inst. Stat. Math. 44, 1992.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.special import expit, log_expit, logsumexp

from bayesparse.sparse import SparseTensor


def as_design(A) -> np.ndarray | sp.csc_matrix:
    """Dense float64 array or CSC matrix (fast column slices) from any accepted design.

    Parameters
    ----------
    A : ndarray, scipy.sparse matrix or SparseTensor

    Returns
    -------
    ndarray or scipy.sparse.csc_matrix
    """
    if isinstance(A, SparseTensor):
        A = A.to_scipy("csr")
    if sp.issparse(A):
        return sp.csc_matrix(A, dtype=np.float64)
    A = np.asarray(A, dtype=np.float64)
    if A.ndim != 2:
        raise ValueError(f"A: expected a 2-d design, got shape {A.shape}")
    return A


def _gram(A, idx: np.ndarray) -> np.ndarray:
    Ab = A[:, idx]
    G = Ab.T @ Ab
    return G.toarray() if sp.issparse(G) else np.asarray(G)


def _col_sq_norms(A) -> np.ndarray:
    if sp.issparse(A):
        return np.asarray(A.multiply(A).sum(axis=0)).ravel()
    return np.einsum("ij,ij->j", A, A)


class _LinearDatafit:
    """Datafits of the form ``F(A x)``: the state is the predictor ``A x`` (n, k)."""

    A: np.ndarray | sp.csc_matrix
    k: int = 1
    #: curvature bound ``c`` with ``H_bb <= c A_b^T A_b``
    curvature: float = 1.0

    @property
    def shape(self) -> tuple[int, int]:
        return (self.A.shape[1], self.k)

    def init_state(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self.A @ x)

    def update_state(self, z: np.ndarray, idx: np.ndarray, d: np.ndarray) -> None:
        z += np.asarray(self.A[:, idx] @ d)

    def gradient(self, z: np.ndarray) -> np.ndarray:
        return np.asarray(self.A.T @ self._dloss(z))

    def coordinate_lipschitz(self) -> np.ndarray:
        """Lipschitz constant of each row's gradient (``c ||A_j||^2``)."""
        return self.curvature * _col_sq_norms(self.A)

    def block_matrix(self, z: np.ndarray, idx: np.ndarray, exact: bool = False) -> np.ndarray:
        """Curvature matrix of the block (a bound of the Hessian, or the Hessian if ``exact``)."""
        return self.curvature * _gram(self.A, idx)


class LeastSquares(_LinearDatafit):
    """``||A x - b||^2 / (2 s)`` with ``s = n`` if ``scale`` else 1.

    Parameters
    ----------
    A : ndarray, scipy.sparse matrix or SparseTensor of shape (n, d)
    b : ndarray of shape (n,) or (n, k)
    scale : bool
        Divide by ``n`` (scikit-learn's Lasso objective).
    """

    def __init__(self, A, b, scale: bool = False) -> None:
        self.A = as_design(A)
        b = np.asarray(b, dtype=np.float64)
        self.b = b.reshape(len(b), -1)
        self.k = self.b.shape[1]
        self.s = float(self.A.shape[0]) if scale else 1.0
        self.curvature = 1.0 / self.s

    def value(self, z: np.ndarray) -> float:
        """Datafit value ``||z - b||^2 / (2 s)`` from the state ``z = A x``.

        Parameters
        ----------
        z : ndarray of shape (n, k)
            State, the predictor ``A x``.

        Returns
        -------
        float
        """
        r = z - self.b
        return 0.5 * float(np.sum(r * r)) / self.s

    def _dloss(self, z: np.ndarray) -> np.ndarray:
        return (z - self.b) / self.s


class Logistic(_LinearDatafit):
    """Binary logistic loss ``sum_i log(1 + exp(-y_i a_i^T x))`` with ``y_i = +-1``.

    Parameters
    ----------
    A : ndarray, scipy.sparse matrix or SparseTensor of shape (n, d)
    y : ndarray of shape (n,) with values -1 and +1
    """

    curvature = 0.25

    def __init__(self, A, y) -> None:
        self.A = as_design(A)
        y = np.asarray(y, dtype=np.float64).ravel()
        if not np.all(np.isin(y, (-1.0, 1.0))):
            raise ValueError("y: Logistic needs labels in {-1, +1}")
        self.y = y[:, None]

    def value(self, z: np.ndarray) -> float:
        """Datafit value ``sum_i log(1 + exp(-y_i z_i))`` from the state ``z = A x``.

        Parameters
        ----------
        z : ndarray of shape (n, k)
            State, the predictor ``A x``.

        Returns
        -------
        float
        """
        return -float(np.sum(log_expit(self.y * z)))

    def _dloss(self, z: np.ndarray) -> np.ndarray:
        return -self.y * expit(-self.y * z)

    def block_matrix(self, z: np.ndarray, idx: np.ndarray, exact: bool = False) -> np.ndarray:
        """Block curvature: the bound ``A_b^T A_b / 4``, or the Hessian if ``exact``.

        Parameters
        ----------
        z : ndarray of shape (n, 1)
            State, the predictor ``A x``.
        idx : ndarray of int
            Rows of ``x`` in the block.
        exact : bool, default=False
            Return the exact Hessian ``A_b^T diag(s (1 - s)) A_b`` (``s = expit(z)``).

        Returns
        -------
        ndarray of shape (len(idx), len(idx))
        """
        if not exact:
            return super().block_matrix(z, idx)
        s = expit(z[:, 0])
        Ab = self.A[:, idx]
        wts = (s * (1 - s))[:, None]
        DAb = Ab.multiply(wts) if sp.issparse(Ab) else Ab * wts
        H = Ab.T @ DAb
        return H.toarray() if sp.issparse(H) else np.asarray(H)


class Softmax(_LinearDatafit):
    """Multinomial logistic loss ``sum_i [logsumexp(a_i^T X) - a_i^T X[:, y_i]]``.

    Parameters
    ----------
    A : ndarray, scipy.sparse matrix or SparseTensor of shape (n, d)
    y : ndarray of shape (n,) of integer classes ``0 .. k - 1``
    n_classes : int, optional
        ``k`` (``max(y) + 1`` by default).
    """

    curvature = 0.5

    def __init__(self, A, y, n_classes: int | None = None) -> None:
        self.A = as_design(A)
        y = np.asarray(y).ravel()
        if y.size and (y.min() < 0 or not np.all(y == np.round(y))):
            raise ValueError("y: Softmax needs integer classes 0 .. k - 1")
        y = y.astype(np.int64)
        self.k = int(n_classes if n_classes is not None else y.max() + 1)
        self.Y = np.zeros((len(y), self.k))
        self.Y[np.arange(len(y)), y] = 1.0

    def value(self, z: np.ndarray) -> float:
        """Datafit value ``sum_i [logsumexp(z_i) - z_{i, y_i}]`` from the state ``z = A X``.

        Parameters
        ----------
        z : ndarray of shape (n, k)
            State, the predictor ``A x``.

        Returns
        -------
        float
        """
        return float(np.sum(logsumexp(z, axis=1)) - np.sum(z * self.Y))

    def _dloss(self, z: np.ndarray) -> np.ndarray:
        P = np.exp(z - logsumexp(z, axis=1, keepdims=True))
        return P - self.Y


class GraphQuadratic:
    """Label propagation: ``(1/2) sum_{ij} w_ij (u_i - u_j)^2`` with labelled nodes fixed.

    With the graph Laplacian ``L = D - W`` and ``u`` the unlabelled values, the objective is
    ``u^T L_uu u / 2 - u^T W_ul Y_l`` up to a constant; its minimizer solves
    ``L_uu u = W_ul Y_l`` (Zhu, Ghahramani & Lafferty 2003).

    Parameters
    ----------
    W : SparseTensor or scipy.sparse matrix of shape (m, m)
        Symmetric non-negative edge weights.
    labelled : ndarray of int
        Indices of the labelled nodes.
    Y : ndarray of shape (len(labelled),) or (len(labelled), k)
        Their values (one column per class for one-hot labels).
    eps : float
        Optional ridge ``eps ||u||^2 / 2`` on the unknowns.
    """

    def __init__(self, W, labelled, Y, eps: float = 0.0) -> None:
        W = W.to_scipy("csr") if isinstance(W, SparseTensor) else W
        if not sp.issparse(W):
            raise TypeError("W: pass the graph as a SparseTensor or a scipy.sparse matrix")
        if W.shape[0] != W.shape[1]:
            raise ValueError(f"W: the adjacency must be square, got shape {W.shape}")
        W = sp.csr_matrix(W, dtype=np.float64, copy=True)
        W.setdiag(0.0)
        W.eliminate_zeros()
        m = W.shape[0]
        labelled = np.asarray(labelled, dtype=np.int64)
        self.m = m
        self.labelled = labelled
        self.unlabelled = np.setdiff1d(np.arange(m), labelled)
        Y = np.asarray(Y, dtype=np.float64)
        self.Yl = Y.reshape(len(labelled), -1)
        self.k = self.Yl.shape[1]
        u, lab = self.unlabelled, labelled
        deg = np.asarray(W.sum(axis=1)).ravel()
        L = (sp.diags(deg) - W).tocsr()
        self.Q = sp.csc_matrix(L[u][:, u] + eps * sp.eye(len(u)))
        self.c = np.asarray(W[u][:, lab] @ self.Yl)
        self.adjacency = sp.csr_matrix(W[u][:, u])

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.unlabelled), self.k)

    def init_state(self, x: np.ndarray) -> np.ndarray:
        """State ``z = L_uu x`` (ridge included) for the unknowns ``x``.

        Parameters
        ----------
        x : ndarray of shape (n_unlabelled, k)

        Returns
        -------
        ndarray of shape (n_unlabelled, k)
        """
        return np.asarray(self.Q @ x)

    def update_state(self, z: np.ndarray, idx: np.ndarray, d: np.ndarray) -> None:
        """Update ``z`` in place after the rows ``idx`` of ``x`` moved by ``d``.

        Parameters
        ----------
        z : ndarray of shape (n_unlabelled, k)
            State, modified in place.
        idx : ndarray of int
            Rows of ``x`` in the block.
        d : ndarray of shape (len(idx), k)
            Their change.
        """
        z += np.asarray(self.Q[:, idx] @ d)

    def value_at(self, x: np.ndarray, z: np.ndarray) -> float:
        """Objective ``x^T L_uu x / 2 - x^T W_ul Y_l`` (up to a constant).

        Parameters
        ----------
        x : ndarray of shape (n_unlabelled, k)
            Unknowns.
        z : ndarray of shape (n_unlabelled, k)
            Their state ``L_uu x``.

        Returns
        -------
        float
        """
        return float(0.5 * np.sum(x * z) - np.sum(x * self.c))

    def gradient(self, z: np.ndarray) -> np.ndarray:
        """Gradient ``L_uu x - W_ul Y_l`` from the state.

        Parameters
        ----------
        z : ndarray of shape (n_unlabelled, k)
            State ``L_uu x``.

        Returns
        -------
        ndarray of shape (n_unlabelled, k)
        """
        return z - self.c

    def coordinate_lipschitz(self) -> np.ndarray:
        return self.Q.diagonal()

    def block_matrix(self, z: np.ndarray, idx: np.ndarray, exact: bool = False) -> np.ndarray:
        """The block ``L_bb`` (the Hessian, whatever ``exact``).

        Parameters
        ----------
        z : ndarray
            State (unused: the objective is quadratic).
        idx : ndarray of int
            Rows of ``x`` in the block.
        exact : bool, default=False
            Unused.

        Returns
        -------
        ndarray of shape (len(idx), len(idx))
        """
        return self.Q[idx][:, idx].toarray()

    def solve(self) -> np.ndarray:
        """The closed-form minimizer ``L_uu^{-1} W_ul Y_l`` (sparse direct solve)."""
        from scipy.sparse.linalg import splu

        return splu(self.Q).solve(self.c)


def datafit_value(datafit, x: np.ndarray, z: np.ndarray) -> float:
    """``f(x)`` from the state ``z`` (label propagation also needs ``x``).

    Parameters
    ----------
    datafit : LeastSquares, Logistic, Softmax or GraphQuadratic
    x : ndarray of shape (d, k)
        Variable.
    z : ndarray
        Its state (``datafit.init_state(x)``).

    Returns
    -------
    float
    """
    if isinstance(datafit, GraphQuadratic):
        return datafit.value_at(x, z)
    return datafit.value(z)


def _soft(v: np.ndarray, t) -> np.ndarray:
    return np.sign(v) * np.maximum(np.abs(v) - t, 0.0)


class NoPenalty:
    """``g = 0``."""

    lam = 0.0
    smooth = True

    def value(self, x: np.ndarray) -> float:
        """Penalty value (zero).

        Parameters
        ----------
        x : ndarray of shape (d, k)

        Returns
        -------
        float
        """
        return 0.0

    def prox(self, v: np.ndarray, step) -> np.ndarray:
        """Proximal operator (the identity).

        Parameters
        ----------
        v : ndarray
            Point.
        step : float or ndarray
            Step size (broadcast against ``v``).

        Returns
        -------
        ndarray, shape of ``v``
        """
        return v

    def subdiff_distance(self, x: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """Distance of ``-grad`` to the subdifferential at ``x``, entrywise (KKT violation).

        Parameters
        ----------
        x : ndarray of shape (d, k)
        grad : ndarray of shape (d, k)
            Datafit gradient at ``x``.

        Returns
        -------
        ndarray of shape (d, k)
        """
        return np.abs(grad)


def _check_lam(lam) -> np.ndarray | float:
    lam_arr = np.asarray(lam, dtype=np.float64)
    if np.any(lam_arr < 0) or not np.all(np.isfinite(lam_arr)):
        raise ValueError(f"lam={lam}: must be finite and >= 0")
    return float(lam_arr) if lam_arr.ndim == 0 else lam_arr


class L2:
    """``lam ||x||^2 / 2``.

    Parameters
    ----------
    lam : float or ndarray broadcastable to the variable's shape
        Weight (per row, e.g. 0 for an unpenalized intercept row).
    """

    smooth = True

    def __init__(self, lam) -> None:
        self.lam = _check_lam(lam)

    def value(self, x: np.ndarray) -> float:
        """Penalty value ``lam ||x||^2 / 2``.

        Parameters
        ----------
        x : ndarray of shape (d, k)

        Returns
        -------
        float
        """
        return 0.5 * self.lam * float(np.sum(x * x))

    def prox(self, v: np.ndarray, step) -> np.ndarray:
        """Proximal operator ``v / (1 + lam step)``.

        Parameters
        ----------
        v : ndarray
            Point.
        step : float or ndarray
            Step size (broadcast against ``v``).

        Returns
        -------
        ndarray, shape of ``v``
        """
        return v / (1.0 + self.lam * step)

    def subdiff_distance(self, x: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """Distance of ``-grad`` to the subdifferential at ``x``, entrywise (KKT violation).

        Parameters
        ----------
        x : ndarray of shape (d, k)
        grad : ndarray of shape (d, k)
            Datafit gradient at ``x``.

        Returns
        -------
        ndarray of shape (d, k)
        """
        return np.abs(grad + self.lam * x)


class L1:
    """``lam ||x||_1``, or ``lam sum x`` on ``x >= 0`` if ``positive``.

    Parameters
    ----------
    lam : float or ndarray broadcastable to the variable's shape
        Weight (per row, e.g. 0 for an unpenalized intercept row).
    positive : bool
        Constrain ``x >= 0`` (the paper's non-negative L1 problem).
    """

    smooth = False

    def __init__(self, lam, positive: bool = False) -> None:
        self.lam = _check_lam(lam)
        self.positive = positive

    def value(self, x: np.ndarray) -> float:
        """Penalty value ``lam ||x||_1``.

        Parameters
        ----------
        x : ndarray of shape (d, k)

        Returns
        -------
        float
        """
        return float(np.sum(self.lam * np.abs(x)))

    def prox(self, v: np.ndarray, step) -> np.ndarray:
        """Proximal operator (soft thresholding by ``lam step``; clipped at 0 if ``positive``).

        Parameters
        ----------
        v : ndarray
            Point.
        step : float or ndarray
            Step size (broadcast against ``v``).

        Returns
        -------
        ndarray, shape of ``v``
        """
        if self.positive:
            return np.maximum(v - self.lam * step, 0.0)
        return _soft(v, self.lam * step)

    def subdiff_distance(self, x: np.ndarray, grad: np.ndarray) -> np.ndarray:
        """Distance of ``-grad`` to the subdifferential at ``x``, entrywise (KKT violation).

        Parameters
        ----------
        x : ndarray of shape (d, k)
        grad : ndarray of shape (d, k)
            Datafit gradient at ``x``.

        Returns
        -------
        ndarray of shape (d, k)
        """
        at_zero = np.maximum(-grad - self.lam, 0.0) if self.positive else np.maximum(
            np.abs(grad) - self.lam, 0.0)
        return np.where(x != 0, np.abs(grad + self.lam * np.sign(x)), at_zero)
