"""SparseTensor: round trips, products, selection and validation against dense references."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bayesparse.sparse import SparseTensor

DTYPES = [np.float32, np.float64, np.complex128]


@st.composite
def sparse_dense(draw, dtype=np.float64):
    """A dense matrix with a random zero pattern (so it is genuinely sparse)."""
    rows = draw(st.integers(1, 12))
    cols = draw(st.integers(1, 12))
    vals = draw(arrays(dtype, (rows, cols), elements=st.floats(-5, 5, width=32)))
    mask = draw(arrays(np.bool_, (rows, cols)))
    return np.where(mask, vals, 0).astype(dtype)


@given(sparse_dense())
@settings(max_examples=60, deadline=None)
def test_round_trips_are_exact(x):
    s = SparseTensor.from_dense(x)
    assert np.array_equal(s.numpy(), x)
    assert np.array_equal(SparseTensor.from_scipy(s.to_scipy()).numpy(), x)
    assert np.array_equal(SparseTensor.from_scipy(s.to_scipy("coo")).numpy(), x)
    assert np.array_equal(SparseTensor.from_torch(s.to_torch("csr")).numpy(), x)
    assert np.array_equal(SparseTensor.from_torch(s.to_torch("coo")).numpy(), x)
    assert np.array_equal(s.to_torch("coo").to_dense().numpy(), x)
    assert np.array_equal(s.to_scipy().toarray(), x)
    assert s.nnz == np.count_nonzero(x)
    assert s.density == pytest.approx(np.count_nonzero(x) / x.size)


@given(sparse_dense(), st.integers(1, 4), st.integers(0, 2**31 - 1))
@settings(max_examples=60, deadline=None)
def test_matmul_equals_dense_product(x, k, seed):
    rng = np.random.default_rng(seed)
    s = SparseTensor.from_dense(x)
    right = rng.normal(size=(x.shape[1], k))
    left = rng.normal(size=(k, x.shape[0]))
    # torch path (both sides, vector and matrix) and scipy path
    np.testing.assert_allclose((s @ torch.from_numpy(right)).numpy(), x @ right, atol=1e-12)
    np.testing.assert_allclose((s @ torch.from_numpy(right[:, 0])).numpy(), x @ right[:, 0],
                               atol=1e-12)
    np.testing.assert_allclose((torch.from_numpy(left) @ s).numpy(), left @ x, atol=1e-12)
    np.testing.assert_allclose(s @ right, x @ right, atol=1e-12)
    np.testing.assert_allclose(left @ s, left @ x, atol=1e-12)
    np.testing.assert_allclose((s @ s.T).numpy(), x @ x.T, atol=1e-12)


@given(sparse_dense(), st.data())
@settings(max_examples=60, deadline=None)
def test_topk_keeps_the_k_largest(x, data):
    k = data.draw(st.integers(0, x.size))
    s = SparseTensor.topk(x, k)
    assert s.nnz == k
    kept = np.abs(s.values.numpy())
    dropped = np.abs(np.delete(x.reshape(-1), (s.row * x.shape[1] + s.col).numpy()))
    if k and dropped.size:
        assert kept.min() >= dropped.max()
    kr = data.draw(st.integers(0, x.shape[1]))
    r = SparseTensor.topk(x, kr, dim=1)
    assert np.array_equal(r.sum(dim=1).numpy() if r.is_pattern else
                          np.bincount(r.row.numpy(), minlength=x.shape[0]),
                          np.full(x.shape[0], kr))
    for i in range(x.shape[0]):
        row = np.abs(x[i])
        mine = np.sort(np.abs(r[i].values.numpy()))
        np.testing.assert_allclose(mine, np.sort(row)[x.shape[1] - kr:])


def test_topk_by_value_ranks_signed_scores():
    x = torch.tensor([[-9.0, 1.0, 2.0]])
    assert SparseTensor.topk(x, 1, by="value").col.tolist() == [2]
    assert SparseTensor.topk(x, 1, by="abs").col.tolist() == [0]


def test_threshold_keeps_entries_above():
    x = np.array([[0.1, -0.5, 2.0], [0.0, 0.3, -0.2]])
    s = SparseTensor.from_dense(x, threshold=0.25)
    assert s.to_dense().numpy().tolist() == [[0, -0.5, 2.0], [0, 0.3, 0]]


def test_duplicates_are_summed_and_order_canonicalized():
    s = SparseTensor([[1, 0, 1], [0, 2, 0]], [1.0, 2.0, 3.0], (2, 3))
    assert s.indices.tolist() == [[0, 1], [2, 0]]
    assert s.values.tolist() == [2.0, 4.0]


@pytest.mark.parametrize("dtype", DTYPES)
def test_dtype_kept_through_conversions(dtype):
    x = (np.arange(12).reshape(3, 4) % 3).astype(dtype)
    s = SparseTensor.from_dense(x)
    assert s.to_scipy().dtype == dtype
    assert s.to_dense().numpy().dtype == dtype


def test_scipy_csr_conversion_shares_values_memory():
    s = SparseTensor.from_dense(np.eye(4))
    m = s.to_scipy()
    assert np.shares_memory(m.data, s.values.numpy())
    csr = s.to_torch("csr")
    assert csr.values().data_ptr() == s.values.data_ptr()


def test_row_slicing_matches_dense():
    rng = np.random.default_rng(0)
    x = np.where(rng.random((7, 5)) < 0.4, rng.normal(size=(7, 5)), 0)
    s = SparseTensor.from_dense(x)
    for sel in ([0, 3, 3, 6], slice(1, 5), slice(None, None, -2), np.array([5, -1])):
        np.testing.assert_array_equal(s[sel].numpy(), x[sel])
    np.testing.assert_array_equal(s[2].numpy(), x[2:3])
    with pytest.raises(IndexError, match="rows"):
        s[[7]]


def test_value_maps_keep_the_pattern():
    s = SparseTensor.from_dense(np.array([[0.0, -2.0], [3.0, 0.0]]))
    assert s.apply(torch.abs).numpy().tolist() == [[0, 2], [3, 0]]
    assert s.with_values(s.values * s.values).numpy().tolist() == [[0, 4], [9, 0]]
    assert s.apply(torch.exp).nnz == 2  # zeros stay zeros
    with pytest.raises(TypeError):
        s * 2  # no elementwise operators: values are mapped with apply/with_values


def test_autograd_flows_to_values_and_dense_operand():
    s = SparseTensor.from_dense(
        torch.tensor([[0.0, 2.0], [1.0, 0.0], [0.0, 3.0]], dtype=torch.float64)
    )
    v = s.values.clone().requires_grad_(True)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    y = s.with_values(v) @ x
    y.sum().backward()
    dense = torch.zeros(3, 2, dtype=torch.float64)
    dense[s.row, s.col] = v.detach()
    expected = dense.T @ torch.ones(3, 4, dtype=torch.float64)
    np.testing.assert_allclose(x.grad.numpy(), expected.numpy(), rtol=1e-6)
    np.testing.assert_allclose(v.grad.numpy(), x.detach().sum(1)[s.col].numpy(), rtol=1e-6)


def test_pattern_behaves_as_ones():
    p = SparseTensor([[0, 1], [1, 0]], None, (2, 2))
    assert p.is_pattern and p.dtype == torch.bool
    assert (p @ torch.tensor([1.0, 2.0])).tolist() == [2.0, 1.0]
    assert p.to_dense().tolist() == [[False, True], [True, False]]
    assert p.sum().item() == 2


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        (dict(indices=[[0, -1], [0, 0]], values=None, shape=(2, 2)), ValueError, "negative"),
        (dict(indices=[[0, 2], [0, 0]], values=None, shape=(2, 2)), ValueError, "row index 2"),
        (dict(indices=[[0, 1], [0, 5]], values=None, shape=(2, 2)), ValueError, "column index 5"),
        (dict(indices=[[0], [0]], values=[1.0, 2.0], shape=(2, 2)), ValueError, "values"),
        (dict(indices=[[0, 1, 2]], values=None, shape=(2, 2)), ValueError, r"\(2, nnz\)"),
        (dict(indices=[[0.0], [0.0]], values=None, shape=(2, 2)), TypeError, "integers"),
        (dict(indices=[[0], [0]], values=np.array(["a"]), shape=(2, 2)), TypeError, "dtype"),
        (dict(indices=[[0], [0]], values=None, shape=(2, 2, 2)), ValueError, "shape"),
        (dict(indices=[[0], [0]], values=[np.nan], shape=(2, 2), check_finite=True),
         ValueError, "NaN"),
    ],
)
def test_bad_input_names_the_argument(kwargs, err, match):
    with pytest.raises(err, match=match):
        SparseTensor(**kwargs)


def test_bad_products_and_sources():
    s = SparseTensor.from_dense(np.eye(3))
    with pytest.raises(ValueError, match="inner sizes"):
        s @ torch.ones(4, dtype=torch.float64)
    with pytest.raises(TypeError, match="dtype"):
        s @ torch.ones(3, dtype=torch.float32)
    with pytest.raises(TypeError, match="scipy.sparse"):
        SparseTensor.from_scipy(np.eye(2))
    with pytest.raises(ValueError, match="2-D"):
        SparseTensor.from_dense(np.ones(3))
    with pytest.raises(ValueError, match="NaN"):
        SparseTensor.from_dense(np.array([[np.nan]]), check_finite=True)
    with pytest.raises(ValueError, match="k"):
        SparseTensor.topk(np.eye(2), 5)
    with pytest.raises(ValueError, match="dim"):
        SparseTensor.topk(np.eye(2), 1, dim=0)


def test_from_scipy_sums_duplicates_without_mutating_input():
    m = sp.coo_matrix(([1.0, 2.0], ([0, 0], [1, 1])), shape=(1, 2))
    s = SparseTensor.from_scipy(m)
    assert s.values.tolist() == [3.0]
    assert m.nnz == 2


def test_to_casts_values_and_keeps_pattern():
    s = SparseTensor.from_dense(np.array([[0.0, 1.5], [2.0, 0.0]]))
    f = s.to(dtype=torch.float32)
    assert f.dtype == torch.float32 and torch.equal(f.indices, s.indices)
    assert f.to_dense().tolist() == [[0.0, 1.5], [2.0, 0.0]]
    assert s.to("cpu").device == torch.device("cpu")
    p = s.pattern().to(device="cpu", dtype=torch.float64)
    assert p.is_pattern and p.nnz == 2
    with pytest.raises(TypeError, match="dtype"):
        s.to(dtype=torch.uint8)
