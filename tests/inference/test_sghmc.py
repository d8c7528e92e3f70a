"""SGHMC recovers a conjugate Gaussian posterior."""

import pytest
import torch

from bayesparse.inference.sghmc import sghmc


def _conjugate(n=30, d=2, seed=0):
    """Bayesian linear regression: y = X w + e, e ~ N(0, s2), w ~ N(0, I)."""
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=gen, dtype=torch.float64)
    s2 = 0.25
    y = X @ torch.tensor([1.0, -0.5], dtype=torch.float64) + s2**0.5 * torch.randn(
        n, generator=gen, dtype=torch.float64)
    cov = torch.linalg.inv(X.T @ X / s2 + torch.eye(d, dtype=torch.float64))
    return X, y, s2, cov @ X.T @ y / s2, cov


def test_sghmc_recovers_gaussian_posterior():
    X, y, s2, mean, cov = _conjugate()
    n = X.shape[0]

    def u(th, idx):
        xb, yb = (X, y) if idx is None else (X[idx], y[idx])
        return 0.5 * ((yb - xb @ th) ** 2).mean() / s2 + 0.5 * (th**2).sum() / n

    s = sghmc(u, torch.zeros(2, dtype=torch.float64), n, num_samples=3000, burn_in=1000,
              thin=5, lr=0.05, random_state=0)
    sd = cov.diagonal().sqrt()
    # Tolerance: means within 0.15 posterior sd; variances within 25% (3000 correlated draws).
    assert ((s.mean(0) - mean).abs() < 0.15 * sd).all()
    assert ((s.var(0) / cov.diagonal() - 1).abs() < 0.25).all()


def test_minibatch_and_reproducible():
    X, y, s2, mean, cov = _conjugate()

    def u(th, idx):
        xb, yb = (X, y) if idx is None else (X[idx], y[idx])
        return 0.5 * ((yb - xb @ th) ** 2).mean() / s2 + 0.5 * (th**2).sum() / 30

    a = sghmc(u, torch.zeros(2, dtype=torch.float64), 30, num_samples=50, burn_in=50,
              batch_size=10, random_state=3)
    b = sghmc(u, torch.zeros(2, dtype=torch.float64), 30, num_samples=50, burn_in=50,
              batch_size=10, random_state=3)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert a.shape == (50, 2)


@pytest.mark.parametrize("kw", [dict(num_samples=0), dict(thin=0), dict(lr=-1.0),
                                dict(mdecay=1.5)])
def test_bad_arguments(kw):
    with pytest.raises(ValueError):
        sghmc(lambda th, idx: (th**2).sum(), torch.zeros(1), 10, **kw)
