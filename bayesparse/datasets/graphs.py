"""Degree-corrected stochastic block model with many small planted communities.

Karrer & Newman's DC-SBM (Phys. Rev. E 83, 016107, 2011): node ``i`` has a power-law weight
``θ_i`` (Pareto tail exponent ``gamma``) and community ``g_i``; each of the ``m`` edges picks
its source with probability ∝ θ and its target ∝ θ inside the source's community with
probability ``1 - mixing`` or ∝ θ over all nodes otherwise. Sampling is vectorised with one
``searchsorted`` over the cumulative weights (communities are contiguous before the final
relabelling), so a graph with 1M nodes and 10M edges takes seconds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from bayesparse.rng import check_generator


def make_planted_graph(
    n_nodes: int = 10_000,
    avg_degree: float = 10.0,
    community_size: int = 50,
    mixing: float = 0.2,
    gamma: float = 2.5,
    random_state: Any = None,
) -> tuple[sp.csr_matrix, np.ndarray]:
    """An undirected DC-SBM graph and its planted community labels.

    Parameters
    ----------
    n_nodes : int
        Number of nodes.
    avg_degree : float
        Target average degree (``m = n_nodes * avg_degree / 2`` edges are drawn; duplicate
        edges and self-loops are dropped, so the realised degree is slightly lower).
    community_size : int
        Nodes per community (the last one may be smaller).
    mixing : float
        Fraction of edges whose target is drawn from the whole graph.
    gamma : float
        Power-law exponent of the degree weights, > 1.
    random_state : None, int or numpy.random.Generator

    Returns
    -------
    adjacency : scipy.sparse.csr_matrix, shape (n_nodes, n_nodes)
        Symmetric 0/1 float32 adjacency without self-loops.
    labels : numpy.ndarray of int64, shape (n_nodes,)
        Community of each node.

    Examples
    --------
    >>> A, y = make_planted_graph(1000, avg_degree=10, random_state=0)
    >>> A.shape, bool((A != A.T).nnz == 0), int(y.max()) + 1
    ((1000, 1000), True, 20)

    References
    ----------
    B. Karrer and M. E. J. Newman, "Stochastic blockmodels and community structure in
    networks", Phys. Rev. E 83, 016107 (2011).
    """
    if int(n_nodes) < 2:
        raise ValueError(f"n_nodes: expected at least 2, got {n_nodes}")
    if not avg_degree > 0:
        raise ValueError(f"avg_degree: expected a positive number, got {avg_degree}")
    if int(community_size) < 2:
        raise ValueError(f"community_size: expected at least 2, got {community_size}")
    if not 0 <= mixing <= 1:
        raise ValueError(f"mixing: expected a value in [0, 1], got {mixing}")
    if not gamma > 1:
        raise ValueError(f"gamma: expected a value > 1, got {gamma}")
    n = int(n_nodes)
    rng = check_generator(random_state)
    block = np.arange(n) // int(community_size)
    theta = rng.pareto(gamma - 1.0, size=n) + 1.0
    cum = np.concatenate(([0.0], np.cumsum(theta)))
    starts = np.searchsorted(block, np.arange(block[-1] + 1))
    ends = np.append(starts[1:], n)
    m = int(round(n * avg_degree / 2))
    src = np.searchsorted(cum, rng.random(m) * cum[-1], side="right") - 1
    g = block[src]
    inside = rng.random(m) >= mixing
    lo = np.where(inside, cum[starts[g]], 0.0)
    hi = np.where(inside, cum[ends[g]], cum[-1])
    dst = np.searchsorted(cum, lo + rng.random(m) * (hi - lo), side="right") - 1
    np.clip(dst, 0, n - 1, out=dst)
    keep = src != dst
    # Relabel so communities are not contiguous index ranges (nothing may exploit the order).
    perm = rng.permutation(n)
    rows, cols = perm[src[keep]], perm[dst[keep]]
    a = sp.coo_matrix(
        (np.ones(2 * rows.size, dtype=np.float32), (np.r_[rows, cols], np.r_[cols, rows])),
        shape=(n, n),
    ).tocsr()
    a.data[:] = 1.0
    labels = np.empty(n, dtype=np.int64)
    labels[perm] = block
    return a, labels
