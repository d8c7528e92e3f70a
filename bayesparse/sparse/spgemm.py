"""Threaded products ``A @ B`` with a CSR right factor ``B`` that has few columns.

``sparse_matmul(a, b)`` computes scipy's ``a @ b`` with Gustavson's row-by-row algorithm
(F. G. Gustavson, "Two fast algorithms for sparse matrices: multiplication and permuted
transposition", ACM TOMS 4(3), 1978): row ``i`` of the product is ``sum_p a_ip * b_p:``,
accumulated in a dense buffer of length ``n_cols(b)`` with a marker array for the first touch
of each column. The products are added in scipy's order (``csr_matmat``, ``csc_matvecs``) and
each row is emitted as scipy's linked-list accumulator emits it (reverse order of first touch,
exact zeros dropped), so a sparse result has scipy's ``indptr``, ``indices`` and ``data``, bit
for bit. What differs is the schedule:

- one numeric pass instead of scipy's symbolic pass followed by a numeric pass: each chunk of
  rows writes its rows one after the other into its own region of a work buffer, sized from
  the expected number of products (the regions are then moved together in place; a chunk
  that does not fit makes the product run again with exact bounds);
- the chunks run on up to ``numba.get_num_threads()`` threads (numba kernels that release the
  GIL), each thread taking the next chunk when it is done with one. The calling thread works
  too and waits only for chunks already started (a fork-join ``prange`` would also wait for a
  thread the machine has not scheduled yet, at its barrier). As OpenMP's dynamic adjustment
  (``OMP_DYNAMIC``) does, helpers start only on idle cores: a helper sharing a busy core is
  preempted while it holds a chunk and the caller waits for it (on a 2-core machine at load 7,
  two threads were 1.3x slower than one);
- with ``dense_output=True``, or a dense ``a``, rows accumulate straight into the dense
  result, with no sparse intermediate.

The accumulator and marker stay in cache when ``b`` is narrow, as ``R.T`` of a random
projection ``X @ R.T`` (``n_components`` columns).

Examples
--------
>>> import numpy as np, scipy.sparse as sp
>>> from bayesparse.sparse.spgemm import sparse_matmul
>>> a = sp.random(50, 40, density=0.1, random_state=0, format="csr")
>>> b = sp.random(40, 8, density=0.2, random_state=1, format="csr")
>>> c = sparse_matmul(a, b)
>>> ref = a @ b
>>> all(np.array_equal(getattr(c, f), getattr(ref, f)) for f in ("indptr", "indices", "data"))
True
"""

from __future__ import annotations

import copy
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numba
import numpy as np
import scipy.sparse as sp
from numba import njit

__all__ = ["RightFactor", "sparse_matmul"]

#: Products with fewer multiply-adds than this run on the calling thread only: below it,
#: handing chunks to other threads costs more than the work.
PARALLEL_MIN_WORK = 200_000

#: Chunks of rows per thread: enough for the threads to even out, few enough that the
#: per-chunk call overhead (a few microseconds) stays negligible.
CHUNKS_PER_THREAD = 8

#: Linux's load file; its fourth field starts with the number of running tasks.
_LOADAVG = "/proc/loadavg"

_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


class RightFactor:
    """A CSR right factor ``b`` prepared once for many products ``a @ b``.

    With ``coded=True`` and at most 256 distinct values (a random projection's ``±sqrt(s/k)``),
    the values are stored as one-byte codes into a table of them: the products then read one
    byte per entry of ``b`` instead of eight, and ``table[codes]`` are the very values, so the
    results do not change (about 30% faster products ``X @ R.T`` for 10^6 non-zeros of ``X``).

    Parameters
    ----------
    b : scipy sparse matrix/array, shape ``m x k``
        Converted to CSR.
    coded : bool, default True
        Look for a short table of values (one ``numpy.unique`` of the values).

    Attributes
    ----------
    shape : (int, int)
    nnz, longest : int
        Number of entries and of entries in the longest row.
    dtype : numpy.dtype
    coded : bool
        Whether the values are stored as codes.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> b = RightFactor(sp.csr_matrix(np.array([[1.0, 0.0], [0.0, -1.0], [1.0, 1.0]])))
    >>> b.coded, sparse_matmul(np.ones((1, 3)), b).tolist()
    (True, [[2.0, 0.0]])
    """

    def __init__(self, b: Any, coded: bool = True) -> None:
        if not sp.issparse(b):
            raise TypeError(f"b: expected a scipy sparse matrix, got {type(b).__name__}")
        b = sp.csr_matrix(b)
        if b.dtype.kind == "c":
            raise TypeError(f"b: expected real values, got {b.dtype}")
        if b.dtype not in (np.float32, np.float64):
            b = b.astype(np.float64)
        self.shape, self.nnz, self.dtype = b.shape, b.nnz, b.dtype
        self.indptr, self.indices = _unsigned(b.indptr), _unsigned(b.indices)
        self.longest = int(np.diff(b.indptr).max()) if b.shape[0] and b.nnz else 0
        self._data = b.data
        self._codes = np.empty(0, dtype=np.uint8)
        self.coded = False
        if coded and b.nnz:
            table, codes = np.unique(b.data, return_inverse=True)
            if table.size <= 256 and np.array_equal(table[codes], b.data):
                self._data, self._codes, self.coded = table, codes.astype(np.uint8), True

    def astype(self, dtype: Any) -> RightFactor:
        """The same factor with values in ``dtype`` (indices and codes shared).

        Parameters
        ----------
        dtype : numpy.float32 or numpy.float64

        Returns
        -------
        RightFactor
        """
        if np.dtype(dtype) == self.dtype:
            return self
        out = copy.copy(self)
        out._data, out.dtype = self._data.astype(dtype), np.dtype(dtype)
        return out

    def values(self, dtype: Any) -> tuple[np.ndarray, np.ndarray, bool]:
        """The kernels' value arguments in ``dtype``: a table and codes, or the values and an
        empty code array, and whether they are coded."""
        return self._data.astype(dtype, copy=False), self._codes, self.coded


