"""SDR code helpers vs set arithmetic: overlap with stored zeros, subsampling and noise."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bayesparse.sparse import SparseTensor, overlap
from bayesparse.sparse.codes import add_noise, subsample


def test_overlap_ignores_stored_zeros():
    # Regression (issue 11 item 5): a stored 0.0 used to count as an active bit.
    idx = torch.tensor([[0, 0, 1, 1], [0, 2, 0, 2]])
    vals = torch.tensor([1.0, 0.0, 1.0, 1.0])
    codes = SparseTensor(idx, vals, shape=(2, 4))
    assert overlap(codes).tolist() == [[1, 1], [1, 2]]


def test_overlap_rejects_non_binary_values():
    codes = SparseTensor.from_dense(torch.tensor([[0.5, 1.0]]))
    with pytest.raises(ValueError, match="a: codes must be binary"):
        overlap(codes)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 8), st.integers(0, 8))
def test_subsample_and_noise_keep_sizes_and_overlap(seed, a, k):
    rng = np.random.default_rng(seed)
    n = 30
    rows = [np.sort(rng.choice(n, a, replace=False)) for _ in range(4)]
    codes = SparseTensor.from_rows(rows, n)
    kk = min(k, a)
    sub = subsample(codes, kk, random_state=seed)
    assert sub.sum(dim=1).tolist() == [kk] * 4
    assert np.diag(overlap(sub, codes)).tolist() == [kk] * 4
    noisy = add_noise(codes, kk, random_state=seed)
    assert noisy.sum(dim=1).tolist() == [a] * 4
    assert np.diag(overlap(noisy, codes)).tolist() == [a - kk] * 4
    again = add_noise(codes, kk, random_state=seed)
    assert torch.equal(again.col, noisy.col)


def test_bad_counts_name_the_argument():
    codes = SparseTensor.from_rows([[0, 1, 2]], 5)
    with pytest.raises(ValueError, match="k: cannot keep 4"):
        subsample(codes, 4)
    with pytest.raises(ValueError, match="k: cannot move 3"):
        add_noise(codes, 3)
    with pytest.raises(ValueError, match="k: expected a non-negative"):
        subsample(codes, -1)
