"""Tests for ``row_mass_truncate`` against a dense reference (exact, no tolerance needed)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bayesparse.sparse import SparseTensor
from bayesparse.sparse.truncation import row_mass_truncate, row_mass_truncate_csr


def _reference(x: np.ndarray, tol: float) -> np.ndarray:
    thr = x.sum(1, keepdims=True) * tol / x.shape[1]
    return np.where((x >= thr) & (x > 0), x, 0.0)


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(1, 30),
    m=st.integers(1, 30),
    tol=st.sampled_from([0.0, 1e-12, 1e-6, 1e-2, 0.5]),
    spread=st.floats(0.0, 30.0),
    seed=st.integers(0, 2**16),
)
def test_matches_dense_reference_and_mass_bound(n, m, tol, spread, seed):
    rng = np.random.default_rng(seed)
    x = np.exp(-spread * rng.random((n, m)))
    x[rng.random((n, m)) < 0.2] = 0.0
    s = row_mass_truncate(x, tol)
    assert isinstance(s, SparseTensor) and s.shape == (n, m)
    kept = s.to_dense().numpy()
    np.testing.assert_array_equal(kept, _reference(x, tol))
    # at most a fraction tol of each row's mass is dropped
    assert (kept.sum(1) >= (1 - tol) * x.sum(1) - 1e-15).all()
    # the CSR views agree with the COO indices
    csr = s.to_scipy()
    np.testing.assert_array_equal(csr.toarray(), kept)
    np.testing.assert_array_equal(s.crow.numpy(), csr.indptr)


def test_row_scale_and_row_sums():
    rng = np.random.default_rng(0)
    w = rng.random((6, 8)) ** 8
    u = rng.random(6) + 0.5
    direct = row_mass_truncate(u[:, None] * w, 1e-3)
    scaled = row_mass_truncate(w, 1e-3, row_sums=w.sum(1), row_scale=u)
    assert torch_equal(direct, scaled)


def test_col_scale_truncates_the_scaled_matrix_without_forming_it():
    """``diag(u) W diag(v)`` (a plan in scaled form) truncated from ``W``, ``u`` and ``v``
    keeps the entries and values of the truncation of the formed matrix."""
    rng = np.random.default_rng(1)
    w = rng.random((7, 9)) ** 6
    u, v = rng.random(7) + 0.5, rng.random(9) + 0.5
    direct = row_mass_truncate(u[:, None] * w * v[None, :], 1e-3).to_scipy()
    scaled = row_mass_truncate_csr(w, 1e-3, row_scale=u, col_scale=v)
    np.testing.assert_array_equal(scaled.indptr, direct.indptr)
    np.testing.assert_array_equal(scaled.indices, direct.indices)
    np.testing.assert_allclose(scaled.data, direct.data, rtol=1e-14)
    with pytest.raises(ValueError, match="col_scale"):
        row_mass_truncate_csr(w, 1e-3, col_scale=-v)


def torch_equal(s1: SparseTensor, s2: SparseTensor) -> bool:
    return bool((s1.indices == s2.indices).all()) and np.allclose(
        s1.values.numpy(), s2.values.numpy(), rtol=1e-15
    )


def test_zero_rows_keep_nothing():
    x = np.array([[0.0, 0.0, 0.0], [0.2, 0.0, 0.8]])
    s = row_mass_truncate(x, 1e-6)
    assert s.nnz == 2 and s.crow.tolist() == [0, 0, 2]


@pytest.mark.parametrize(
    "x, tol, kwargs, match",
    [
        (np.ones(3), 0.1, {}, "x: expected a 2-D numpy array"),
        (np.ones((2, 2)), 1.0, {}, "tol: expected 0 <= tol < 1"),
        (np.ones((2, 2)), -0.1, {}, "tol: expected 0 <= tol < 1"),
        (np.ones((2, 2)), 0.1, {"row_sums": np.ones(3)}, "row_sums: expected shape"),
    ],
)
def test_bad_input(x, tol, kwargs, match):
    with pytest.raises(ValueError, match=match):
        row_mass_truncate(x, tol, **kwargs)
