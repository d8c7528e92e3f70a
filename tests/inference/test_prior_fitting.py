"""Prior fitting: resume equals uninterrupted training, the schedule, losses, bad input."""

from __future__ import annotations

import pytest
import torch

from bayesparse.datasets.priors import GPPrior, user_prior_example
from bayesparse.inference.prior_fitting import _lr, fit_prior, plan_step
from bayesparse.models.pfn import PFN
from bayesparse.rng import torch_generator

PRIOR = GPPrior(hyperprior=True)
FIT = dict(steps=4, batch_size=3, max_features=2, min_train=2, max_train=6, n_query=4,
           warmup=2, random_state=0)


def _net() -> PFN:
    torch.manual_seed(0)
    return PFN(torch.linspace(-4, 4, 31), max_features=2, max_train=6, emb=16, n_layers=1,
               n_heads=2, hidden=16)


def test_resumed_training_equals_uninterrupted(tmp_path):
    full = fit_prior(_net(), PRIOR, checkpoint=tmp_path / "a.pt", checkpoint_every=1, **FIT)
    first = fit_prior(_net(), PRIOR, checkpoint=tmp_path / "b.pt", checkpoint_every=3,
                      callback=lambda step, loss: step == 2, **FIT)
    assert first.step == 2
    resumed = fit_prior(_net(), PRIOR, checkpoint=tmp_path / "b.pt", checkpoint_every=3, **FIT)
    assert resumed.step == 4
    assert resumed.losses == pytest.approx(full.losses, abs=1e-6)
    for (name, a), b in zip(full.model.state_dict().items(),
                            resumed.model.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-6, msg=name)


def test_schedule_and_variable_context_sizes():
    assert _lr(0, 1.0, 10, 100) == pytest.approx(0.1)
    assert _lr(9, 1.0, 10, 100) == pytest.approx(1.0)
    assert _lr(55, 1.0, 10, 100) == pytest.approx(0.5)
    assert _lr(100, 1.0, 10, 100) == pytest.approx(0.0, abs=1e-12)
    gen = torch_generator(0)
    plans = [plan_step(gen, 2, 3, 5, 9) for _ in range(300)]
    assert {p.n_train for p in plans} == set(range(5, 10))
    assert {p.n_features for p in plans} == {1, 2, 3}
    assert all(len(p.seeds) == 2 for p in plans)


def test_training_lowers_the_loss_on_a_user_prior():
    torch.manual_seed(0)
    net = PFN(torch.linspace(-3, 3, 41), max_features=2, emb=32, n_layers=1, n_heads=2,
              hidden=32)
    res = fit_prior(net, user_prior_example, steps=60, batch_size=8, max_features=2,
                    max_train=10, n_query=10, lr=3e-3, warmup=5, random_state=1)
    assert sum(res.losses[-10:]) / 10 < sum(res.losses[:10]) / 10 - 0.3


def test_bad_input():
    with pytest.raises(ValueError, match="steps"):
        fit_prior(_net(), PRIOR, **{**FIT, "steps": 0})
    with pytest.raises(ValueError, match="max_train"):
        fit_prior(_net(), PRIOR, **{**FIT, "max_train": 1})

    def bad_prior(b, n, d, gen):
        return torch.zeros(b, n, d + 1), torch.zeros(b, n)

    with pytest.raises(ValueError, match="prior: returned shapes"):
        fit_prior(_net(), bad_prior, **FIT)
