"""sparse_linear vs the dense product of the densified weight (float64, tolerance 1e-12)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bayesparse.sparse import SparseTensor, random_pattern
from bayesparse.sparse.linear import SparseLinearPlan, sparse_linear


@settings(max_examples=25, deadline=None)
@given(
    out=st.integers(1, 12), inp=st.integers(1, 12), batch=st.integers(1, 6),
    density=st.floats(0.05, 1.0), seed=st.integers(0, 1000),
)
def test_forward_and_gradients_match_dense(out, inp, batch, density, seed):
    plan = SparseLinearPlan(random_pattern((out, inp), density, random_state=seed))
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(plan.nnz, dtype=torch.float64, generator=gen, requires_grad=True)
    x = torch.randn(batch, inp, dtype=torch.float64, generator=gen, requires_grad=True)
    g = torch.randn(batch, out, dtype=torch.float64, generator=gen)
    y = sparse_linear(x, w, plan)
    gx, gw = torch.autograd.grad(y, (x, w), g)
    w_dense = plan.densify(w)
    y_ref = x @ w_dense.T
    gx_ref, gw_ref = torch.autograd.grad(y_ref, (x, w), g)
    torch.testing.assert_close(y, y_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(gx, gx_ref, rtol=0, atol=1e-12)
    torch.testing.assert_close(gw, gw_ref, rtol=0, atol=1e-12)


def test_gradcheck():
    plan = SparseLinearPlan(random_pattern((6, 9), 0.3, random_state=1))
    w = torch.randn(plan.nnz, dtype=torch.float64, requires_grad=True)
    x = torch.randn(4, 9, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: sparse_linear(a, b, plan), (x, w))


def test_transpose_plan_matches_sparse_tensor_transpose():
    s = random_pattern((7, 5), 0.4, random_state=2)
    plan = SparseLinearPlan(s)
    vals = torch.arange(s.nnz, dtype=torch.float64)
    torch.testing.assert_close(plan.csr_t(vals).to_dense(), plan.csr(vals).to_dense().T)


def test_bad_input():
    plan = SparseLinearPlan(SparseTensor([[0], [1]], None, (2, 3)))
    with pytest.raises(ValueError, match="x: expected shape"):
        sparse_linear(torch.zeros(2, 4), torch.zeros(1), plan)
    with pytest.raises(ValueError, match="values: expected shape"):
        sparse_linear(torch.zeros(2, 3), torch.zeros(2), plan)
    with pytest.raises(TypeError, match="support"):
        SparseLinearPlan(torch.zeros(2, 2))
