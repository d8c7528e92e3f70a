"""The planted-community DC-SBM generator: structure, degrees, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from bayesparse.datasets.graphs import make_planted_graph


def test_structure_and_mixing():
    a, y = make_planted_graph(5000, avg_degree=12, community_size=50, mixing=0.2, random_state=0)
    assert (a != a.T).nnz == 0 and a.diagonal().sum() == 0
    assert np.bincount(y).max() == 50 and y.max() + 1 == 100
    deg = np.asarray(a.sum(1)).ravel()
    assert deg.mean() == pytest.approx(12)
    rows, cols = a.nonzero()
    inside = np.mean(y[rows] == y[cols])
    # (1 - mixing) of the draws stay inside, minus the duplicates redrawn among hubs.
    assert 0.7 < inside < 0.85
    # Power-law weights give a heavy tail: the maximum degree far above the mean.
    assert deg.max() > 3 * deg.mean()


def test_deterministic():
    a1, y1 = make_planted_graph(1000, random_state=3)
    a2, y2 = make_planted_graph(1000, random_state=3)
    assert (a1 != a2).nnz == 0 and np.array_equal(y1, y2)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"n_nodes": 1}, "n_nodes"), ({"mixing": 2.0}, "mixing"), ({"gamma": 1.0}, "gamma")],
)
def test_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_planted_graph(**kwargs)