def sparse_matmul(a: Any, b: Any, *, dense_output: bool = False) -> Any:
    """``a @ b`` for a sparse or dense ``a`` and a sparse ``b``, threaded over rows of ``a``.

    Parameters
    ----------
    a : scipy sparse matrix/array or ndarray, shape ``n x m``
        Converted to CSR if sparse, to a C-contiguous array if dense.
    b : scipy sparse matrix/array or RightFactor, shape ``m x k``
        Converted to CSR. Fast when ``k`` is small (the per-thread buffers have length ``k``);
        a :class:`RightFactor` saves the conversion when ``b`` serves many products.
    dense_output : bool, default False
        For sparse ``a``, return a dense array (accumulated directly, no sparse intermediate).

    Returns
    -------
    scipy.sparse.csr_matrix or ndarray, shape ``n x k``
        Sparse ``a``: a CSR matrix with the arrays of scipy's ``a @ b`` (no explicit zeros, no
        duplicates, indices unsorted as scipy's); dense ``a`` or ``dense_output``: an ndarray.
        The dtype is ``float32`` if both inputs are ``float32``, else ``float64``.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> b = sp.csr_matrix(np.array([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]]))
    >>> sparse_matmul(np.ones((2, 3)), b).tolist()
    [[4.0, 2.0], [4.0, 2.0]]
    """
    if not isinstance(b, RightFactor):
        if not sp.issparse(b):
            raise TypeError(f"b: expected a scipy sparse matrix, got {type(b).__name__}")
        b = RightFactor(b, coded=False)
    a_sparse = sp.issparse(a)
    if not a_sparse and not isinstance(a, np.ndarray):
        raise TypeError(f"a: expected a scipy sparse matrix or ndarray, got {type(a).__name__}")
    if a.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"a: shape {a.shape} does not match b's shape {b.shape}")
    if a.dtype.kind == "c":
        raise TypeError(f"a: expected real values, got {a.dtype}")
    dtype = np.float32 if a.dtype == np.float32 and b.dtype == np.float32 else np.float64
    bp, bi = b.indptr, b.indices
    bv, bc, coded = b.values(dtype)
    n, k = a.shape[0], b.shape[1]
    threads = numba.get_num_threads()
    if not a_sparse:
        x = np.ascontiguousarray(a, dtype=dtype)
        out = np.zeros((n, k), dtype=dtype)
        work = n * (b.shape[0] + b.nnz)
        chunk = _chunk(n, threads, work)
        _run(_dense_a_rows, n, chunk, threads, x, bp, bi, bv, bc, coded, out)
        return out
    a = sp.csr_matrix(a)
    if n == 0 or a.nnz == 0 or b.nnz == 0:
        return np.zeros((n, k), dtype=dtype) if dense_output else sp.csr_matrix((n, k), dtype=dtype)
    args = (_unsigned(a.indptr), _unsigned(a.indices), a.data.astype(dtype, copy=False), bp, bi,
            bv, bc, coded)
    work = a.nnz * b.nnz / b.shape[0]
    chunk = _chunk(n, threads, work)
    if dense_output:
        out = np.zeros((n, k), dtype=dtype)
        _run(_dense_out_rows, n, chunk, threads, *args, out)
        return out
    starts = _estimated_starts(a, b, chunk)
    most = min(n * k, a.nnz * b.longest)
    index_dtype = np.int32 if max(most, k) < np.iinfo(np.int32).max else np.int64
    indptr = np.zeros(n + 1, dtype=index_dtype)
    for exact in (False, True):
        if exact:
            bound = np.zeros(starts.size, dtype=np.int64)
            _chunk_bounds(args[0], args[1], bp, k, bound[1:], chunk)
            starts = np.cumsum(bound)
        indices = np.empty(int(starts[-1]), dtype=index_dtype)
        data = np.empty(int(starts[-1]), dtype=dtype)
        full = np.zeros(starts.size - 1, dtype=np.bool_)
        _run(_numeric_rows, n, chunk, threads, *args, k, starts, indices, data, indptr[1:], full)
        if not full.any():
            break
    np.cumsum(indptr, out=indptr)
    nnz = int(indptr[-1])
    _compact(starts, indptr, indices, data, chunk)
    return sp.csr_matrix((data[:nnz], indices[:nnz], indptr), shape=(n, k), copy=False)


