"""Dataset priors for PFNs: GP draws vs closed-form kernels, hyperprior moments, BNN prior."""

from __future__ import annotations

import math

import pytest
import torch

from bayesparse.datasets.priors import BNNPrior, GPPrior, user_prior_example


def _closed_form(X: torch.Tensor, ls: float, os: float, kind: str) -> torch.Tensor:
    r = torch.cdist(X.double(), X.double()) / ls
    if kind == "rbf":
        return os * torch.exp(-0.5 * r**2)
    return os * (1 + math.sqrt(5) * r + 5 / 3 * r**2) * torch.exp(-math.sqrt(5) * r)


@pytest.mark.parametrize("kind", ["rbf", "matern52"])
def test_gp_covariance_matches_closed_form(kind):
    prior = GPPrior(kernel=kind, lengthscale=0.4, outputscale=1.7, noise=0.05)
    X = torch.rand(3, 6, 2, generator=torch.Generator().manual_seed(0))
    hp = prior.hyperparameters(3, torch.Generator())
    K = prior.covariance(X, hp)
    torch.testing.assert_close(K, _closed_form(X, 0.4, 1.7, kind), atol=1e-6, rtol=1e-6)


def test_gp_draws_whiten_to_standard_normal():
    prior = GPPrior(kernel="matern52", hyperprior=True)
    gen = torch.Generator().manual_seed(1)
    X, y, hp = prior(2000, 5, 3, gen, return_hyperparameters=True)
    C = prior.covariance(X.double(), hp) + hp["noise"].view(-1, 1, 1) * torch.eye(5)
    z = torch.linalg.solve_triangular(torch.linalg.cholesky(C), y.double().unsqueeze(-1),
                                      upper=False).flatten()
    assert abs(float(z.mean())) < 0.05 and float(z.var()) == pytest.approx(1.0, abs=0.05)


def test_hyperprior_moments_and_reproducibility():
    prior = GPPrior(hyperprior=True)
    hp = prior.hyperparameters(20_000, torch.Generator().manual_seed(2))
    for name, (a, b) in (("lengthscale", prior.lengthscale_prior),
                         ("outputscale", prior.outputscale_prior), ("noise", prior.noise_prior)):
        assert float(hp[name].mean()) == pytest.approx(a / b, rel=0.03)
    first = prior(3, 4, 2, torch.Generator().manual_seed(5))
    again = prior(3, 4, 2, torch.Generator().manual_seed(5))
    other = prior(3, 4, 2, torch.Generator().manual_seed(6))
    assert torch.equal(first[1], again[1]) and not torch.equal(first[1], other[1])


def test_bnn_prior_draws_functions_plus_noise():
    gen = torch.Generator().manual_seed(3)
    X, y = BNNPrior()(6, 30, 2, gen)
    assert X.shape == (6, 30, 2) and y.shape == (6, 30) and torch.isfinite(y).all()
    # Functions differ between datasets and vary within one.
    assert float(y.std(1).mean()) > 0.2 and float(y.mean(1).std()) > 0.05
    # Zero weights leave only the noise: y ~ N(0, noise_std^2).
    _, noise = BNNPrior(weight_std=1e-9, noise_std=0.3)(50, 40, 2, gen)
    assert float(noise.std()) == pytest.approx(0.3, rel=0.05)


def test_user_prior_signature_and_bad_input():
    X, y = user_prior_example(2, 5, 3, torch.Generator().manual_seed(0))
    assert X.shape == (2, 5, 3) and y.shape == (2, 5)
    with pytest.raises(ValueError, match="kernel"):
        GPPrior(kernel="cosine")
    with pytest.raises(ValueError, match="lengthscale"):
        GPPrior(lengthscale=-1.0)
    with pytest.raises(ValueError, match="n_points"):
        GPPrior()(2, 0, 1, torch.Generator())
    with pytest.raises(ValueError, match="activations"):
        BNNPrior(activations=("softmax",))
