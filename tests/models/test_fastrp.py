"""FastRP against a direct dense computation, input handling, relabelling and dask."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from bayesparse.datasets.graphs import make_planted_graph
from bayesparse.models import fastrp as fastrp_module
from bayesparse.models.fastrp import (
    FastRP,
    _initial_projection,
    _transition,
    adjacency_matrix,
    propagate,
)
from bayesparse.rng import check_generator
from bayesparse.sparse import SparseTensor


def _dense_fastrp(s: np.ndarray, weights, beta, seed, dim, normalize_rows=True):
    """Algorithm 1 of Chen et al. with dense powers of D⁻¹S (the closed form)."""
    n = s.shape[0]
    d = s.sum(axis=1)
    inv = np.where(d > 0, 1.0 / np.where(d > 0, d, 1.0), 0.0)
    a = inv[:, None] * s
    scale = np.where(d > 0, np.where(d > 0, d, 1.0) ** beta, 0.0)
    r = _initial_projection(n, dim, scale, check_generator(seed), torch.float64).toarray()
    out = np.zeros((n, dim))
    for k, w in enumerate(weights, start=1):
        nk = np.linalg.matrix_power(a, k) @ r
        if normalize_rows:
            norm = np.linalg.norm(nk, axis=1, keepdims=True)
            nk = nk / np.where(norm > 0, norm, 1.0)
        out += w * nk
    out -= out.mean(axis=0)
    std = out.std(axis=0)
    return out / np.where(std > 0, std, 1.0)


@settings(max_examples=15, deadline=None)
@given(
    n=st.integers(5, 30),
    p=st.floats(0.05, 0.6),
    beta=st.floats(-1.0, 0.5),
    normalize_rows=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_equals_dense_closed_form(n, p, beta, normalize_rows, seed):
    rng = np.random.default_rng(seed)
    # Directed, weighted, possibly with isolated nodes.
    s = (rng.random((n, n)) < p) * rng.uniform(0.5, 2.0, (n, n))
    weights = (0.3, 1.0, 2.0)
    got = FastRP(
        8, weights, beta, normalize_rows=normalize_rows, dtype=torch.float64, random_state=seed
    ).fit_transform(sp.csr_matrix(s))
    want = _dense_fastrp(s, weights, beta, seed, 8, normalize_rows)
    np.testing.assert_allclose(got, want, atol=1e-10, rtol=1e-10)
    assert np.all(np.isfinite(got))


@pytest.mark.parametrize("sparse_fraction", [0.0, 1.0])
@pytest.mark.parametrize("parallel_min_work", [0, 2**62])
def test_sparse_dense_and_threaded_paths_agree(monkeypatch, sparse_fraction, parallel_min_work):
    # Powers kept sparse (all but the last) or all dense, kernels threaded or not: one result.
    a, _ = make_planted_graph(400, avg_degree=6, random_state=7)
    model = FastRP(16, (1.0, 0.5, 2.0, 3.0), -0.3, dtype=torch.float64, random_state=1)
    ref = model.fit_transform(a)
    monkeypatch.setattr(fastrp_module, "SPARSE_FRACTION", sparse_fraction)
    monkeypatch.setattr(fastrp_module, "PARALLEL_MIN_WORK", parallel_min_work)
    np.testing.assert_allclose(model.fit_transform(a), ref, atol=1e-12)


def test_float32_close_to_float64():
    a, _ = make_planted_graph(500, random_state=8)
    e64 = FastRP(32, dtype=torch.float64, random_state=0).fit_transform(a)
    e32 = FastRP(32, random_state=0).fit_transform(a)
    assert e32.dtype == np.float32 and e64.dtype == np.float64
    np.testing.assert_allclose(e32, e64, atol=1e-4)


def test_isolated_nodes_and_directed_edges():
    # Node 3 is isolated, node 2 only receives edges: both have zero rows in A (no division by
    # zero) and zero rows in the unstandardised embedding.
    edges = [(0, 1, 1.0), (1, 0, 2.0), (0, 2, 1.0), (1, 2, 0.5), (4, 0, 1.0)]
    e = FastRP(8, (1.0, 1.0), standardize=False, dtype=torch.float64,
               random_state=0).fit_transform(edges)
    assert e.shape == (5, 8) and np.all(np.isfinite(e))
    np.testing.assert_array_equal(e[[2, 3]], 0.0)
    z = FastRP(8, (1.0, 1.0), random_state=0).fit_transform(edges)
    assert np.all(np.isfinite(z))


def test_input_types_agree():
    a, _ = make_planted_graph(200, random_state=1)
    model = FastRP(16, random_state=3, dtype=torch.float64)
    ref = model.fit_transform(a)
    coo = a.tocoo()
    edges = np.column_stack((coo.row, coo.col))
    np.testing.assert_array_equal(model.fit_transform(SparseTensor.from_scipy(a)), ref)
    np.testing.assert_array_equal(model.fit_transform(edges), ref)
    g = nx.from_scipy_sparse_array(a)
    np.testing.assert_allclose(model.fit_transform(g), ref, atol=1e-12)
    assert model.embedding_.shape == (200, 16)


def test_relabelling_permutes_rows():
    a, _ = make_planted_graph(300, random_state=2)
    tr, scale = _transition(adjacency_matrix(a), -0.5)
    r = _initial_projection(300, 16, scale, check_generator(0), torch.float64)
    perm = np.random.default_rng(0).permutation(300)
    weights = np.array([0.5, 1.0, 6.0])
    base = propagate(tr, r, weights)
    moved = propagate(tr[perm][:, perm], r[perm], weights)
    np.testing.assert_allclose(moved, base[perm], atol=1e-12)


def test_deterministic_and_communities():
    a, y = make_planted_graph(2000, avg_degree=12, random_state=0)
    e1 = FastRP(64, random_state=5).fit_transform(a)
    np.testing.assert_array_equal(e1, FastRP(64, random_state=5).fit_transform(a))
    assert not np.array_equal(e1, FastRP(64, random_state=6).fit_transform(a))
    x = e1 / np.linalg.norm(e1, axis=1, keepdims=True)
    rng = np.random.default_rng(0)
    i, j = rng.integers(0, 2000, (2, 5000))
    rows, cols = a.nonzero()
    inside = y[rows] == y[cols]
    sim_same = np.sum(x[rows[inside]] * x[cols[inside]], axis=1).mean()
    sim_rand = np.sum(x[i] * x[j], axis=1).mean()
    assert sim_same > sim_rand + 0.3


@pytest.mark.parametrize(
    ("graph", "kwargs", "match"),
    [
        (sp.csr_matrix(np.ones((3, 4))), {}, "A: adjacency must be square"),
        (sp.csr_matrix(-np.eye(3)), {}, "A: negative"),
        (sp.csr_matrix(np.array([[0, np.nan], [1, 0]])), {}, "A: NaN"),
        (sp.csr_matrix(np.eye(3)), {"n_components": 0}, "n_components"),
        (sp.csr_matrix(np.eye(3)), {"n_components": -2}, "n_components"),
        (sp.csr_matrix(np.eye(3)), {"n_components": 2.5}, "n_components"),
        (sp.csr_matrix(np.eye(3)), {"normalization_strength": np.nan}, "normalization_strength"),
        (np.array([[0, 1], [-1, 2]]), {}, "A: edge endpoints"),
        (sp.csr_matrix(np.eye(3)), {"iteration_weights": []}, "iteration_weights"),
        (np.zeros((2, 2, 2)), {}, "A: expected"),
    ],
)
def test_bad_input(graph, kwargs, match):
    with pytest.raises(ValueError, match=match):
        FastRP(**kwargs).fit(graph)


def test_bad_dtype():
    with pytest.raises(TypeError, match="dtype"):
        FastRP(dtype=torch.int64).fit(sp.csr_matrix(np.eye(3)))


def test_dask_equals_in_memory(monkeypatch):
    distributed = pytest.importorskip("dask.distributed")
    a, _ = make_planted_graph(600, random_state=4)
    model = FastRP(16, (0.5, 1.0, 2.0), dtype=torch.float64, random_state=0)
    ref = model.fit_transform(a)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        got = model.fit_transform(a, client=client, n_blocks=3)
        # the same with the early powers sparse on the workers
        monkeypatch.setattr(fastrp_module, "SPARSE_FRACTION", 1.0)
        got_sparse = model.fit_transform(a, client=client, n_blocks=3)
    np.testing.assert_allclose(got, ref, atol=1e-12)
    np.testing.assert_allclose(got_sparse, ref, atol=1e-12)
