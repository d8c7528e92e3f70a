"""Greedy forest blocks and message passing for quadratics on sparse graphs.

Nutini, Laradji & Schmidt (JMLR 2022, Sec. 4): when the block's sub-matrix ``Q_bb`` of a
quadratic ``u^T Q u / 2 - c^T u`` has a forest as its sparsity graph, the exact block update
``Q_bb d = -g_b`` is Gaussian elimination on the forest, leaves first (message passing), in
time linear in the block size; so blocks can hold a large fraction of the variables. The
blocks are grown greedily each iteration (their Sec. 4.3): nodes in decreasing order of the
GSL score ``||g_i||^2 / Q_ii``, each added unless two of its neighbours already in the block
lie in the same tree (union-find), which keeps the block a forest.

References
----------
.. [1] J. Nutini, I. Laradji, M. Schmidt. Let's Make Block Coordinate Descent Converge Faster.
   JMLR 23(131), 2022, Sec. 4.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _find(root, v):  # pragma: no cover - compiled
    while root[v] != v:
        root[v] = root[root[v]]
        v = root[v]
    return v


@njit(cache=True)
def greedy_forest(order, indptr, indices, max_size):  # pragma: no cover - compiled
    """Nodes of a forest-inducing block grown greedily in the given order.

    Parameters
    ----------
    order : int64 array
        Candidate nodes, best first.
    indptr, indices : int arrays
        CSR structure of the (symmetric) graph.
    max_size : int
        Largest block size.

    Returns
    -------
    int64 array
        The selected nodes (the subgraph they induce is a forest).
    """
    m = indptr.size - 1
    root = np.arange(m)
    chosen = np.zeros(m, dtype=np.bool_)
    out = np.empty(min(max_size, order.size), dtype=np.int64)
    count = 0
    for v in order:
        if count >= out.size:
            break
        deg = indptr[v + 1] - indptr[v]
        roots = np.empty(deg, dtype=np.int64)
        nr = 0
        ok = True
        for e in range(indptr[v], indptr[v + 1]):
            u = indices[e]
            if u != v and chosen[u]:
                r = _find(root, u)
                for t in range(nr):
                    if roots[t] == r:
                        ok = False
                roots[nr] = r
                nr += 1
        if ok:
            chosen[v] = True
            for t in range(nr):
                root[roots[t]] = v
            out[count] = v
            count += 1
    return out[:count]


@njit(cache=True)
def forest_solve(nodes, indptr, indices, data, diag, rhs):  # pragma: no cover - compiled
    """Solve ``Q_bb x = rhs`` on a forest block by elimination from the leaves.

    Parameters
    ----------
    nodes : int64 array
        The block (its induced subgraph must be a forest).
    indptr, indices, data : arrays
        CSR of the off-diagonal part of ``Q`` (``Q_ij`` for ``i != j``).
    diag : float array
        ``Q_ii`` for every node.
    rhs : float array of shape (len(nodes), k)

    Returns
    -------
    float array of shape (len(nodes), k)
    """
    m = indptr.size - 1
    nb = nodes.size
    k = rhs.shape[1]
    pos = -np.ones(m, dtype=np.int64)
    for t in range(nb):
        pos[nodes[t]] = t
    parent = -np.ones(nb, dtype=np.int64)
    q_par = np.zeros(nb)
    seen = np.zeros(nb, dtype=np.bool_)
    bfs = np.empty(nb, dtype=np.int64)
    head = 0
    tail = 0
    for s in range(nb):
        if seen[s]:
            continue
        seen[s] = True
        bfs[tail] = s
        tail += 1
        while head < tail:
            a = bfs[head]
            head += 1
            v = nodes[a]
            for e in range(indptr[v], indptr[v + 1]):
                b = pos[indices[e]]
                if b >= 0 and not seen[b] and indices[e] != v:
                    seen[b] = True
                    parent[b] = a
                    q_par[b] = data[e]
                    bfs[tail] = b
                    tail += 1
    piv = np.empty(nb)
    for t in range(nb):
        piv[t] = diag[nodes[t]]
    r = rhs.copy()
    # leaves first: fold each node into its parent (a Schur complement on a tree)
    for t in range(nb - 1, -1, -1):
        a = bfs[t]
        p = parent[a]
        if p >= 0:
            f = q_par[a] / piv[a]
            piv[p] -= f * q_par[a]
            for c in range(k):
                r[p, c] -= f * r[a, c]
    x = np.empty_like(r)
    for t in range(nb):
        a = bfs[t]
        p = parent[a]
        for c in range(k):
            x[a, c] = (r[a, c] - (q_par[a] * x[p, c] if p >= 0 else 0.0)) / piv[a]
    return x
