"""BarDistribution (Riemann head) against closed forms and numerical integration."""

from __future__ import annotations

import math

import pytest
import torch

from bayesparse.models.riemann import BarDistribution

BORDERS = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
P = torch.tensor([0.1, 0.2, 0.4, 0.2, 0.1])
LOGITS = P.log().unsqueeze(0)


def _integral(bar: BarDistribution, logits: torch.Tensor, lo: float, hi: float, n: int):
    # Midpoint rule on a grid containing every border: exact on the buckets, O(h^2) on tails.
    y = torch.sort(torch.cat([torch.linspace(lo, hi, n, dtype=torch.float64),
                              bar.borders.double()]))[0]
    mid = (y[1:] + y[:-1]) / 2
    dens = bar.log_prob(logits.double().expand(mid.numel(), -1), mid).exp()
    return float((dens * (y[1:] - y[:-1])).sum())


def test_density_integrates_to_one_with_tails():
    gen = torch.Generator().manual_seed(0)
    bar = BarDistribution(torch.sort(torch.randn(51, generator=gen))[0])
    logits = torch.randn(1, 50, generator=torch.Generator().manual_seed(1))
    assert _integral(bar, logits, -40.0, 40.0, 100_001) == pytest.approx(1.0, abs=1e-6)


def test_density_is_p_over_width_inside():
    bar = BarDistribution(BORDERS)
    y = torch.tensor([1.5, 2.25, 3.9])
    lp = bar.log_prob(LOGITS.expand(3, -1), y)
    assert torch.allclose(lp, torch.log(P[[1, 2, 3]] / 1.0), atol=1e-6)


def test_mean_variance_median_quantiles_closed_form():
    bar = BarDistribution(BORDERS)
    # Tails: half-normals from 1 (leftwards) and 4 (rightwards) with median at width 1.
    s = 1.0 / 0.6744897501960817
    tail_m1 = s * math.sqrt(2 / math.pi)
    m1 = torch.tensor([1 - tail_m1, 1.5, 2.5, 3.5, 4 + tail_m1])
    mean = float((P * m1).sum())
    assert float(bar.mean(LOGITS)[0]) == pytest.approx(mean, abs=1e-5)
    m2 = torch.tensor([1 - 2 * s * math.sqrt(2 / math.pi) + s**2, (4 + 2 + 1) / 3,
                       (9 + 6 + 4) / 3, (16 + 12 + 9) / 3,
                       16 + 8 * s * math.sqrt(2 / math.pi) + s**2])
    assert float(bar.variance(LOGITS)[0]) == pytest.approx(float((P * m2).sum()) - mean**2,
                                                            rel=1e-5)
    assert float(bar.median(LOGITS)[0]) == pytest.approx(2.5, abs=1e-6)
    q = bar.quantiles(LOGITS, torch.tensor([0.05, 0.2, 0.5, 0.8, 0.95]))[0]
    # Tails: the half-normal's median sits one width beyond the inner border.
    expected = torch.tensor([0.0, 1.5, 2.5, 3.5, 5.0])
    assert torch.allclose(q, expected, atol=1e-5)


def test_cdf_inverts_icdf_everywhere():
    bar = BarDistribution(BORDERS)
    logits = torch.randn(7, 5, generator=torch.Generator().manual_seed(2))
    for q in (1e-6, 0.01, 0.07, 0.3, 0.5, 0.77, 0.95, 0.999999):
        y = bar.icdf(logits, q)
        assert torch.allclose(bar.cdf(logits, y), torch.full((7,), q), atol=1e-5)


def test_samples_match_moments_and_cdf():
    bar = BarDistribution(BORDERS)
    s = bar.sample(LOGITS, 200_000, generator=torch.Generator().manual_seed(3))[:, 0]
    assert float(s.mean()) == pytest.approx(float(bar.mean(LOGITS)[0]), abs=0.01)
    assert float(s.var()) == pytest.approx(float(bar.variance(LOGITS)[0]), rel=0.02)
    for y in (0.3, 1.7, 2.5, 4.6):
        emp = float((s <= y).double().mean())
        assert emp == pytest.approx(float(bar.cdf(LOGITS, torch.tensor([y]))[0]), abs=4e-3)


def test_from_samples_has_equal_prior_mass():
    gen = torch.Generator().manual_seed(4)
    bar = BarDistribution.from_samples(torch.randn(200_000, generator=gen), n_buckets=20)
    fresh = torch.randn(200_000, generator=gen)
    counts = torch.bincount((torch.searchsorted(bar.borders, fresh) - 1).clamp(0, 19),
                            minlength=20).double() / fresh.numel()
    assert torch.allclose(counts, torch.full((20,), 0.05, dtype=torch.float64), atol=3e-3)
    # Uniform logits then give (nearly) the prior's density: its mean is ~0.
    assert abs(float(bar.mean(torch.zeros(1, 20))[0])) < 0.05


def test_bad_input():
    bar = BarDistribution(BORDERS)
    with pytest.raises(ValueError, match="n_buckets=5"):
        bar.mean(torch.zeros(2, 4))
    with pytest.raises(ValueError, match="q:"):
        bar.icdf(LOGITS, 1.0)
    with pytest.raises(ValueError, match="increasing"):
        BarDistribution(torch.tensor([0.0, 2.0, 1.0, 3.0]))
