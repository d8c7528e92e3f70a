"""Structured patterns: exact counts and selection rules, against brute-force references."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from bayesparse.sparse import (
    block_pattern,
    check_density,
    nm_sparsify,
    random_pattern,
)


@given(st.data())
@settings(max_examples=60, deadline=None)
def test_nm_has_exactly_n_of_every_m(data):
    m = data.draw(st.integers(1, 8))
    n = data.draw(st.integers(1, m))
    rows, groups = data.draw(st.integers(1, 6)), data.draw(st.integers(1, 5))
    x = data.draw(arrays(np.float64, (rows, groups * m),
                         elements=st.floats(-10, 10), unique=True))
    s = nm_sparsify(x, n, m)
    dense = s.numpy()
    assert s.nnz == rows * groups * n
    for r in range(rows):
        for g in range(groups):
            block = x[r, g * m:(g + 1) * m]
            kept_cols = s[r].col.numpy()
            kept = kept_cols[(kept_cols >= g * m) & (kept_cols < (g + 1) * m)] - g * m
            assert len(kept) == n
            # the kept ones are the n largest magnitudes of the group (ties may go either way)
            np.testing.assert_array_equal(np.sort(np.abs(block[kept])),
                                          np.sort(np.abs(block))[m - n:])
            np.testing.assert_array_equal(dense[r, g * m + kept], block[kept])


@given(st.integers(1, 30), st.integers(1, 30), st.floats(0.01, 1.0), st.integers(0, 1000))
@settings(max_examples=60, deadline=None)
def test_random_pattern_has_requested_count(rows, cols, density, seed):
    p = random_pattern((rows, cols), density, random_state=seed)
    assert p.nnz == max(1, round(density * rows * cols))
    assert p.is_pattern
    q = random_pattern((rows, cols), density, random_state=seed, per_row=True)
    assert np.all(np.bincount(q.row.numpy(), minlength=rows) == max(1, round(density * cols)))


def test_random_pattern_reproducible_and_uniform():
    a = random_pattern((200, 300), 0.05, random_state=3)
    b = random_pattern((200, 300), 0.05, random_state=3)
    assert torch.equal(a.indices, b.indices)
    # uniformity: column counts over many draws ~ binomial; chi-square style bound
    counts = np.zeros(300)
    for seed in range(20):
        counts += np.bincount(random_pattern((200, 300), 0.05, random_state=seed).col.numpy(),
                              minlength=300)
    expected = 20 * 0.05 * 200
    assert abs(counts.mean() - expected) < 1e-9
    assert counts.std() < 3 * np.sqrt(expected)


def test_random_pattern_large_and_sparse_is_fast_and_exact():
    p = random_pattern((10**5, 10**5), 1e-4, random_state=0)
    assert p.nnz == 10**6
    key = p.row * 10**5 + p.col
    assert torch.unique(key).numel() == 10**6


def test_block_pattern_counts():
    p = block_pattern((8, 12), (2, 3), 0.25, random_state=0)
    assert p.nnz == round(0.25 * 16) * 6
    d = p.to_dense().reshape(4, 2, 4, 3)
    per_block = d.sum(dim=(1, 3))
    assert set(per_block.unique().tolist()) <= {0, 6}


@pytest.mark.parametrize("bad", [0, -0.1, 1.5, float("nan"), "0.5"])
def test_density_validated(bad):
    with pytest.raises(ValueError, match="density"):
        check_density(bad)
    with pytest.raises(ValueError, match="density"):
        random_pattern((3, 3), bad)


def test_bad_structured_arguments():
    with pytest.raises(ValueError, match="multiple of m"):
        nm_sparsify(torch.ones(2, 6), 2, 4)
    with pytest.raises(ValueError, match="0 < n <= m"):
        nm_sparsify(torch.ones(2, 4), 5, 4)
    with pytest.raises(ValueError, match="block"):
        block_pattern((5, 4), (2, 2), 0.5)
    with pytest.raises(TypeError, match="random_state"):
        random_pattern((3, 3), 0.5, random_state="seed")
