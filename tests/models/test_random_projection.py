"""VerySparseRandomProjection: sklearn's distribution, the JL guarantee, input types."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy import stats
from sklearn.random_projection import SparseRandomProjection, johnson_lindenstrauss_min_dim
from sklearn.utils.estimator_checks import check_estimator

from bayesparse.models.random_projection import VerySparseRandomProjection
from bayesparse.sparse import SparseTensor


def test_check_estimator():
    check_estimator(VerySparseRandomProjection(n_components=5, random_state=0))


def test_same_distribution_as_sklearn():
    x = np.zeros((10, 10_000))
    ours = VerySparseRandomProjection(200, random_state=0).fit(x)
    peer = SparseRandomProjection(200, random_state=0).fit(x)
    r = ours.components_
    assert isinstance(r, SparseTensor)
    ref = peer.components_
    # Same support size (density 1/sqrt(d) = 0.01) and the same two values ±sqrt(s / k).
    assert ours.density_ == pytest.approx(peer.density_)
    assert r.nnz == pytest.approx(ref.nnz, rel=0.05)
    np.testing.assert_allclose(np.unique(r.values.numpy()), np.unique(ref.data), rtol=1e-12)
    # Signs: a binomial test of fair ±, and E r² = 1/k per entry for both.
    pos = int((r.values > 0).sum())
    assert stats.binomtest(pos, r.nnz).pvalue > 1e-3
    mean_sq = float((r.values**2).sum()) / (200 * 10_000)
    assert mean_sq == pytest.approx(ref.multiply(ref).sum() / (200 * 10_000), rel=0.05)
    assert mean_sq == pytest.approx(1 / 200, rel=0.05)


def test_jl_distortion_within_bound():
    # Dasgupta-Gupta: k >= johnson_lindenstrauss_min_dim(n, eps) keeps all squared pairwise
    # distances within (1 ± eps) with probability >= 1 - 1/n. 40 independent draws: the number
    # of failures is at most Binomial(40, 1/n); 6 or more has probability < 1e-4.
    n, eps = 30, 0.5
    x = np.random.default_rng(0).normal(size=(n, 3000))
    iu = np.triu_indices(n, 1)
    d0 = ((x[:, None] - x[None]) ** 2).sum(-1)[iu]
    failures = 0
    for seed in range(40):
        y = VerySparseRandomProjection(eps=eps, random_state=seed).fit_transform(x)
        assert y.shape[1] == johnson_lindenstrauss_min_dim(n, eps=eps)
        ratio = ((y[:, None] - y[None]) ** 2).sum(-1)[iu] / d0
        failures += not np.all((ratio > 1 - eps) & (ratio < 1 + eps))
    assert stats.binom.sf(failures - 1, 40, 1 / n) > 1e-4


def test_inputs_numpy_scipy_torch_agree():
    rng = np.random.default_rng(1)
    x = sp.random(40, 500, density=0.05, random_state=1, format="csr")
    model = VerySparseRandomProjection(20, random_state=rng).fit(x)
    want = x.toarray() @ model.components_.to_dense().numpy().T
    out_sparse = model.transform(x)
    assert sp.issparse(out_sparse)
    np.testing.assert_allclose(out_sparse.toarray(), want, atol=1e-12)
    np.testing.assert_allclose(model.transform(x.toarray()), want, atol=1e-12)
    t = model.transform(torch.from_numpy(x.toarray()))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float64
    np.testing.assert_allclose(t.numpy(), want, atol=1e-12)
    t32 = model.transform(torch.from_numpy(x.toarray()).float())
    assert t32.dtype == torch.float32
    np.testing.assert_allclose(t32.numpy(), want, atol=1e-4)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"n_components": 0}, "n_components"), ({"density": 2.0}, "density"), ({"eps": 1.5}, "eps")],
)
def test_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        VerySparseRandomProjection(**kwargs).fit(np.ones((5, 10)))


def test_torch_wrong_width():
    model = VerySparseRandomProjection(3, random_state=0).fit(np.ones((5, 10)))
    with pytest.raises(ValueError, match="X: expected shape"):
        model.transform(torch.ones(2, 9))
