"""Pyro-backed HMC recovers a conjugate Gaussian posterior."""

import pytest
import torch

from bayesparse.inference.hmc import hmc


def test_hmc_recovers_gaussian_posterior():
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(30, 2, generator=gen, dtype=torch.float64)
    s2 = 0.25
    y = X @ torch.tensor([1.0, -0.5], dtype=torch.float64) + 0.5 * torch.randn(
        30, generator=gen, dtype=torch.float64)
    cov = torch.linalg.inv(X.T @ X / s2 + torch.eye(2, dtype=torch.float64))
    mean = cov @ X.T @ y / s2

    def potential(th):
        return 0.5 * ((y - X @ th) ** 2).sum() / s2 + 0.5 * (th**2).sum()

    s = hmc(potential, torch.zeros(2, dtype=torch.float64), num_samples=400, warmup_steps=200,
            num_steps=5, random_state=0)
    sd = cov.diagonal().sqrt()
    # Tolerance: means within 0.15 posterior sd; variances within 25% (400 draws).
    assert ((s.mean(0) - mean).abs() < 0.15 * sd).all()
    assert ((s.var(0) / cov.diagonal() - 1).abs() < 0.25).all()
    again = hmc(potential, torch.zeros(2, dtype=torch.float64), num_samples=400, warmup_steps=200,
                num_steps=5, random_state=0)
    torch.testing.assert_close(s, again, rtol=0, atol=0)


@pytest.mark.parametrize("kw", [dict(num_samples=0), dict(num_steps=0), dict(target_accept=1.0)])
def test_bad_arguments(kw):
    with pytest.raises(ValueError):
        hmc(lambda th: (th**2).sum(), torch.zeros(1), **kw)
