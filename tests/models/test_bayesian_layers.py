"""Mean-field layers: KL vs torch.distributions, sparse layers vs the masked dense layers."""

import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from bayesparse.models.bayesian_layers import (
    BayesConv2d,
    BayesLinear,
    SparseBayesConv2d,
    SparseBayesLinear,
    gaussian_kl,
)
from bayesparse.sparse import random_pattern


def test_gaussian_kl_matches_torch_distributions():
    gen = torch.Generator().manual_seed(0)
    mu = torch.randn(50, generator=gen, dtype=torch.float64)
    sigma = torch.rand(50, generator=gen, dtype=torch.float64) + 0.05
    prior = Normal(torch.tensor(0.0, dtype=torch.float64), torch.tensor(0.7, dtype=torch.float64))
    ref = kl_divergence(Normal(mu, sigma), prior).sum()
    torch.testing.assert_close(gaussian_kl(mu, sigma, 0.7), ref, rtol=1e-12, atol=0)


def test_sparse_layer_kl_counts_active_weights_only():
    layer = SparseBayesLinear(30, 10, density=0.2, random_state=0, prior_std=0.5).double()
    sig = torch.nn.functional.softplus
    ref = kl_divergence(Normal(layer.mu, sig(layer.rho)), Normal(0.0, 0.5)).sum()
    ref = ref + kl_divergence(Normal(layer.bias_mu, sig(layer.bias_rho)), Normal(0.0, 0.5)).sum()
    assert layer.mu.numel() == 60
    torch.testing.assert_close(layer.kl(), ref, rtol=1e-12, atol=0)


def _masked_dense(sparse, dense):
    """Copy a sparse layer into a dense one: zero mean and zero variance off the support."""
    with torch.no_grad():
        dense.mu.copy_(sparse.dense_mu().reshape(dense.mu.shape))
        rho = torch.full(sparse.support.shape, -math.inf, dtype=dense.rho.dtype)
        rho[sparse.support.row, sparse.support.col] = sparse.rho
        dense.rho.copy_(rho.reshape(dense.rho.shape))
        dense.bias_mu.copy_(sparse.bias_mu)
        dense.bias_rho.copy_(sparse.bias_rho)
    return dense


@pytest.mark.parametrize("threshold", [0.0, 1.0], ids=["csr-kernels", "densified"])
@pytest.mark.parametrize("mode", ["lrt", "mean"])
def test_sparse_linear_equals_masked_dense(threshold, mode):
    sparse = SparseBayesLinear(
        17, 6, density=0.25, random_state=1, sparse_threshold=threshold, rho_init=-2.0
    ).double()
    dense = _masked_dense(sparse, BayesLinear(17, 6).double())
    x = torch.randn(9, 17, dtype=torch.float64)
    out_s = sparse(x, mode, torch.Generator().manual_seed(3))
    out_d = dense(x, mode, torch.Generator().manual_seed(3))
    torch.testing.assert_close(out_s, out_d, rtol=0, atol=1e-12)
    out_s.sum().backward()
    out_d.sum().backward()
    grad_ref = dense.mu.grad[sparse.support.row, sparse.support.col]
    torch.testing.assert_close(sparse.mu.grad, grad_ref, rtol=0, atol=1e-12)


@pytest.mark.parametrize("threshold", [0.0, 1.0], ids=["unfold-csr", "densified-conv"])
def test_sparse_conv_equals_masked_dense(threshold):
    kw = dict(stride=(1, 2), padding=1)
    sparse = SparseBayesConv2d(
        3, 5, (3, 2), density=0.3, random_state=2, sparse_threshold=threshold, rho_init=-2.0,
        **kw,
    ).double()
    dense = _masked_dense(sparse, BayesConv2d(3, 5, (3, 2), **kw).double())
    x = torch.randn(2, 3, 7, 6, dtype=torch.float64)
    for mode in ("lrt", "mean"):
        out_s = sparse(x, mode, torch.Generator().manual_seed(4))
        out_d = dense(x, mode, torch.Generator().manual_seed(4))
        torch.testing.assert_close(out_s, out_d, rtol=0, atol=1e-12)


def test_sample_mode_shares_weights_across_batch():
    layer = SparseBayesLinear(5, 3, density=0.6, random_state=0, rho_init=0.0)
    x = torch.randn(1, 5).repeat(4, 1)
    out = layer(x, "sample", torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, out[:1].expand(4, 3))


def test_set_support_keeps_values_and_reports_sources():
    layer = SparseBayesLinear(6, 4, density=0.5, random_state=0)
    old = layer.dense_mu()
    new = random_pattern((4, 6), 0.5, random_state=5)
    mu_full = old.clone()
    src = layer.set_support(new, mu_full, torch.zeros(4, 6))
    assert layer.support.nnz == 12 and layer.mu.numel() == 12
    kept = src >= 0
    old_layer_vals = old[new.row, new.col]
    torch.testing.assert_close(layer.mu.detach()[kept], old_layer_vals[kept])
    assert torch.equal(old[new.row[~kept], new.col[~kept]], torch.zeros(int((~kept).sum())))


def test_bad_input():
    with pytest.raises(ValueError, match="density"):
        SparseBayesLinear(4, 4, density=0.0)
    with pytest.raises(ValueError, match="density"):
        SparseBayesConv2d(2, 2, 3, density=1.5)
    with pytest.raises(ValueError, match="support: expected shape"):
        SparseBayesLinear(4, 3, support=random_pattern((4, 3), 0.5, random_state=0))
    with pytest.raises(ValueError, match="prior_std"):
        BayesLinear(2, 2, prior_std=0.0)
    with pytest.raises(ValueError, match="mode"):
        BayesLinear(2, 2)(torch.zeros(1, 2), mode="map")
    layer = SparseBayesLinear(4, 4, density=0.5, random_state=0)
    with pytest.raises(ValueError, match="nnz"):
        layer.set_support(random_pattern((4, 4), 0.25, random_state=0),
                          torch.zeros(4, 4), torch.zeros(4, 4))
