"""``Kronecker``: the product ``A_1 ⊗ A_2 ⊗ … ⊗ A_d`` as a linear operator, never formed.

With ``x`` reshaped row-major to an ``n_1 x … x n_d`` tensor ``X`` (numpy's ``np.kron``
ordering), ``(A_1 ⊗ … ⊗ A_d) x = vec(X ×_1 A_1 ×_2 … ×_d A_d)``: a sequence of mode products
costing ``O(N Σ_i m_i)`` instead of ``O(M N)`` (Van Loan, "The ubiquitous Kronecker product",
J. Comput. Appl. Math. 2000). This is the dictionary of Kronecker-structured SBL.

Examples
--------
>>> import numpy as np
>>> from bayesparse.sparse import Kronecker
>>> rng = np.random.default_rng(0)
>>> A, B = rng.normal(size=(3, 4)), rng.normal(size=(2, 5))
>>> K = Kronecker([A, B])
>>> x = rng.normal(size=20)
>>> bool(np.allclose(K @ x, np.kron(A, B) @ x))
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse.linalg as spla
import torch

__all__ = ["Kronecker", "mode_products"]


def mode_products(factors: Sequence[Any], t: Any) -> Any:
    """``t ×_1 F_1 ×_2 … ×_d F_d``: the Kronecker product applied to a reshaped vector.

    ``t``'s first ``d`` axes match the factors' columns; any trailing axes are carried along
    (columns of a matrix operand). Each mode is one matmul on a reshaped view, with no
    transposes or copies, so small problems (the EM loops of KroSBL) pay little overhead.
    No checks: :class:`Kronecker` is the checked entry point. Works for numpy and torch.

    Parameters
    ----------
    factors : sequence of 2-D arrays or tensors
        ``F_1, ..., F_d``.
    t : array or tensor
        Shape ``(n_1, ..., n_d, ...)`` with ``n_k`` the columns of ``F_k``.

    Returns
    -------
    array or tensor
        Shape ``(m_1, ..., m_d, ...)`` with ``m_k`` the rows of ``F_k``.

    Examples
    --------
    >>> import numpy as np
    >>> A, B = np.arange(6.0).reshape(2, 3), np.arange(8.0).reshape(4, 2)
    >>> x = np.arange(6.0)
    >>> bool(np.allclose(mode_products([A, B], x.reshape(3, 2)).ravel(), np.kron(A, B) @ x))
    True
    """
    shape = list(t.shape)
    for k, F in enumerate(factors):
        if k == 0:
            t = F @ t.reshape(shape[0], -1)
        elif k == len(shape) - 1:
            t = t.reshape(-1, shape[k]) @ F.T
        else:
            t = F @ t.reshape(math.prod(shape[:k]), shape[k], -1)
        shape[k] = int(F.shape[0])
    return t.reshape(shape)


class Kronecker:
    """Kronecker product of dense factors (numpy or torch, real or complex).

    Parameters
    ----------
    factors : sequence of 2-D arrays
        ``A_1, …, A_d`` with shapes ``m_i x n_i``; all numpy or all torch.
    """

    def __init__(self, factors: Sequence[Any]) -> None:
        if len(factors) < 1:
            raise ValueError("factors: need at least one factor")
        is_torch = [isinstance(f, torch.Tensor) for f in factors]
        if any(is_torch) and not all(is_torch):
            raise TypeError("factors: mix of numpy and torch; use one kind")
        self._torch = all(is_torch)
        fs = list(factors) if self._torch else [np.asarray(f) for f in factors]
        for i, f in enumerate(fs):
            if f.ndim != 2:
                raise ValueError(f"factors[{i}]: expected a 2-D matrix, got {f.ndim}-D")
        self.factors = fs

    @property
    def shape(self) -> tuple[int, int]:
        return (
            math.prod(int(f.shape[0]) for f in self.factors),
            math.prod(int(f.shape[1]) for f in self.factors),
        )

    @property
    def dtype(self) -> Any:
        if self._torch:
            out = self.factors[0].dtype
            for f in self.factors[1:]:
                out = torch.promote_types(out, f.dtype)
            return out
        return np.result_type(*self.factors)

    def _apply(self, factors: list[Any], x: Any, n_in: list[int]) -> Any:
        vec = x.ndim == 1
        t = mode_products(factors, x.reshape(*n_in) if vec else x.reshape(*n_in, x.shape[1]))
        rows = math.prod(int(f.shape[0]) for f in factors)
        return t.reshape(rows) if vec else t.reshape(rows, x.shape[1])

    def _check(self, x: Any, n: int, name: str) -> None:
        if x.ndim not in (1, 2) or x.shape[0] != n:
            raise ValueError(f"{name}: expected shape ({n},) or ({n}, k), got {tuple(x.shape)}")

    def matvec(self, x: Any) -> Any:
        """``(A_1 ⊗ … ⊗ A_d) x`` for a vector or a matrix of columns.

        Parameters
        ----------
        x : array or tensor, shape ``(n,)`` or ``(n, k)``

        Returns
        -------
        array or tensor, shape ``(m,)`` or ``(m, k)``
        """
        self._check(x, self.shape[1], "x")
        return self._apply(self.factors, x, [int(f.shape[1]) for f in self.factors])

    matmat = matvec

    def rmatvec(self, y: Any) -> Any:
        """``(A_1 ⊗ … ⊗ A_d)^H y`` (conjugate transpose).

        Parameters
        ----------
        y : array or tensor, shape ``(m,)`` or ``(m, k)``

        Returns
        -------
        array or tensor, shape ``(n,)`` or ``(n, k)``
        """
        self._check(y, self.shape[0], "y")
        return self.H.matvec(y)

    @property
    def T(self) -> Kronecker:  # noqa: N802
        return Kronecker([f.T for f in self.factors])

    @property
    def H(self) -> Kronecker:  # noqa: N802
        return Kronecker([f.conj().T for f in self.factors])

    def __matmul__(self, x: Any) -> Any:
        return self.matvec(x)

    def to_dense(self) -> Any:
        """The full product (small problems and tests only)."""
        out = self.factors[0]
        for f in self.factors[1:]:
            out = torch.kron(out, f) if self._torch else np.kron(out, f)
        return out

    def aslinearoperator(self) -> spla.LinearOperator:
        """A ``scipy.sparse.linalg.LinearOperator`` view (numpy factors)."""
        if self._torch:
            raise TypeError("aslinearoperator: needs numpy factors")
        return spla.LinearOperator(
            self.shape, matvec=self.matvec, rmatvec=self.rmatvec, matmat=self.matmat,
            dtype=self.dtype,
        )

    def __repr__(self) -> str:
        sizes = " ⊗ ".join(f"{f.shape[0]}x{f.shape[1]}" for f in self.factors)
        return f"Kronecker({sizes}, shape={self.shape})"
