r"""The torch engine of Sinkhorn-Newton-Sparse: every step on the inputs' device.

:func:`~bayesparse.optim.sinkhorn_newton_sparse` (``engine="torch"``, the default for tensors
on a GPU) runs the same algorithm as on the CPU — epsilon-scaling stages, a Sinkhorn warm-up
in the stabilized kernel domain, sparse Newton steps with a line search; Tang et al., ICLR
2024, Algorithm 1, and the module notes there — with the array-library pieces given here:

* the kernel: :class:`~bayesparse.optim.stabilized_sinkhorn.StabilizedKernel` on tensors;
* the sparsified plan: :func:`~bayesparse.sparse.truncation.row_mass_truncate` on the
  tensor's device, a :class:`~bayesparse.sparse.SparseTensor` whose products are
  ``torch.sparse`` CSR products;
* the Newton system, by its Schur complement in ``dy``,
  ``(diag(c) - S^T diag(r)^{-1} S) dy = g_b - S^T (g_a / r)`` (the module notes of
  :mod:`bayesparse.optim.sinkhorn_newton_sparse`, Eq. 2), solved by projected conjugate
  gradients with two sparse products per iteration, preconditioned by Jacobi plus the same
  Galerkin coarse correction on column aggregates (:class:`TorchTwoLevel`). Where CG stalls
  (near-assignment plans) the Schur complement is formed densely and solved by a Cholesky
  factorization on the device (the CPU engine's sparse LU has no torch counterpart), or by
  its pseudo-inverse where it is numerically singular.

The implicit gradients (Eq. 3 there) are solved with the same pieces, on the same device.

Examples
--------
>>> import torch
>>> from bayesparse.optim import sinkhorn_newton_sparse2
>>> x = torch.linspace(0, 1, 40, dtype=torch.float64)[:, None]
>>> M = ((x - x.T) ** 2).requires_grad_()
>>> loss = sinkhorn_newton_sparse2([], [], M, reg=1e-3, engine="torch")
>>> loss.backward()
>>> loss.device == M.grad.device, bool(M.grad.isfinite().all())
(True, True)
"""

from __future__ import annotations

from typing import Any

import torch

from bayesparse.optim.sinkhorn_newton_sparse import (
    _CG_MAX_ITER,
    _COARSE_COLUMNS,
    _COARSE_MAX,
    _COARSE_MIN,
    _RIDGE,
    _Engine,
    _projected_pcg,
)
from bayesparse.sparse.tensor import SparseTensor
from bayesparse.sparse.truncation import row_mass_truncate

__all__ = ["TORCH_ENGINE", "TorchTwoLevel", "torch_sparse_direction"]


def torch_sparse_direction(
    S: SparseTensor, r: torch.Tensor, c: torch.Tensor, ga: torch.Tensor, gb: torch.Tensor,
    rtol: float, use_lu: bool, coarse: TorchTwoLevel | None = None,
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Newton direction of the sparsified system (Schur complement in ``dy``) on ``S``'s
    device.

    Parameters
    ----------
    S : SparseTensor, shape ``n x m``
        Sparsified plan (float64).
    r, c : Tensor
        Exact row and column sums of the plan (the Hessian's diagonal blocks).
    ga, gb : Tensor
        Marginal residuals ``a - r``, ``b - c``.
    rtol : float
        Relative residual at which CG stops.
    use_lu : bool
        Skip CG and solve the dense Schur complement directly.
    coarse : TorchTwoLevel, optional
        Coarse correction added to the Jacobi preconditioner.

    Returns
    -------
    dx, dy : Tensor
    n_cg : int
        CG iterations, negated when the direct solve was used.
    """
    inv_r = 1.0 / ((1.0 + _RIDGE) * r)
    c = (1.0 + _RIDGE) * c
    St = S.T
    rhs = gb - St @ (ga * inv_r)
    n_cg = 0
    if not use_lu:
        vals = S.values
        diag = c.index_add(0, S.col, inv_r[S.row] * vals * vals, alpha=-1.0)
        inv_d = 1.0 / torch.maximum(diag, 1e-3 * c)
        precond = (coarse.preconditioner(S, inv_r, c, inv_d) if coarse is not None
                   else lambda res: res * inv_d)
        dy, n_cg = _projected_pcg(lambda p: c * p - St @ (inv_r * (S @ p)), precond, c, rhs,
                                  rtol, _CG_MAX_ITER)
    if use_lu or n_cg >= _CG_MAX_ITER:
        # A = diag(c) - S^T diag(1/r) S, grounded at the last column (the null direction)
        Sd = S.to_dense()
        A = torch.diag(c) - Sd.T @ (inv_r[:, None] * Sd)
        dy = torch.zeros_like(c)
        L, info = torch.linalg.cholesky_ex(A[:-1, :-1])
        # numerically singular (the kept entries split the plan's graph, or cancellation in
        # the Schur complement): the least-squares direction, for the line search to judge
        dy[:-1] = (torch.cholesky_solve(rhs[:-1, None], L)[:, 0] if int(info) == 0
                   else torch.linalg.pinv(A[:-1, :-1], hermitian=True) @ rhs[:-1])
        n_cg = -max(n_cg, 1)
    dx = (ga - S @ dy) * inv_r
    return dx, dy, n_cg


class TorchTwoLevel:
    """The two-level CG preconditioner of the CPU engine (Jacobi plus a Galerkin coarse
    solve on about ``m / 32`` column aggregates, the cost-Voronoi cells of seed rows) in
    torch ops on ``M``'s device. The coarse factor is kept while the sparse pattern (its
    index tensors) is unchanged.

    Parameters
    ----------
    M : Tensor, shape ``n x m``
        Cost matrix (the aggregates are its columns' nearest seed rows).
    """

    def __init__(self, M: torch.Tensor) -> None:
        n, m = M.shape
        self.labels: torch.Tensor | None = None
        self._key: torch.Tensor | None = None
        self._factor: torch.Tensor | None = None
        k = min(_COARSE_MAX, m // _COARSE_COLUMNS, n)
        if k >= _COARSE_MIN:
            seeds = torch.linspace(0, n - 1, k, device=M.device).round().long()
            _, self.labels = torch.unique(M[seeds].argmin(0), return_inverse=True)

    def preconditioner(self, S: SparseTensor, inv_r: torch.Tensor, c: torch.Tensor,
                       inv_d: torch.Tensor) -> Any:
        """``res -> inv_d * res + R^T A_c^{-1} R res`` for the Schur complement of ``S``."""
        labels = self.labels
        if labels is None:
            return lambda res: res * inv_d
        k = int(labels.max()) + 1
        if S.indices is not self._key:
            self._key = S.indices
            B = inv_r.new_zeros((S.shape[0], k))
            B.index_put_((S.row, labels[S.col]), S.values, accumulate=True)
            Ac = torch.diag(c.new_zeros(k).index_add_(0, labels, c))
            Ac -= B.T @ (inv_r[:, None] * B)
            Ac += torch.trace(Ac) / k**2
            L, info = torch.linalg.cholesky_ex(Ac)
            self._factor = L if int(info) == 0 else None
        L = self._factor
        if L is None:
            return lambda res: res * inv_d

        def precond(res: torch.Tensor) -> torch.Tensor:
            w = res.new_zeros(k).index_add_(0, labels, res)
            w = torch.cholesky_solve(w[:, None], L)[:, 0]
            return res * inv_d + w[labels]

        return precond


TORCH_ENGINE = _Engine(row_mass_truncate, torch_sparse_direction, TorchTwoLevel)
