"""Kronecker operator vs np.kron, and SDR code overlaps/unions vs set arithmetic."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bayesparse.sparse import Kronecker, SparseTensor, overlap, union


@given(st.lists(st.tuples(st.integers(1, 4), st.integers(1, 4)), min_size=1, max_size=4),
       st.integers(0, 2**31 - 1), st.booleans(), st.integers(1, 3))
@settings(max_examples=60, deadline=None)
def test_kronecker_matches_dense(shapes, seed, complex_, k):
    rng = np.random.default_rng(seed)
    def draw(*s):
        z = rng.normal(size=s)
        return z + 1j * rng.normal(size=s) if complex_ else z
    factors = [draw(m, n) for m, n in shapes]
    K = Kronecker(factors)
    dense = K.to_dense()
    x = draw(K.shape[1], k)
    y = draw(K.shape[0])
    np.testing.assert_allclose(K @ x, dense @ x, atol=1e-10)
    np.testing.assert_allclose(K.matvec(x[:, 0]), dense @ x[:, 0], atol=1e-10)
    np.testing.assert_allclose(K.rmatvec(y), dense.conj().T @ y, atol=1e-10)
    np.testing.assert_allclose(K.T.to_dense(), dense.T, atol=1e-12)
    op = K.aslinearoperator()
    np.testing.assert_allclose(op.rmatvec(y), dense.conj().T @ y, atol=1e-10)


def test_kronecker_torch_and_errors():
    a, b = torch.randn(3, 2, dtype=torch.float64), torch.randn(4, 5, dtype=torch.float64)
    K = Kronecker([a, b])
    x = torch.randn(10, dtype=torch.float64)
    torch.testing.assert_close(K @ x, torch.kron(a, b) @ x)
    with pytest.raises(ValueError, match="x: expected shape"):
        K @ torch.randn(7, dtype=torch.float64)
    with pytest.raises(TypeError, match="mix of numpy and torch"):
        Kronecker([a, np.eye(2)])
    with pytest.raises(ValueError, match="2-D"):
        Kronecker([np.ones(3)])


@given(st.lists(st.sets(st.integers(0, 39), max_size=10), min_size=1, max_size=6),
       st.lists(st.sets(st.integers(0, 39), max_size=10), min_size=1, max_size=6))
@settings(max_examples=60, deadline=None)
def test_overlap_and_union_match_sets(a_sets, b_sets):
    a = SparseTensor.from_rows([sorted(s) for s in a_sets], 40)
    b = SparseTensor.from_rows([sorted(s) for s in b_sets], 40)
    expected = [[len(x & y) for y in b_sets] for x in a_sets]
    assert overlap(a, b).tolist() == expected
    assert union(a).col.tolist() == sorted(set().union(*a_sets))


def test_codes_errors():
    a = SparseTensor.from_rows([[1, 2]], 10)
    with pytest.raises(ValueError, match="bits"):
        overlap(a, SparseTensor.from_rows([[1]], 11))
    with pytest.raises(TypeError, match="SparseTensor"):
        overlap(np.ones((2, 2)))
