"""Very sparse random projections (Li, Hastie & Church, KDD 2006).

The projection matrix ``R`` (``n_components x n_features``) has i.i.d. entries

    r_ij = ±sqrt(s / k)  each with probability 1 / (2 s),   0 with probability 1 - 1/s,

(eq. 1 of the paper with the ``1/sqrt(k)`` scaling that makes ``E ||R x||² = ||x||²``), with
``s = sqrt(n_features)`` by default. The support is drawn with the shared
:func:`bayesparse.sparse.random_pattern` and the signs are Rademacher, so ``components_`` is a
:class:`bayesparse.sparse.SparseTensor`. The distribution equals scikit-learn's
``SparseRandomProjection``; ``n_components="auto"`` uses
``sklearn.random_projection.johnson_lindenstrauss_min_dim(n_samples, eps)``.

``transform`` computes ``X Rᵀ`` with :func:`bayesparse.sparse.spgemm.sparse_matmul`, threaded
over rows of ``X``, with a dense accumulator of length ``n_components`` per thread (sparse and
dense ``X`` alike); the result equals scipy's ``X @ Rᵀ`` bit for bit.

References
----------
P. Li, T. J. Hastie and K. W. Church, "Very sparse random projections", KDD 2006.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.random_projection import johnson_lindenstrauss_min_dim
from sklearn.utils.validation import check_is_fitted, validate_data

from bayesparse.rng import check_generator
from bayesparse.sparse import SparseTensor, random_pattern
from bayesparse.sparse.spgemm import RightFactor, sparse_matmul


def very_sparse_matrix(
    n_components: int, n_features: int, density: float, random_state: Any = None
) -> SparseTensor:
    """The ``n_components x n_features`` very sparse projection matrix as a ``SparseTensor``.

    Parameters
    ----------
    n_components, n_features : int
        Output and input dimensions.
    density : float
        Fraction ``1/s`` of non-zero entries, in ``(0, 1]``.
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    SparseTensor
        Values ``±sqrt(1 / (density * n_components))`` (float64).

    Examples
    --------
    >>> r = very_sparse_matrix(4, 100, 0.1, random_state=0)
    >>> r.shape, r.nnz
    ((4, 100), 40)
    """
    rng = check_generator(random_state)
    pattern = random_pattern((n_components, n_features), density, rng)
    signs = rng.integers(0, 2, size=pattern.nnz) * 2.0 - 1.0
    scale = np.sqrt(1.0 / (density * n_components))
    return pattern.with_values(torch.from_numpy(signs * scale))


class VerySparseRandomProjection(TransformerMixin, BaseEstimator):
    """Reduce dimension with a very sparse random matrix (Johnson-Lindenstrauss).

    Parameters
    ----------
    n_components : int or "auto", default "auto"
        Output dimension; ``"auto"`` picks the JL bound for ``n_samples`` points and ``eps``.
    density : float or "auto", default "auto"
        Fraction ``1/s`` of non-zeros; ``"auto"`` is ``1 / sqrt(n_features)``.
    eps : float, default 0.1
        JL distortion used when ``n_components="auto"``.
    dense_output : bool, default False
        Return a dense array even for sparse input.
    random_state : None, int or numpy.random.Generator

    Attributes
    ----------
    components_ : SparseTensor, shape (n_components, n_features)
    n_components_ : int
    density_ : float

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).normal(size=(50, 400))
    >>> Y = VerySparseRandomProjection(n_components=30, random_state=0).fit_transform(X)
    >>> Y.shape
    (50, 30)

    References
    ----------
    P. Li, T. J. Hastie and K. W. Church, "Very sparse random projections", KDD 2006.
    """

    def __init__(
        self,
        n_components: int | str = "auto",
        *,
        density: float | str = "auto",
        eps: float = 0.1,
        dense_output: bool = False,
        random_state: Any = None,
    ) -> None:
        self.n_components = n_components
        self.density = density
        self.eps = eps
        self.dense_output = dense_output
        self.random_state = random_state

    def fit(self, X: Any, y: Any = None) -> VerySparseRandomProjection:
        """Draw the projection matrix for ``X``'s number of features.

        Parameters
        ----------
        X : array-like, sparse matrix or torch.Tensor of shape (n_samples, n_features)
            Only its shape is used (``n_samples`` sets ``n_components="auto"``).
        y : None
            Ignored (scikit-learn API).

        Returns
        -------
        VerySparseRandomProjection
            ``self``, with ``components_`` (``n_components_ x n_features``) and ``density_``.
        """
        X = validate_data(
            self, _to_sklearn(X), accept_sparse=["csr", "csc"], dtype=[np.float64, np.float32]
        )
        n_samples, n_features = X.shape
        if self.n_components == "auto":
            if not 0 < self.eps < 1:
                raise ValueError(f"eps: expected a value in (0, 1), got {self.eps}")
            k = int(johnson_lindenstrauss_min_dim(n_samples, eps=self.eps))
        elif isinstance(self.n_components, numbers.Integral) and self.n_components > 0:
            k = int(self.n_components)
        else:
            raise ValueError(
                f"n_components: expected a positive int or 'auto', got {self.n_components!r}"
            )
        if self.density == "auto":
            density = 1.0 / np.sqrt(n_features)
        elif isinstance(self.density, numbers.Real) and 0 < self.density <= 1:
            density = float(self.density)
        else:
            raise ValueError(f"density: expected a float in (0, 1] or 'auto', got {self.density!r}")
        rng = check_generator(self.random_state)
        self.components_ = very_sparse_matrix(k, n_features, density, rng)
        self.n_components_ = k
        self.density_ = density
        # Rᵀ prepared once (CSR, values as one-byte codes into ±sqrt(s/k)): the row-by-row
        # product X Rᵀ reads it by rows of Rᵀ.
        self._components_t = RightFactor(self.components_.to_scipy().T)
        return self

    def transform(self, X: Any) -> Any:
        """Project ``X``; torch input gives a torch tensor, sparse input a CSR matrix.

        Parameters
        ----------
        X : array-like, sparse matrix or torch.Tensor of shape (n_samples, n_features)
            Data to project.

        Returns
        -------
        ndarray, scipy CSR matrix or torch.Tensor of shape (n_samples, n_components_)
            ``X R^T``; a dense array for sparse input when ``dense_output=True``. Threads:
            ``numba.get_num_threads()`` for numpy/scipy input, torch's for torch input.
        """
        check_is_fitted(self)
        if isinstance(X, torch.Tensor):
            if X.ndim != 2 or X.shape[1] != self.components_.shape[1]:
                raise ValueError(
                    f"X: expected shape (n, {self.components_.shape[1]}), got {tuple(X.shape)}"
                )
            r = self.components_.to(dtype=X.dtype) if X.is_floating_point() else self.components_
            x = X if X.is_floating_point() else X.double()
            # (R Xᵀ)ᵀ keeps the sparse operand on the left, where torch.sparse runs threaded.
            return (r @ x.T.contiguous()).T
        X = validate_data(
            self, X, accept_sparse=["csr", "csc"], reset=False, dtype=[np.float64, np.float32]
        )
        return sparse_matmul(X, self._components_t.astype(X.dtype),
                             dense_output=self.dense_output)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _to_sklearn(X: Any) -> Any:
    """Torch tensors pass through sklearn validation as numpy views."""
    return X.detach().cpu().numpy() if isinstance(X, torch.Tensor) else X
