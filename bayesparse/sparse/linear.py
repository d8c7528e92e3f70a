"""``sparse_linear``: ``x @ W.T`` for a sparse weight ``W`` with autograd to its values.

The weight is a support (a ``SparseTensor`` pattern, ``out x in``) plus a values vector. The
forward pass is one CSR sparse-times-dense product; the backward pass is another (with the
transposed CSR, for the input gradient) and one SDDMM (``torch.sparse.sampled_addmm``: the
dense product ``grad_out.T @ x`` sampled on the support, for the value gradient). Every kernel
costs ``O(batch * nnz)``, so a layer at density ``d`` costs about ``d`` of a dense one, which
plain ``torch.sparse.mm`` on a COO tensor with ``requires_grad`` does not achieve on CPU.

Examples
--------
>>> import torch
>>> from bayesparse.sparse import random_pattern
>>> from bayesparse.sparse.linear import SparseLinearPlan, sparse_linear
>>> plan = SparseLinearPlan(random_pattern((3, 5), 0.4, random_state=0))
>>> w = torch.randn(plan.nnz, requires_grad=True)
>>> x = torch.randn(2, 5)
>>> y = sparse_linear(x, w, plan)
>>> torch.allclose(y, x @ plan.densify(w).T)
True
"""

from __future__ import annotations

import torch

from bayesparse.sparse.tensor import SparseTensor, _csr_tensor

__all__ = ["SparseLinearPlan", "sparse_linear"]


class SparseLinearPlan:
    """The index structures of one support, built once per support change.

    Everything comes from the ``SparseTensor``: its CSR arrays for ``W`` and, for ``W.T``, its
    cached transpose (``support.T``) and the permutation ``support.transpose_order()``.

    Parameters
    ----------
    support : SparseTensor
        The ``out x in`` support (values, if any, are ignored).

    Attributes
    ----------
    support : SparseTensor
        The support as a pattern.
    shape : (int, int)
    nnz : int
    crow, col : Tensor
        CSR arrays of ``W``.
    perm_t : Tensor
        ``W.T``'s values are ``values[perm_t]``.
    crow_t, col_t : Tensor
        CSR arrays of ``W.T``.

    Examples
    --------
    >>> from bayesparse.sparse import random_pattern
    >>> SparseLinearPlan(random_pattern((4, 4), 0.5, random_state=0)).nnz
    8
    """

    def __init__(self, support: SparseTensor) -> None:
        if not isinstance(support, SparseTensor):
            raise TypeError(f"support: expected a SparseTensor, got {type(support).__name__}")
        self.support = support if support.is_pattern else support.pattern()
        self.shape = support.shape
        self.nnz = support.nnz
        self.crow = self.support.crow
        self.col = self.support.col
        self.perm_t = self.support.transpose_order()
        transposed = self.support.T
        self.crow_t = transposed.crow
        self.col_t = transposed.col

    def csr(self, values: torch.Tensor) -> torch.Tensor:
        """``W`` as a torch CSR tensor holding ``values``.

        Parameters
        ----------
        values : Tensor, shape ``nnz``
            In the support's CSR order.

        Returns
        -------
        Tensor (sparse CSR)
        """
        return _csr_tensor(self.crow, self.col, values, self.shape)

    def csr_t(self, values: torch.Tensor) -> torch.Tensor:
        """``W.T`` as a torch CSR tensor (``values`` given in ``W``'s order).

        Parameters
        ----------
        values : Tensor, shape ``nnz``

        Returns
        -------
        Tensor (sparse CSR)
        """
        return _csr_tensor(self.crow_t, self.col_t, values[self.perm_t], self.shape[::-1])

    def densify(self, values: torch.Tensor) -> torch.Tensor:
        """Dense ``out x in`` weight with ``values`` on the support (differentiable).

        Parameters
        ----------
        values : Tensor, shape ``nnz``

        Returns
        -------
        Tensor, shape ``self.shape``
        """
        out = values.new_zeros(self.shape)
        return out.index_put((self.support.row, self.col), values)


class _SparseLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, values: torch.Tensor, plan: SparseLinearPlan):  # type: ignore[override]
        ctx.plan = plan
        ctx.save_for_backward(x, values)
        return torch.sparse.mm(plan.csr(values), x.T).T

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        x, values = ctx.saved_tensors
        plan: SparseLinearPlan = ctx.plan
        gx = gv = None
        if ctx.needs_input_grad[0]:
            gx = torch.sparse.mm(plan.csr_t(values), grad.T).T
        if ctx.needs_input_grad[1]:
            sampled = torch.sparse.sampled_addmm(
                plan.csr(values), grad.T.contiguous(), x.contiguous(), beta=0.0
            )
            gv = sampled.values()
        return gx, gv, None


def sparse_linear(x: torch.Tensor, values: torch.Tensor, plan: SparseLinearPlan) -> torch.Tensor:
    """``x @ W.T`` with ``W`` the sparse matrix of ``values`` on ``plan``'s support.

    Parameters
    ----------
    x : Tensor, shape ``batch x in``
    values : Tensor, shape ``nnz``
        The weight's values in the support's CSR order.
    plan : SparseLinearPlan

    Returns
    -------
    Tensor, shape ``batch x out``

    Examples
    --------
    >>> import torch
    >>> from bayesparse.sparse import SparseTensor
    >>> plan = SparseLinearPlan(SparseTensor([[0, 1], [1, 0]], None, (2, 2)))
    >>> sparse_linear(torch.tensor([[1.0, 2.0]]), torch.tensor([3.0, 4.0]), plan).tolist()
    [[6.0, 4.0]]
    """
    if x.ndim != 2 or x.shape[1] != plan.shape[1]:
        raise ValueError(
            f"x: expected shape (batch, {plan.shape[1]}), got {tuple(x.shape)}"
        )
    if values.shape != (plan.nnz,):
        raise ValueError(f"values: expected shape ({plan.nnz},), got {tuple(values.shape)}")
    return _SparseLinear.apply(x, values, plan)
