"""FastRP node embeddings (Chen et al., CIKM 2019).

With ``S`` the (weighted, possibly directed) adjacency, ``d = S 1`` the out-degrees and
``A = D⁻¹ S`` the transition matrix, FastRP draws a very sparse random projection ``R``
(``n x dim``, Li et al. 2006; built by
:func:`bayesparse.models.random_projection.very_sparse_matrix`
so it shares the ``SparseTensor`` pattern code) and computes, without forming ``A^k``,

    N_1 = A · L · R,   L = diag(d^β)   (Algorithm 1, line 3; β = ``normalization_strength``)
    N_k = A · N_{k-1},  k = 2..q        (line 5)
    N   = Σ_k α_k N_k                   (line 7; α = ``iteration_weights``)

optionally L2-normalising each row of every ``N_k`` before the sum, and finally standardising
each column to zero mean and unit variance as in the authors' code
(``sklearn.preprocessing.scale``).
Isolated nodes (``d_i = 0``) get zero rows in ``A`` and ``L`` instead of a division by zero.

Mapping to the Rust ``fastrp`` package: its ``weights[0]`` multiplies the 0-hop term ``L R``
itself, so ``iteration_weights=(a1, ..., aq)`` here equals ``weights=[0, a1, ..., aq]`` there.

``L R`` has about ``dim / sqrt(n)`` non-zeros a row, so ``N_1`` is computed sparse (scipy) at
almost no cost; the denser powers are dense rows computed by numba CSR kernels (multithreaded
above :data:`PARALLEL_MIN_WORK` multiply-adds) that row-normalise and add each power into the
sum in the same pass, in float32 by default. The last power is never stored and consumed
powers' buffers are reused, so the dense working memory is two ``n x dim`` arrays.
:func:`fastrp_dask` runs the same propagation over row blocks of ``A`` on a ``dask.distributed``
cluster.

References
----------
H. Chen, S. F. Sultan, Y. Tian, M. Chen and S. Skiena, "Fast and Accurate Network Embeddings
via Very Sparse Random Projection", CIKM 2019.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from numba import njit, prange

from bayesparse.models.random_projection import very_sparse_matrix
from bayesparse.rng import check_generator
from bayesparse.sparse import SparseTensor


def adjacency_matrix(graph: Any, n_nodes: int | None = None) -> sp.csr_matrix:
    """A validated square CSR adjacency from scipy.sparse, ``SparseTensor``, networkx or edges.

    Parameters
    ----------
    graph : scipy.sparse matrix, SparseTensor, networkx graph, or edge list
        An edge list is a sequence or array of ``(source, target)`` or
        ``(source, target, weight)`` rows (directed; add both directions for an undirected graph).
    n_nodes : int, optional
        Number of nodes of an edge list (default: largest index + 1).

    Returns
    -------
    scipy.sparse.csr_matrix
        Float64 adjacency with non-negative finite weights.

    Examples
    --------
    >>> adjacency_matrix([(0, 1), (1, 2)], n_nodes=4).shape
    (4, 4)
    """
    if isinstance(graph, SparseTensor):
        a = graph.to_scipy()
    elif sp.issparse(graph):
        a = graph
    elif hasattr(graph, "adjacency") and hasattr(graph, "nodes"):
        import networkx as nx

        a = nx.to_scipy_sparse_array(graph, weight="weight", format="csr")
    else:
        edges = np.asarray(graph, dtype=np.float64)
        if edges.ndim != 2 or edges.shape[1] not in (2, 3):
            raise ValueError(
                "A: expected a scipy.sparse adjacency, SparseTensor, networkx graph or an edge "
                f"list of (source, target[, weight]) rows; got an array of shape {edges.shape}"
            )
        ij = edges[:, :2]
        if not np.all(np.isfinite(ij)) or np.any(ij < 0) or np.any(ij != np.round(ij)):
            raise ValueError("A: edge endpoints must be non-negative integers")
        ij = ij.astype(np.int64)
        n = int(ij.max()) + 1 if n_nodes is None and ij.size else int(n_nodes or 0)
        if ij.size and ij.max() >= n:
            raise ValueError(f"n_nodes: {n} is smaller than the largest node index + 1")
        w = edges[:, 2] if edges.shape[1] == 3 else np.ones(len(edges))
        a = sp.coo_matrix((w, (ij[:, 0], ij[:, 1])), shape=(n, n))
    a = sp.csr_matrix(a, dtype=np.float64)
    if a.shape[0] != a.shape[1]:
        raise ValueError(f"A: adjacency must be square, got shape {a.shape}")
    if not np.all(np.isfinite(a.data)):
        raise ValueError("A: NaN or infinite edge weights; clean the graph first")
    if np.any(a.data < 0):
        raise ValueError("A: negative edge weights; FastRP needs non-negative weights")
    a.sum_duplicates()
    return a


def _transition(
    a: sp.csr_matrix, beta: float, dtype: Any = np.float64
) -> tuple[sp.csr_matrix, np.ndarray]:
    """``D⁻¹ S`` in ``dtype`` and ``d^β``, with zeros (not inf) for isolated nodes."""
    deg = np.asarray(a.sum(axis=1)).ravel()
    nz = deg > 0
    inv = np.zeros_like(deg)
    inv[nz] = 1.0 / deg[nz]
    scale = np.zeros_like(deg)
    scale[nz] = deg[nz] ** beta
    data = (a.data * np.repeat(inv, np.diff(a.indptr))).astype(dtype, copy=False)
    return sp.csr_matrix((data, a.indices, a.indptr), shape=a.shape), scale


def _check_params(
    n_components: Any, iteration_weights: Any, normalization_strength: Any
) -> np.ndarray:
    if not isinstance(n_components, numbers.Integral) or n_components <= 0:
        raise ValueError(f"n_components: expected a positive int, got {n_components!r}")
    w = np.asarray(iteration_weights, dtype=np.float64)
    if w.ndim != 1 or w.size == 0 or not np.all(np.isfinite(w)):
        raise ValueError(
            f"iteration_weights: expected a non-empty sequence of finite numbers, got {w}"
        )
    if not np.isfinite(normalization_strength):
        raise ValueError(
            f"normalization_strength: expected a finite number, got {normalization_strength}"
        )
    return w


def _initial_projection(
    n: int, n_components: int, scale: np.ndarray, rng: np.random.Generator, dtype: Any
) -> sp.csr_matrix:
    """``L R`` (n x dim, CSR) from the very sparse ``R`` with density ``1/sqrt(n)``."""
    r = very_sparse_matrix(n_components, n, 1.0 / np.sqrt(n), rng).to_scipy().T.tocsr()
    r.data = (r.data * np.repeat(scale, np.diff(r.indptr))).astype(_np_dtype(dtype))
    return r


def _np_dtype(dtype: Any) -> np.dtype:
    if dtype in (torch.float32, np.float32):
        return np.dtype(np.float32)
    if dtype in (torch.float64, np.float64):
        return np.dtype(np.float64)
    raise TypeError(f"dtype: expected torch.float32 or torch.float64, got {dtype!r}")


class FastRP:
    """FastRP node embeddings: weighted sums of powers of the transition matrix times ``R``.

    Parameters
    ----------
    n_components : int, default 128
        Embedding dimension.
    iteration_weights : sequence of float, default (0.0, 0.0, 1.0, 6.0)
        ``α_1..α_q``; the first is the 1-hop term ``A L R`` (paper, Neo4j GDS). The Rust
        ``fastrp`` package's ``weights=[0, *iteration_weights]`` is the same embedding.
    normalization_strength : float, default -0.5
        β in ``L = diag(d^β)``.
    normalize_rows : bool, default True
        L2-normalise the rows of every ``N_k`` before the weighted sum (authors' code).
    standardize : bool, default True
        Column z-score of the result (authors' code).
    dtype : torch.dtype, default torch.float32
        Compute precision; ``torch.float64`` for exact comparisons.
    random_state : None, int or numpy.random.Generator

    Attributes
    ----------
    embedding_ : numpy.ndarray, shape (n_nodes, n_components)

    Examples
    --------
    >>> from bayesparse.datasets.graphs import make_planted_graph
    >>> A, y = make_planted_graph(500, random_state=0)
    >>> FastRP(n_components=16, random_state=0).fit_transform(A).shape
    (500, 16)

    References
    ----------
    H. Chen et al., "Fast and Accurate Network Embeddings via Very Sparse Random Projection",
    CIKM 2019.
    """

    def __init__(
        self,
        n_components: int = 128,
        iteration_weights: Sequence[float] = (0.0, 0.0, 1.0, 6.0),
        normalization_strength: float = -0.5,
        normalize_rows: bool = True,
        standardize: bool = True,
        dtype: torch.dtype = torch.float32,
        random_state: Any = None,
    ) -> None:
        self.n_components = n_components
        self.iteration_weights = iteration_weights
        self.normalization_strength = normalization_strength
        self.normalize_rows = normalize_rows
        self.standardize = standardize
        self.dtype = dtype
        self.random_state = random_state

    def fit(self, A: Any, y: Any = None, *, client: Any = None, n_blocks: int = 2) -> FastRP:
        """Compute ``embedding_`` for the graph ``A`` (see :func:`adjacency_matrix`).

        With a ``dask.distributed`` ``client`` the propagation runs over ``n_blocks`` row blocks
        of ``A`` on the cluster (:func:`fastrp_dask`).

        Parameters
        ----------
        A : graph
            scipy.sparse matrix, SparseTensor, networkx graph or edge list; see
            :func:`adjacency_matrix`.
        y : None
            Ignored (scikit-learn API).
        client : dask.distributed.Client, optional
            Run the propagation on this cluster; ``None`` runs it locally.
        n_blocks : int, default=2
            Number of row blocks of ``A`` when ``client`` is given.

        Returns
        -------
        FastRP
            ``self``, with ``embedding_`` of shape ``(n_nodes, n_components)``.
        """
        weights = _check_params(
            self.n_components, self.iteration_weights, self.normalization_strength
        )
        dtype = _np_dtype(self.dtype)
        a, scale = _transition(adjacency_matrix(A), float(self.normalization_strength), dtype)
        rng = check_generator(self.random_state)
        initial = _initial_projection(a.shape[0], int(self.n_components), scale, rng, dtype)
        if client is not None:
            out = fastrp_dask(a, initial, weights, client, n_blocks, self.normalize_rows)
        else:
            out = propagate(a, initial, weights, self.normalize_rows)
        if self.standardize:
            _standardize(out)
        self.embedding_ = out
        return self

    def fit_transform(self, A: Any, y: Any = None, **kwargs: Any) -> np.ndarray:
        """Fit and return ``embedding_`` (n_nodes x n_components).

        Parameters
        ----------
        A : graph
            Anything :func:`adjacency_matrix` accepts.
        y : None
            Ignored (scikit-learn API).
        **kwargs
            ``client`` and ``n_blocks``, passed to :meth:`fit`.

        Returns
        -------
        ndarray of shape (n_nodes, n_components)
            The node embedding.
        """
        return self.fit(A, y, **kwargs).embedding_


#: A power stays sparse while the product that makes it has fewer multiply-adds than this
#: fraction of its dense size. The first power of ``A`` times the very sparse ``R`` has about
#: ``dim · avg_degree / sqrt(n)`` non-zeros a row and is far cheaper sparse; denser powers are
#: faster as dense rows (each product costs one random row read per edge either way).
SPARSE_FRACTION = 1 / 16


def _stays_sparse(a: sp.csr_matrix, current: Any) -> bool:
    if not sp.issparse(current):
        return False
    flops = np.diff(current.indptr)[a.indices].sum()
    return bool(flops <= SPARSE_FRACTION * a.shape[0] * current.shape[1])


def propagate(
    a: sp.csr_matrix, initial: Any, weights: np.ndarray, normalize_rows: bool = True
) -> np.ndarray:
    """``Σ_k α_k N_k`` with ``N_1 = a · initial`` and ``N_k = a N_{k-1}``.

    Powers are kept sparse while they are mostly zeros (:data:`SPARSE_FRACTION`), then dense,
    computed by multithreaded numba kernels; the last power is row-normalised and summed row
    by row without being stored, and a dense power's buffer is reused once it is consumed, so
    the dense work memory is two ``n x dim`` arrays.

    Parameters
    ----------
    a : scipy.sparse.csr_matrix
        Transition matrix ``D⁻¹ S``.
    initial : scipy.sparse matrix or numpy.ndarray
        ``L R`` (n x dim); its dtype (float32 or float64) is the compute precision.
    weights : numpy.ndarray
        ``α_1..α_q``.
    normalize_rows : bool
        L2-normalise the rows of each power before the sum.

    Returns
    -------
    numpy.ndarray
        The unstandardised embedding.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp
    >>> a = sp.csr_matrix(np.array([[0.0, 1.0], [1.0, 0.0]]))
    >>> propagate(a, np.eye(2), np.array([1.0, 1.0]), False).tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    """
    current = initial.tocsr() if sp.issparse(initial) else np.ascontiguousarray(initial)
    dtype, shape = current.dtype, (a.shape[0], current.shape[1])
    a = sp.csr_matrix(a, dtype=dtype)
    out: np.ndarray | None = None
    spare: np.ndarray | None = None  # a dense power of ours that is no longer needed
    owned = False  # whether ``current`` is a dense buffer of ours (never the caller's array)
    for k, w in enumerate(weights):
        if k == len(weights) - 1:
            if w != 0:
                out = _accumulator(spare, shape, dtype) if out is None else out
                _product(a, current, None, out, w, normalize_rows)
            break
        if _stays_sparse(a, current):
            new = (a @ current).tocsr()
        else:
            new = _product(a, current, spare if spare is not None else np.empty(shape, dtype))
            spare = None
        if owned:
            spare = current
        current, owned = new, not sp.issparse(new)
        if w != 0:
            if out is None:
                out, spare = _accumulator(spare, shape, dtype), None
            if sp.issparse(current):
                _add_sparse(out, current.indptr, current.indices, current.data, w, normalize_rows)
            else:
                _add_dense(out, current, w, normalize_rows)
    return np.zeros(shape, dtype) if out is None else out


def _accumulator(spare: np.ndarray | None, shape: tuple[int, int], dtype: Any) -> np.ndarray:
    """Zeros for the weighted sum, in the spare buffer when there is one."""
    if spare is None:
        return np.zeros(shape, dtype)
    spare.fill(0)
    return spare


def _product(
    a: sp.csr_matrix,
    x: Any,
    new: np.ndarray | None = None,
    acc: np.ndarray | None = None,
    weight: float = 0.0,
    normalize: bool = False,
) -> np.ndarray | None:
    """``a @ x`` into ``new`` and/or, row-normalised times ``weight``, added to ``acc``."""
    empty = np.empty((0, x.shape[1]), dtype=x.dtype)
    new_, acc_ = empty if new is None else new, empty if acc is None else acc
    parallel = a.nnz * x.shape[1] >= PARALLEL_MIN_WORK
    if sp.issparse(x):
        args = (a.indptr, a.indices, a.data, x.indptr, x.indices, x.data, new_, acc_, weight,
                normalize)
        if parallel:
            _sparse_parallel(*args)
        else:
            _sparse_rows(0, a.shape[0], *args)
    else:
        args = (a.indptr, a.indices, a.data, x, new_, acc_, weight, normalize)
        if parallel:
            _dense_parallel(*args)
        else:
            _dense_rows(0, a.shape[0], *args)
    return new


def fastrp_dask(
    a: sp.csr_matrix,
    initial: Any,
    weights: np.ndarray,
    client: Any,
    n_blocks: int = 2,
    normalize_rows: bool = True,
) -> np.ndarray:
    """``Σ_k α_k N_k`` with each ``N_k = A N_{k-1}`` computed block-row-wise on a dask cluster.

    The row blocks of the transition matrix ``a`` are scattered once and stay on the workers;
    each power broadcasts ``N_{k-1}`` and gathers the blocks of ``N_k`` (sparse while it is
    mostly zeros, as in :func:`propagate`).

    Parameters
    ----------
    a : scipy.sparse.csr_matrix
        Transition matrix ``D⁻¹ S``.
    initial : scipy.sparse matrix or numpy.ndarray
        ``L R`` (n x dim).
    weights : numpy.ndarray
        ``α_1..α_q``.
    client : dask.distributed.Client
    n_blocks : int
        Number of row blocks.
    normalize_rows : bool
        L2-normalise the rows of each power before the sum.

    Returns
    -------
    numpy.ndarray
        The unstandardised embedding.
    """
    if not isinstance(n_blocks, numbers.Integral) or n_blocks <= 0:
        raise ValueError(f"n_blocks: expected a positive int, got {n_blocks!r}")
    current = initial.tocsr() if sp.issparse(initial) else np.ascontiguousarray(initial)
    a = sp.csr_matrix(a, dtype=current.dtype)
    bounds = np.linspace(0, a.shape[0], int(n_blocks) + 1).astype(int)
    # hash=False: content-hashed keys would collide with a previous call's blocks that the
    # scheduler is still releasing ("lost dependencies" when the same graph is embedded twice)
    blocks = client.scatter(
        [a[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)], hash=False
    )
    out = np.zeros((a.shape[0], current.shape[1]), dtype=current.dtype)
    for w in weights:
        sparse = _stays_sparse(a, current)
        shared = client.scatter(current, broadcast=True, hash=False)
        parts = client.gather([client.submit(_block_product, b, shared, sparse) for b in blocks])
        if sparse:
            current = sp.vstack(parts, format="csr")
            if w != 0:
                _add_sparse(out, current.indptr, current.indices, current.data, w, normalize_rows)
        else:
            current = np.concatenate(parts)
            if w != 0:
                _add_dense(out, current, w, normalize_rows)
    return out


def _block_product(block: sp.csr_matrix, x: Any, sparse: bool) -> Any:
    if sparse:
        return (block @ x).tocsr()
    return _product(block, x, np.empty((block.shape[0], x.shape[1]), dtype=x.dtype))


#: Rows per parallel work item of the products.
_CHUNK = 256

#: Products with fewer multiply-adds run on one thread: below this, starting and joining the
#: thread team costs more than it saves (and much more on a busy machine).
PARALLEL_MIN_WORK = 2**26


@njit(cache=True)
def _add_row(acc, tmp, weight, normalize):  # pragma: no cover - compiled
    scale = weight
    if normalize:
        sq = 0.0
        for k in range(tmp.size):
            sq += tmp[k] * tmp[k]
        if sq > 0:
            scale = weight / np.sqrt(sq)
    for k in range(tmp.size):
        acc[k] += scale * tmp[k]


@njit(cache=True)
def _dense_rows(lo, hi, ap, ai, av, x, new, acc, weight, normalize):  # pragma: no cover
    """Rows ``lo:hi`` of ``A x`` into ``new`` (if it has rows) and, scaled, into ``acc``."""
    tmp = np.empty(x.shape[1], dtype=x.dtype)
    for i in range(lo, hi):
        tmp[:] = 0
        for p in range(ap[i], ap[i + 1]):
            j, v = ai[p], av[p]
            for k in range(tmp.size):
                tmp[k] += v * x[j, k]
        if new.shape[0]:
            new[i] = tmp
        if acc.shape[0]:
            _add_row(acc[i], tmp, weight, normalize)


@njit(cache=True)
def _sparse_rows(lo, hi, ap, ai, av, xp, xi, xv, new, acc, weight, normalize):  # pragma: no cover
    """:func:`_dense_rows` for a CSR ``x`` (``xp, xi, xv``); the output rows are dense."""
    tmp = np.empty(new.shape[1], dtype=xv.dtype)
    for i in range(lo, hi):
        tmp[:] = 0
        for p in range(ap[i], ap[i + 1]):
            j, v = ai[p], av[p]
            for q in range(xp[j], xp[j + 1]):
                tmp[xi[q]] += v * xv[q]
        if new.shape[0]:
            new[i] = tmp
        if acc.shape[0]:
            _add_row(acc[i], tmp, weight, normalize)


@njit(parallel=True, cache=True)
def _dense_parallel(ap, ai, av, x, new, acc, weight, normalize):  # pragma: no cover
    n = ap.size - 1
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        _dense_rows(c * _CHUNK, min(n, (c + 1) * _CHUNK), ap, ai, av, x, new, acc, weight,
                    normalize)


@njit(parallel=True, cache=True)
def _sparse_parallel(ap, ai, av, xp, xi, xv, new, acc, weight, normalize):  # pragma: no cover
    n = ap.size - 1
    for c in prange((n + _CHUNK - 1) // _CHUNK):
        _sparse_rows(c * _CHUNK, min(n, (c + 1) * _CHUNK), ap, ai, av, xp, xi, xv, new, acc,
                     weight, normalize)


@njit(cache=True)
def _add_dense(acc, x, weight, normalize):  # pragma: no cover - compiled
    for i in range(x.shape[0]):
        _add_row(acc[i], x[i], weight, normalize)


@njit(cache=True)
def _add_sparse(acc, indptr, indices, data, weight, normalize):  # pragma: no cover - compiled
    for i in range(indptr.size - 1):
        scale = weight
        if normalize:
            sq = 0.0
            for p in range(indptr[i], indptr[i + 1]):
                sq += data[p] * data[p]
            if sq > 0:
                scale = weight / np.sqrt(sq)
        for p in range(indptr[i], indptr[i + 1]):
            acc[i, indices[p]] += scale * data[p]


@njit(cache=True)
def _standardize(x):  # pragma: no cover - compiled
    """Column z-score in place as ``sklearn.preprocessing.scale`` (zero-variance columns kept).

    Two passes (mean, then squared deviations) with float64 sums; one thread, as the passes
    are limited by memory bandwidth.
    """
    n, d = x.shape
    mean = np.zeros(d)
    for i in range(n):
        for k in range(d):
            mean[k] += x[i, k]
    mean /= n
    var = np.zeros(d)
    for i in range(n):
        for k in range(d):
            var[k] += (x[i, k] - mean[k]) ** 2
    std = np.sqrt(var / n)
    for k in range(d):
        if std[k] == 0:
            std[k] = 1.0
    for i in range(n):
        for k in range(d):
            x[i, k] = (x[i, k] - mean[k]) / std[k]
