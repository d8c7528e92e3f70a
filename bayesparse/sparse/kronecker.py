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

__all__ = ["Kronecker"]


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
        k = 1 if vec else x.shape[1]
        t = x.reshape(*n_in, k)
        for axis, f in enumerate(factors):
            if self._torch:
                t = torch.movedim(torch.tensordot(f, t, dims=([1], [axis])), 0, axis)
            else:
                t = np.moveaxis(np.tensordot(f, t, axes=(1, axis)), 0, axis)
        rows = math.prod(int(f.shape[0]) for f in factors)
        return t.reshape(rows) if vec else t.reshape(rows, k)

    def _check(self, x: Any, n: int, name: str) -> None:
        if x.ndim not in (1, 2) or x.shape[0] != n:
            raise ValueError(f"{name}: expected shape ({n},) or ({n}, k), got {tuple(x.shape)}")

    def matvec(self, x: Any) -> Any:
        """``(A_1 ⊗ … ⊗ A_d) x`` for a vector or a matrix of columns."""
        self._check(x, self.shape[1], "x")
        return self._apply(self.factors, x, [int(f.shape[1]) for f in self.factors])

    matmat = matvec

    def rmatvec(self, y: Any) -> Any:
        """``(A_1 ⊗ … ⊗ A_d)^H y`` (conjugate transpose)."""
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
