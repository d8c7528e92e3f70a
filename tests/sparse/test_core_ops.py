"""Operations other components need on the type: transpose order, Kronecker supports,
value maps that stay on the scipy side, and SparseLinearPlan built from the tensor."""

import numpy as np
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bayesparse.sparse import SparseTensor, random_pattern
from bayesparse.sparse.linear import SparseLinearPlan, sparse_linear


@given(st.integers(1, 12), st.integers(1, 12), st.floats(0.05, 1.0), st.integers(0, 10**6))
@settings(max_examples=60, deadline=None)
def test_transpose_order_matches_scipy_transpose(rows, cols, density, seed):
    p = random_pattern((rows, cols), density, random_state=seed)
    vals = torch.randn(p.nnz, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    s = p.with_values(vals)
    ref = s.to_scipy().T.tocsr()
    ref.sort_indices()
    t = s.T
    np.testing.assert_array_equal(t.crow.numpy(), ref.indptr)
    np.testing.assert_array_equal(t.col.numpy(), ref.indices)
    np.testing.assert_array_equal(t.values.numpy(), ref.data)
    np.testing.assert_array_equal(s.values[s.transpose_order()].numpy(), ref.data)


def test_transpose_order_no_overflow_on_huge_shapes():
    s = SparseTensor([[2**24 - 1, 0], [0, 2**40 - 1]], [1.0, 2.0], (2**24, 2**40))
    assert s.T.row.tolist() == [0, 2**40 - 1] and s.T.values.tolist() == [1.0, 2.0]


@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 5), st.integers(1, 5),
       st.integers(0, 10**6))
@settings(max_examples=40, deadline=None)
def test_kron_matches_scipy(m1, n1, m2, n2, seed):
    rng = np.random.default_rng(seed)
    a = sp.random(m1, n1, density=0.5, random_state=rng, format="csr")
    b = sp.random(m2, n2, density=0.5, random_state=rng, format="csr")
    k = SparseTensor.from_scipy(a).kron(SparseTensor.from_scipy(b))
    np.testing.assert_allclose(k.numpy(), sp.kron(a, b).toarray(), rtol=1e-12)
    pk = SparseTensor.from_scipy(a, pattern=True).kron(SparseTensor.from_scipy(b, pattern=True))
    assert pk.is_pattern
    np.testing.assert_array_equal(pk.numpy() != 0, sp.kron(a, b).toarray() != 0)


def test_kron_of_one_dimensional_supports_gives_flat_separable_support():
    rows, cols = [1, 3], [0, 2]
    flat = SparseTensor.from_rows([rows], 4).kron(SparseTensor.from_rows([cols], 3))
    expected = sorted(r * 3 + c for r in rows for c in cols)
    assert flat.shape == (1, 12) and flat.col.tolist() == expected


def test_with_values_shares_scipy_structure():
    s = SparseTensor.from_scipy(sp.random(30, 20, density=0.2, random_state=0, format="csr"))
    base = s.to_scipy()
    sq = s.with_values(base.data ** 2)
    m = sq.to_scipy()
    assert np.shares_memory(m.indices, base.indices) and np.shares_memory(m.indptr, base.indptr)
    np.testing.assert_allclose(m.toarray(), base.toarray() ** 2)


def test_plan_uses_the_tensors_transpose_and_matches_dense():
    support = random_pattern((7, 9), 0.4, random_state=1)
    plan = SparseLinearPlan(support)
    assert plan.perm_t is support.transpose_order()  # one cached transpose path
    assert torch.equal(plan.crow_t, support.T.crow) and torch.equal(plan.col_t, support.T.col)
    g = torch.Generator().manual_seed(0)
    w = torch.randn(plan.nnz, dtype=torch.float64, generator=g, requires_grad=True)
    x = torch.randn(4, 9, dtype=torch.float64, generator=g, requires_grad=True)
    y = sparse_linear(x, w, plan)
    dense = plan.densify(w)
    torch.testing.assert_close(y, x @ dense.T, rtol=1e-12, atol=1e-12)
    gy = torch.randn_like(y)
    gx, gw = torch.autograd.grad(y, (x, w), gy)
    rx, rw = torch.autograd.grad(x @ dense.T, (x, w), gy)
    torch.testing.assert_close(gx, rx, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(gw, rw, rtol=1e-12, atol=1e-12)
