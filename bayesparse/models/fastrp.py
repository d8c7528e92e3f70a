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

The products are ``torch.sparse`` CSR @ dense (multithreaded), in float32 by default.
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


def _transition(a: sp.csr_matrix, beta: float) -> tuple[sp.csr_matrix, np.ndarray]:
    """``D⁻¹ S`` and ``d^β``, with zeros (not inf) for isolated nodes."""
    deg = np.asarray(a.sum(axis=1)).ravel()
    nz = deg > 0
    inv = np.zeros_like(deg)
    inv[nz] = 1.0 / deg[nz]
    scale = np.zeros_like(deg)
    scale[nz] = deg[nz] ** beta
    return sp.diags(inv) @ a, scale


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


def _standardize(x: torch.Tensor) -> torch.Tensor:
    """Column z-score in place as ``sklearn.preprocessing.scale`` (zero-variance columns kept)."""
    x -= x.mean(dim=0)
    std = x.std(dim=0, unbiased=False)
    std[std == 0] = 1.0
    x /= std
    return x


def _row_normalize(x: torch.Tensor) -> torch.Tensor:
    norm = torch.linalg.vector_norm(x, dim=1, keepdim=True)
    norm[norm == 0] = 1.0
    return x / norm


def _initial_projection(
    n: int, n_components: int, scale: np.ndarray, rng: np.random.Generator, dtype: torch.dtype
) -> torch.Tensor:
    """Dense ``L R`` (n x dim) from the very sparse ``R`` with density ``1/sqrt(n)``."""
    r = very_sparse_matrix(n_components, n, 1.0 / np.sqrt(n), rng)
    out = torch.zeros((n, n_components), dtype=dtype)
    rows, cols = r.col, r.row
    vals = r.values.to(dtype) * torch.from_numpy(scale).to(dtype)[rows]
    out.index_put_((rows, cols), vals)
    return out


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
        """
        weights = _check_params(
            self.n_components, self.iteration_weights, self.normalization_strength
        )
        a, scale = _transition(adjacency_matrix(A), float(self.normalization_strength))
        rng = check_generator(self.random_state)
        current = _initial_projection(a.shape[0], int(self.n_components), scale, rng, self.dtype)
        if client is not None:
            out = fastrp_dask(a, current, weights, client, n_blocks, self.normalize_rows)
        else:
            out = propagate(a, current, weights, self.normalize_rows)
        if self.standardize:
            out = _standardize(out)
        self.embedding_ = out.numpy()
        return self

    def fit_transform(self, A: Any, y: Any = None, **kwargs: Any) -> np.ndarray:
        """Fit and return ``embedding_`` (n_nodes x n_components)."""
        return self.fit(A, y, **kwargs).embedding_


def propagate(
    a: sp.csr_matrix, initial: torch.Tensor, weights: np.ndarray, normalize_rows: bool = True
) -> torch.Tensor:
    """``Σ_k α_k N_k`` with ``N_1 = a · initial`` and ``N_k = a N_{k-1}`` (torch.sparse, threads).

    Parameters
    ----------
    a : scipy.sparse.csr_matrix
        Transition matrix ``D⁻¹ S``.
    initial : torch.Tensor
        ``L R`` (n x dim); its dtype is the compute precision.
    weights : numpy.ndarray
        ``α_1..α_q``.
    normalize_rows : bool
        L2-normalise the rows of each power before the sum.

    Returns
    -------
    torch.Tensor
        The unstandardised embedding.

    Examples
    --------
    >>> import numpy as np, scipy.sparse as sp, torch
    >>> a = sp.csr_matrix(np.array([[0.0, 1.0], [1.0, 0.0]]))
    >>> propagate(a, torch.eye(2), np.array([1.0, 1.0]), False).tolist()
    [[1.0, 1.0], [1.0, 1.0]]
    """
    op = SparseTensor.from_scipy(a).to(dtype=initial.dtype)
    current = initial
    out = torch.zeros_like(initial)
    for w in weights:
        current = op @ current
        if w != 0:
            out.add_(_row_normalize(current) if normalize_rows else current, alpha=float(w))
    return out


def fastrp_dask(
    a: sp.csr_matrix,
    initial: torch.Tensor,
    weights: np.ndarray,
    client: Any,
    n_blocks: int = 2,
    normalize_rows: bool = True,
) -> torch.Tensor:
    """``Σ_k α_k N_k`` with each ``N_k = A N_{k-1}`` computed block-row-wise on a dask cluster.

    The row blocks of the transition matrix ``a`` are scattered once and stay on the workers;
    each power broadcasts ``N_{k-1}`` and gathers the blocks of ``N_k``.

    Parameters
    ----------
    a : scipy.sparse.csr_matrix
        Transition matrix ``D⁻¹ S``.
    initial : torch.Tensor
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
    torch.Tensor
        The unstandardised embedding.
    """
    if not isinstance(n_blocks, numbers.Integral) or n_blocks <= 0:
        raise ValueError(f"n_blocks: expected a positive int, got {n_blocks!r}")
    bounds = np.linspace(0, a.shape[0], int(n_blocks) + 1).astype(int)
    blocks = client.scatter([a[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)])
    current = initial.numpy()
    out = np.zeros_like(current)
    for w in weights:
        shared = client.scatter(current, broadcast=True)
        parts = client.gather([client.submit(_block_product, b, shared) for b in blocks])
        current = np.concatenate(parts).astype(current.dtype, copy=False)
        if w != 0:
            t = torch.from_numpy(current)
            out += w * (_row_normalize(t) if normalize_rows else t).numpy()
    return torch.from_numpy(out)


def _block_product(block: sp.csr_matrix, dense: np.ndarray) -> np.ndarray:
    return np.asarray(block.astype(dense.dtype) @ dense)
