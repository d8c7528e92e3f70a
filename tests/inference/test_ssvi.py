"""SSVI: removal scores vs scipy's folded normal, support updates, schedule and the loop."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import foldnorm

from bayesparse.inference.flops import FlopCounter
from bayesparse.inference.ssvi import removal_score, ssvi, update_fraction, update_support
from bayesparse.models.bayesian_layers import SparseBayesLinear
from bayesparse.models.sparse_bnn import BayesCNN, BayesMLP


@settings(max_examples=30, deadline=None)
@given(mu=st.floats(-3, 3), sigma=st.floats(0.05, 2))
def test_snr_abs_matches_scipy_folded_normal(mu, sigma):
    """Paper's score = E|theta| / std|theta| for theta ~ N(mu, sigma^2) (rtol 1e-6)."""
    ref = foldnorm(abs(mu) / sigma, scale=sigma)
    got = removal_score(torch.tensor([mu], dtype=torch.float64),
                        torch.tensor([sigma], dtype=torch.float64), "snr_abs")
    assert float(got) == pytest.approx(ref.mean() / ref.std(), rel=1e-6)


def test_other_scores():
    mu, sigma = torch.tensor([-2.0, 0.5]), torch.tensor([4.0, 0.25])
    assert removal_score(mu, sigma, "mu").tolist() == [2.0, 0.5]
    assert removal_score(mu, sigma, "snr").tolist() == [0.5, 2.0]
    with pytest.raises(ValueError, match="removal"):
        removal_score(mu, sigma, "magnitude")


def test_update_fraction_is_cosine():
    for t in (0, 13, 50, 99):
        expected = 0.15 * (1 + math.cos(math.pi * t / 100))
        assert update_fraction(t, 100, 0.3) == pytest.approx(expected)
    assert update_fraction(100, 100) == 0.0 == update_fraction(150, 100)


@pytest.mark.parametrize("criterion", ["mu", "snr", "snr_abs"])
def test_update_removes_lowest_scores_and_keeps_density(criterion):
    layer = SparseBayesLinear(20, 10, density=0.3, random_state=0)
    with torch.no_grad():
        layer.rho.copy_(torch.linspace(-4, 1, layer.rho.numel()))
    scores = removal_score(layer.mu.detach(), torch.nn.functional.softplus(layer.rho.detach()),
                           criterion)
    old_rows, old_cols = layer.support.row.clone(), layer.support.col.clone()
    grad = torch.randn(10, 20, generator=torch.Generator().manual_seed(0))
    src, n = update_support(layer, 0.2, removal=criterion, grad=grad)
    assert n == int(0.2 * 60) and layer.support.nnz == 60 and layer.mu.numel() == 60
    removed = set(range(60)) - set(src[src >= 0].tolist())
    assert removed == set(torch.topk(scores, n, largest=False).indices.tolist())
    # Added: largest |grad| among previously inactive weights; mu = 0, rho = mean kept rho.
    inactive = torch.ones(10, 20, dtype=torch.bool)
    inactive[old_rows, old_cols] = False
    g = grad.abs().masked_fill(~inactive, -1).reshape(-1)
    expected = set(torch.topk(g, n).indices.tolist())
    added = src < 0
    got = set((layer.support.row[added] * 20 + layer.support.col[added]).tolist())
    assert got == expected
    assert torch.all(layer.mu.detach()[added] == 0)
    kept_rho = layer.rho.detach()[~added]
    torch.testing.assert_close(layer.rho.detach()[added], kept_rho.mean().expand(n))


def test_random_addition_is_reproducible_and_exact():
    def run(seed):
        layer = SparseBayesLinear(8, 8, density=0.25, random_state=0,
                                  generator=torch.Generator().manual_seed(0))
        update_support(layer, 0.5, generator=np.random.default_rng(seed))
        return layer.support.indices

    a, b = run(1), run(1)
    assert torch.equal(a, b) and a.shape[1] == 16


def _toy(n=96, d=6, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    return X, (X[:, 0] + X[:, 1] > 0).astype(np.int64)


def test_loop_keeps_density_and_learns():
    X, y = _toy()
    net = BayesMLP(6, 2, hidden=(32,), density=0.3, random_state=0)
    per_layer = [layer.support.nnz for layer in net.sparse_layers()]
    counter = FlopCounter(net)
    log = ssvi(net, X, y, n_epochs=25, batch_size=16, update_every=5, lr=1e-2, random_state=0,
               callbacks=[counter])
    assert [layer.support.nnz for layer in net.sparse_layers()] == per_layer
    assert log["n_updates"] > 5 and sum(log["n_replaced"]) > 0
    assert log["loss"][-1] < log["loss"][0]
    with torch.no_grad():
        acc = (net(torch.from_numpy(X), "mean").argmax(1).numpy() == y).mean()
    assert acc > 0.9
    assert counter.flops < counter.flops_dense


def test_loop_is_reproducible_and_dense_vi_has_no_updates():
    X, y = _toy()
    runs = []
    for _ in range(2):
        net = BayesCNN((1, 2, 3), 2, channels=(3,), density=0.5, first_layer_dense=False,
                       random_state=1)
        ssvi(net, X, y, n_epochs=2, batch_size=32, update_every=2, random_state=3)
        runs.append(torch.cat([p.detach().reshape(-1) for p in net.parameters()]))
    torch.testing.assert_close(runs[0], runs[1], rtol=0, atol=0)
    net = BayesMLP(6, 2, hidden=(8,), density=1.0, random_state=0)
    counter = FlopCounter(net)
    log = ssvi(net, X, y, n_epochs=2, batch_size=32, update_every=1, random_state=0,
               callbacks=[counter])
    assert log["n_updates"] == 0 and counter.flops == counter.flops_dense > 0


def test_adam_state_follows_weights():
    X, y = _toy()
    net = BayesMLP(6, 2, hidden=(16,), density=0.5, random_state=0)
    log = ssvi(net, X, y, n_epochs=3, batch_size=32, update_every=3, random_state=0)
    assert log["n_updates"] >= 1
    for layer in net.sparse_layers():
        assert layer.mu.numel() == layer.support.nnz


def test_bad_input():
    X, y = _toy()
    net = BayesMLP(6, 2, hidden=(8,), density=0.5, random_state=0)
    with pytest.raises(ValueError, match="removal"):
        ssvi(net, X, y, removal="l1")
    with pytest.raises(ValueError, match="addition"):
        ssvi(net, X, y, addition="momentum")
    with pytest.raises(ValueError, match="different numbers of samples"):
        ssvi(net, X, y[:-1])
    with pytest.raises(ValueError, match="n_epochs"):
        ssvi(net, X, y, n_epochs=0)
    with pytest.raises(ValueError, match="fraction"):
        update_support(net.sparse_layers()[0], 1.5)
