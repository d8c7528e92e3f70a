"""sparse_matmul: scipy's product bit for bit, on one thread and over chunks of rows."""

from __future__ import annotations

import multiprocessing
import os

import numba
import numpy as np
import pytest
import scipy.sparse as sp

from bayesparse.sparse import spgemm
from bayesparse.sparse.spgemm import RightFactor, sparse_matmul


def _assert_same_csr(c, ref):
    assert isinstance(c, sp.csr_matrix) and c.shape == ref.shape and c.dtype == ref.dtype
    c.check_format(full_check=True)
    for field in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(c, field), getattr(ref, field), err_msg=field)


@pytest.fixture(params=["one thread", "chunks"])
def threads(request, monkeypatch):
    """Chunks of rows on helper threads, whatever the test process's thread count and the
    machine's load."""
    if request.param == "chunks":
        monkeypatch.setattr(spgemm, "PARALLEL_MIN_WORK", 0)
        monkeypatch.setattr(numba, "get_num_threads", lambda: 3)
        monkeypatch.setattr(spgemm, "_idle", lambda threads: threads)
    return request.param


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sparse_product_equals_scipy(threads, dtype):
    rng = np.random.default_rng(0)
    a = sp.random(1500, 700, density=0.01, random_state=rng, format="csr", dtype=dtype)
    b = sp.random(700, 40, density=0.03, random_state=rng, format="csr", dtype=dtype)
    _assert_same_csr(sparse_matmul(a, b), a @ b)
    # CSC and COO operands are converted; a wide b (more columns than rows) works too.
    wide = sp.random(700, 2000, density=0.002, random_state=rng, format="csc", dtype=dtype)
    _assert_same_csr(sparse_matmul(a.tocoo(), wide), a @ wide.tocsr())


def test_dense_results_equal_scipy(threads):
    rng = np.random.default_rng(1)
    a = sp.random(1200, 300, density=0.02, random_state=rng, format="csr")
    b = sp.random(300, 25, density=0.05, random_state=rng, format="csr")
    out = sparse_matmul(a, b, dense_output=True)
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out, (a @ b).toarray())
    x = rng.normal(size=(900, 300))
    np.testing.assert_array_equal(sparse_matmul(x, b), x @ b)
    # A Fortran-ordered, float32 x is copied to C order and promoted with b's float64.
    np.testing.assert_array_equal(sparse_matmul(np.asfortranarray(x.astype(np.float32)), b),
                                  x.astype(np.float32) @ b)


def test_right_factor_with_coded_values(threads):
    rng = np.random.default_rng(2)
    a = sp.random(1000, 400, density=0.02, random_state=rng, format="csr")
    b = sp.random(400, 30, density=0.05, random_state=rng, format="csr")
    b.data = rng.choice([-0.75, 0.5, 2.0], size=b.nnz)
    factor = RightFactor(b)
    assert factor.coded and factor.shape == b.shape and factor.nnz == b.nnz
    _assert_same_csr(sparse_matmul(a, factor), a @ b)
    np.testing.assert_array_equal(sparse_matmul(a, factor, dense_output=True), (a @ b).toarray())
    x = rng.normal(size=(300, 400))
    np.testing.assert_array_equal(sparse_matmul(x, factor), x @ b)
    a32, b32 = a.astype(np.float32), b.astype(np.float32)
    _assert_same_csr(sparse_matmul(a32, factor.astype(np.float32)), a32 @ b32)
    # More than 256 distinct values: kept as they are.
    assert not RightFactor(sp.random(400, 30, density=0.05, random_state=3)).coded
    assert not RightFactor(b, coded=False).coded


def test_cancellation_drops_zeros_as_scipy():
    a = sp.csr_matrix(np.array([[1.0, 1.0, 0.0], [2.0, 0.0, 1.0]]))
    b = sp.csr_matrix(np.array([[1.0, 3.0], [-1.0, 0.0], [0.0, 5.0]]))
    c = sparse_matmul(a, b)
    _assert_same_csr(c, a @ b)
    assert c.nnz == 3  # entry (0, 0) cancels to exactly 0 and is not stored


def test_rows_longer_than_estimated_rerun_exactly(threads):
    # Every entry of a sits in column 0, the one long row of b: the chunks' products far
    # exceed nnz(a) times the mean row length of b, so the exact bounds are needed.
    n, k = 1000, 64
    a = sp.csr_matrix((np.arange(1.0, n + 1), np.zeros(n, int), np.arange(n + 1)), shape=(n, 50))
    b = sp.lil_matrix((50, k))
    b[0, :] = np.arange(1.0, k + 1)
    b[1:, 0] = 1.0
    b = b.tocsr()
    _assert_same_csr(sparse_matmul(a, b), a @ b)


def _product_in_child(a, b, results):
    results.put(sparse_matmul(a, b).toarray())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_helper_threads_after_fork(threads):
    # The child inherits the pool object but not its threads: products there must not wait
    # for helpers that never run.
    rng = np.random.default_rng(4)
    a = sp.random(2000, 300, density=0.02, random_state=rng, format="csr")
    b = sp.random(300, 20, density=0.05, random_state=rng, format="csr")
    sparse_matmul(a, b)
    ctx = multiprocessing.get_context("fork")
    results = ctx.Queue()
    child = ctx.Process(target=_product_in_child, args=(a, b, results))
    child.start()
    got = results.get(timeout=120)
    child.join(timeout=120)
    assert child.exitcode == 0
    np.testing.assert_array_equal(got, (a @ b).toarray())


def test_helpers_only_on_idle_cores(monkeypatch, tmp_path):
    assert 1 <= spgemm._idle(4) <= 4
    monkeypatch.setattr(spgemm.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    loadavg = tmp_path / "loadavg"
    monkeypatch.setattr(spgemm, "_LOADAVG", str(loadavg))
    loadavg.write_text("7.0 6.0 5.0 1/120 999\n")
    assert spgemm._idle(4) == 2  # only this thread runs: both cores are free
    loadavg.write_text("7.0 6.0 5.0 7/120 999\n")
    assert spgemm._idle(4) == 1
    monkeypatch.setattr(spgemm, "_LOADAVG", str(tmp_path / "missing"))
    assert spgemm._idle(4) == 4


def test_empty_operands():
    b = sp.random(5, 3, density=0.5, random_state=0, format="csr")
    assert sparse_matmul(sp.csr_matrix((0, 5)), b).shape == (0, 3)
    assert sparse_matmul(sp.csr_matrix((4, 5)), b).nnz == 0
    assert sparse_matmul(sp.csr_matrix((4, 5)), b, dense_output=True).tolist() == [[0.0] * 3] * 4
    assert sparse_matmul(np.ones((2, 5)), sp.csr_matrix((5, 3))).tolist() == [[0.0] * 3] * 2


@pytest.mark.parametrize(
    ("a", "b", "error", "match"),
    [
        (np.ones((2, 3)), np.ones((3, 2)), TypeError, "b: expected a scipy sparse"),
        ([[1.0, 2.0]], sp.eye(2, format="csr"), TypeError, "a: expected"),
        (np.ones((2, 3)), sp.eye(2, format="csr"), ValueError, "a: shape"),
        (np.ones((2, 3)), "b", TypeError, "b: expected a scipy sparse"),
        (np.ones((2, 2), dtype=complex), sp.eye(2, format="csr"), TypeError, "a: expected real"),
        (np.ones((2, 2)), sp.eye(2, format="csr", dtype=complex), TypeError, "b: expected real"),
    ],
)
def test_bad_input(a, b, error, match):
    with pytest.raises(error, match=match):
        sparse_matmul(a, b)