def _chunk(n: int, threads: int, work: float) -> int:
    """Rows per chunk: all ``n`` for small products or without idle cores, else about
    ``CHUNKS_PER_THREAD`` chunks a thread, at least 256 rows."""
    if threads == 1 or work < PARALLEL_MIN_WORK or _idle(threads) == 1:
        return n
    return max(256, -(-n // (CHUNKS_PER_THREAD * threads)))


def _unsigned(index: np.ndarray) -> np.ndarray:
    """A non-negative index array viewed as unsigned: numba then skips the negative-index
    wraparound on every lookup (about 15% of the product's time)."""
    return index.view(np.uint32 if index.dtype.itemsize == 4 else np.uint64)


def _run(kernel: Any, n: int, chunk: int, threads: int, *args: Any) -> None:
    """``kernel(c, lo, hi, *args)`` for every chunk ``c`` of rows ``lo:hi``, on up to
    ``threads`` threads; the calling thread takes chunks too, one at a time like the others."""
    n_chunks = -(-n // chunk)
    if n_chunks == 1:
        kernel(0, 0, n, *args)
        return
    lock = threading.Lock()
    pending = iter(range(n_chunks))

    def drain() -> None:
        while True:
            with lock:
                c = next(pending, None)
            if c is None:
                return
            kernel(c, c * chunk, min(n, (c + 1) * chunk), *args)

    helpers = [_thread_pool().submit(drain) for _ in range(min(_idle(threads), n_chunks) - 1)]
    drain()
    for h in helpers:
        # A helper that has not started (its thread not yet scheduled) has nothing left to do.
        if not h.cancel():
            h.result()


def _idle(threads: int) -> int:
    """``threads``, or fewer: the calling thread plus one helper per idle core, counted from
    the running tasks in ``/proc/loadavg`` (all ``threads`` where there is no such file)."""
    try:
        with open(_LOADAVG) as f:
            running = int(f.read().split()[3].split("/")[0])
        cores = len(os.sched_getaffinity(0))
    except (OSError, ValueError, IndexError, AttributeError):
        return threads
    # ``running`` counts the calling thread itself.
    return max(1, min(threads, cores - running + 1))


def _thread_pool() -> ThreadPoolExecutor:
    """The helper threads, started once; ``numba.get_num_threads()`` bounds their use."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(numba.config.NUMBA_NUM_THREADS,
                                       thread_name_prefix="bayesparse-spgemm")
        return _pool


def _forget_pool() -> None:
    """In a forked child the pool's threads do not exist (and its lock may be held by a thread
    that does not exist either): start anew when needed."""
    global _pool, _pool_lock
    _pool, _pool_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def _estimated_starts(a: sp.csr_matrix, b: RightFactor, chunk: int) -> np.ndarray:
    """Offsets of each chunk's region in the work buffer, from the expected number of
    products of its rows (``nnz`` of its rows of ``a`` times the mean row length of ``b``)
    with a 25% margin; never more than ``k`` a row, nor the longest row of ``b`` a product."""
    n, k = a.shape[0], b.shape[1]
    edges = np.minimum(np.arange(0, n + chunk, chunk), n)
    edges = edges[: np.searchsorted(edges, n) + 1]
    a_nnz = np.diff(a.indptr[edges]).astype(np.int64)
    guess = np.ceil(1.25 * a_nnz * (b.nnz / b.shape[0])).astype(np.int64) + 4 * k
    cap = np.minimum(np.minimum(np.diff(edges) * k, a_nnz * b.longest), guess)
    return np.concatenate(([0], np.cumsum(cap)))


@njit(cache=True)
def _chunk_bounds(ap, ai, bp, k, bound, chunk):  # pragma: no cover - compiled
    """``bound[c]``: the number of entries of chunk ``c``'s rows of ``a @ b`` if no two products
    of a row share a column (and at most ``k`` a row)."""
    n = ap.size - 1
    for c in range(bound.size):
        total = 0
        for i in range(c * chunk, min(n, (c + 1) * chunk)):
            s = 0
            for p in range(ap[i], ap[i + 1]):
                j = ai[p]
                s += np.int64(bp[j + 1]) - np.int64(bp[j])
            total += min(s, k)
        bound[c] = total


@njit(nogil=True, cache=True)
def _numeric_rows(c, lo, hi, ap, ai, av, bp, bi, bv, bc, coded, k, starts, ci, cx, row_nnz,
                  full):  # pragma: no cover - compiled
    """Rows ``lo:hi`` (chunk ``c``) of ``a @ b``, written one after the other into
    ``ci, cx[starts[c]:starts[c + 1]]``, row ``i``'s length into ``row_nnz[i]``; if they do
    not fit, stop and set ``full[c]``.

    Row entries come in reverse order of first touch, as scipy's linked-list accumulator
    emits them, and exact zeros are dropped as scipy drops them.
    """
    acc = np.empty(k, dtype=cx.dtype)
    mark = np.full(k, -1, dtype=np.int64)
    cols = np.empty(k, dtype=np.int64)
    longest = 0
    for i in range(lo, hi):
        longest = max(longest, np.int64(ap[i + 1]) - np.int64(ap[i]))
    first = np.empty(longest, dtype=np.int64)
    stop = np.empty(longest, dtype=np.int64)
    scale = np.empty(longest, dtype=cx.dtype)
    pos = starts[c]
    for i in range(lo, hi):
        # The row's entries of a that meet a non-empty row of b, gathered without a branch:
        # looping over every b row directly mispredicts its exit on most entries of a.
        r = 0
        for p in range(ap[i], ap[i + 1]):
            j = ai[p]
            start, end = bp[j], bp[j + 1]
            first[r] = start
            stop[r] = end
            scale[r] = av[p]
            r += end > start
        m = 0
        for t in range(r):
            v = scale[t]
            for q in range(first[t], stop[t]):
                col = bi[q]
                y = v * (bv[bc[q]] if coded else bv[q])
                if mark[col] != i:
                    mark[col] = i
                    acc[col] = y
                    cols[m] = col
                    m += 1
                else:
                    acc[col] += y
        if pos + m > starts[c + 1]:
            full[c] = True
            return
        w = pos
        for t in range(m - 1, -1, -1):
            col = cols[t]
            if acc[col] != 0:
                ci[w] = col
                cx[w] = acc[col]
                w += 1
        row_nnz[i] = w - pos
        pos = w


@njit(cache=True)
def _compact(starts, indptr, ci, cx, chunk):  # pragma: no cover - compiled
    """Move each chunk's rows from ``starts[c]`` down to ``indptr``: in chunk order every
    destination lies at or before its source, so no move overwrites data not yet moved."""
    n = indptr.size - 1
    for c in range(starts.size - 1):
        dst = indptr[c * chunk]
        src = starts[c]
        if dst != src:
            for t in range(indptr[min(n, (c + 1) * chunk)] - dst):
                ci[dst + t] = ci[src + t]
                cx[dst + t] = cx[src + t]


@njit(nogil=True, cache=True)
def _dense_out_rows(c, lo, hi, ap, ai, av, bp, bi, bv, bc, coded,
                    out):  # pragma: no cover - compiled
    """Rows ``lo:hi`` of sparse ``a`` times CSR ``b`` into the dense ``out``."""
    for i in range(lo, hi):
        row = out[i]
        for p in range(ap[i], ap[i + 1]):
            j = ai[p]
            v = av[p]
            for q in range(bp[j], bp[j + 1]):
                row[bi[q]] += v * (bv[bc[q]] if coded else bv[q])


@njit(nogil=True, cache=True)
def _dense_a_rows(c, lo, hi, x, bp, bi, bv, bc, coded, out):  # pragma: no cover - compiled
    """Rows ``lo:hi`` of dense ``x`` times CSR ``b``: each row of ``x`` is read once, in order,
    and scattered through the rows of ``b``."""
    for i in range(lo, hi):
        row = out[i]
        xi = x[i]
        for j in range(xi.size):
            v = xi[j]
            for q in range(bp[j], bp[j + 1]):
                row[bi[q]] += v * (bv[bc[q]] if coded else bv[q])
