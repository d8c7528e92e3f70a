"""BO surrogates as botorch Models: references, acquisition compatibility, reproducibility."""

import pytest
import torch
from botorch.acquisition import (
    qLogExpectedImprovement,
    qLogNoisyExpectedImprovement,
    qUpperConfidenceBound,
)
from botorch.acquisition.multi_objective.logei import qLogNoisyExpectedHypervolumeImprovement
from botorch.models import ModelList, SingleTaskGP
from botorch.models.kernels import InfiniteWidthBNNKernel
from botorch.models.transforms.input import Normalize
from botorch.optim import optimize_acqf
from botorch.posteriors import GPyTorchPosterior
from botorch.posteriors.ensemble import EnsemblePosterior
from botorch.sampling import SobolQMCNormalSampler
from botorch.sampling.get_sampler import get_sampler
from botorch.sampling.index_sampler import IndexSampler
from hypothesis import given, settings
from hypothesis import strategies as st

from bayesparse.inference.map import fit_map
from bayesparse.models.surrogates import (
    HMCBNN,
    SGHMCBNN,
    DeepEnsemble,
    DeepKernelGP,
    InfiniteWidthBNN,
    LaplaceBNN,
    SparseBNN,
)
from bayesparse.models.surrogates.networks import tanh_mlp

TINY = {
    "hmc": (HMCBNN, dict(hidden=(8,), num_samples=16, warmup_steps=16, num_steps=4,
                         pretrain_steps=100)),
    "sghmc": (SGHMCBNN, dict(hidden=(8,), num_samples=16, burn_in=100, pretrain_steps=100)),
    "ensemble": (DeepEnsemble, dict(hidden=(8,), n_members=4, steps=100)),
    "ensemble_anchored": (DeepEnsemble, dict(hidden=(8,), n_members=4, steps=100, anchored=True,
                                             prior_var=4.0)),
    "laplace_full": (LaplaceBNN, dict(hidden=(8,), steps=100)),
    "laplace_kfac": (LaplaceBNN, dict(hidden=(8,), steps=100, hessian="kfac", per_layer=False)),
    "laplace_ll_diag": (LaplaceBNN, dict(hidden=(8,), steps=100, subset="last_layer",
                                         hessian="diag")),
    "ibnn": (InfiniteWidthBNN, dict()),
    "dkl": (DeepKernelGP, dict(hidden=(8,), n_features=2, steps=20)),
    "dkl_pretrained": (DeepKernelGP, dict(hidden=(8,), n_features=2, pretrain_steps=50,
                                          steps=20, skip=False)),
    "sparse_bnn": (SparseBNN, dict(hidden=(16,), density=0.5, n_samples=8, steps=30)),
}


def _data(n=12, d=2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    X = torch.rand(n, d, generator=gen, dtype=torch.float64)
    return X, -((X - 0.4) ** 2).sum(-1, keepdim=True)


def _fit(name, seed=0, **extra):
    cls, kw = TINY[name]
    X, Y = _data()
    return cls(X, Y, random_state=seed, **kw, **extra).fit()


@pytest.fixture(scope="module")
def models():
    return {name: _fit(name) for name in TINY}


@pytest.mark.parametrize("name", list(TINY))
def test_acquisitions_and_optimize_acqf(models, name):
    model = models[name]
    X, Y = _data()
    post = model.posterior(X[:3])
    expected = GPyTorchPosterior if name.startswith(("laplace", "ibnn", "dkl")) else (
        EnsemblePosterior)
    assert isinstance(post, expected)
    sampler = get_sampler(post, sample_shape=torch.Size([32]), seed=0)
    assert isinstance(sampler, IndexSampler if expected is EnsemblePosterior
                      else SobolQMCNormalSampler)
    bounds = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    for acqf in (qLogExpectedImprovement(model, best_f=Y.max(), sampler=sampler),
                 qUpperConfidenceBound(model, beta=2.0, sampler=sampler),
                 qLogNoisyExpectedImprovement(model, X_baseline=X, sampler=sampler)):
        cand, val = optimize_acqf(acqf, bounds=bounds, q=2, num_restarts=2, raw_samples=16)
        assert cand.shape == (2, 2) and torch.isfinite(val)
        assert ((cand >= 0) & (cand <= 1)).all()
        # Fixed base samples: the acquisition is a deterministic, differentiable function.
        Xq = torch.rand(4, 2, 2, dtype=torch.float64, requires_grad=True)
        v1, v2 = acqf(Xq), acqf(Xq)
        torch.testing.assert_close(v1, v2, rtol=0, atol=0)
        v1.sum().backward()
        assert torch.isfinite(Xq.grad).all()


def test_qlognehvi_with_model_list():
    X, Y = _data(n=6)
    Y2 = torch.cat([Y, -(X**2).sum(-1, keepdim=True)], -1)
    native = DeepEnsemble(X, Y2, hidden=(8,), n_members=3, steps=50, random_state=0).fit()
    listed = ModelList(*[LaplaceBNN(X, Y2[:, i:i + 1], hidden=(8,), steps=50,
                                    random_state=0).fit() for i in range(2)])
    for model in (native, listed):
        sampler = get_sampler(model.posterior(X[:1]), sample_shape=torch.Size([16]), seed=0)
        acqf = qLogNoisyExpectedHypervolumeImprovement(model, ref_point=[-1.0, -1.0],
                                                       X_baseline=X, sampler=sampler)
        bounds = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
        cand, val = optimize_acqf(acqf, bounds=bounds, q=2, num_restarts=1, raw_samples=8,
                                  options={"maxiter": 20})
        assert cand.shape == (2, 2) and torch.isfinite(val)


def test_ibnn_equals_single_task_gp_with_the_same_kernel():
    X, Y = _data(n=15, d=3)
    model = InfiniteWidthBNN(X, Y, depth=2)
    kernel = InfiniteWidthBNNKernel(depth=2)
    kernel.weight_var, kernel.bias_var = 3.0, 0.5
    model.covar_module.weight_var, model.covar_module.bias_var = 3.0, 0.5
    ref = SingleTaskGP(X, Y, covar_module=kernel,
                       input_transform=Normalize(3, bounds=torch.tensor([[0.5] * 3, [1.0] * 3])))
    ref.likelihood.noise = model.likelihood.noise.detach()
    ref.mean_module.constant = model.mean_module.constant.detach()
    model.eval()
    ref.eval()
    Xt = torch.rand(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    p, r = model.posterior(Xt), ref.posterior(Xt)
    # Same model up to the Cholesky's rounding.
    torch.testing.assert_close(p.mean, r.mean, atol=1e-8, rtol=0)
    torch.testing.assert_close(p.variance, r.variance, atol=1e-8, rtol=0)
    assert model.fit() is model


def test_ensemble_mixture_moments_match_manual_formula(models):
    model = models["ensemble"]
    Xt = torch.rand(5, 2, dtype=torch.float64)
    # Members see the centred inputs 2 x - 1 (the default input transform).
    members = torch.stack([model.model(model.theta_[s], 2 * Xt - 1)[:, :1]
                           for s in range(model.n_members)])
    std = model.outcome_transform.stdvs
    members = members * std + model.outcome_transform.means
    post = model.posterior(Xt)
    torch.testing.assert_close(post.mean, members.mean(0), atol=1e-12, rtol=0)
    torch.testing.assert_close(post.variance, members.var(0, unbiased=True), atol=1e-12,
                               rtol=0)
    assert (model.masks_.sum(-1) == round(0.8 * 12)).all()
    assert (model.predictive_variance(Xt) > 0).all()


def _conjugate_reference(X, Y, Xt, noise_var, prior_var=1.0):
    """Closed-form posterior of f(Xt) for the linear MLP (no hidden layers) with its prior."""
    Phi = torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype)], -1)
    Pt = torch.cat([Xt, torch.ones(len(Xt), 1, dtype=X.dtype)], -1)
    prior_prec = torch.tensor([X.shape[1] / prior_var] * X.shape[1] + [1 / prior_var],
                              dtype=X.dtype)
    cov = torch.linalg.inv(Phi.T @ Phi / noise_var + torch.diag(prior_prec))
    return (Pt @ cov @ Phi.T @ Y / noise_var)[:, 0], (Pt @ cov @ Pt.T).diagonal()


@pytest.mark.parametrize("cls,kw", [
    (HMCBNN, dict(num_samples=400, warmup_steps=200, num_steps=20, pretrain_steps=300)),
    (SGHMCBNN, dict(num_samples=600, burn_in=1000, thin=5, lr=0.05, pretrain_steps=300)),
])
def test_samplers_recover_conjugate_posterior(cls, kw):
    gen = torch.Generator().manual_seed(0)
    X = torch.rand(20, 2, generator=gen, dtype=torch.float64)
    Y = X @ torch.tensor([[2.0], [-1.0]], dtype=torch.float64) + 0.1 * torch.randn(
        20, 1, generator=gen, dtype=torch.float64)
    Xt = torch.rand(4, 2, generator=gen, dtype=torch.float64)
    model = cls(X, Y, hidden=(), noise_var=0.05, prior_var=2.0, outcome_transform=None,
                random_state=0, **kw).fit()
    mean, var = _conjugate_reference(X, Y, Xt, 0.05, prior_var=2.0)
    post = model.posterior(Xt)
    # Tolerance: mean within 0.25 posterior sd; variance within a factor 1.5.
    assert ((post.mean[:, 0] - mean).abs() < 0.25 * var.sqrt()).all()
    ratio = post.variance[:, 0] / var
    assert ((ratio > 1 / 1.5) & (ratio < 1.5)).all()


@pytest.mark.parametrize("hessian", ["full", "kfac"])
def test_laplace_linear_model_equals_bayesian_linear_regression(hessian):
    gen = torch.Generator().manual_seed(0)
    X = torch.rand(30, 2, generator=gen, dtype=torch.float64)
    Y = X @ torch.tensor([[2.0], [-1.0]], dtype=torch.float64) + 0.1 * torch.randn(
        30, 1, generator=gen, dtype=torch.float64)
    model = LaplaceBNN(X, Y, hidden=(), noise_var=0.05, steps=3000, outcome_transform=None,
                       hessian=hessian, input_transform=None, random_state=0).fit()
    Xt = torch.rand(4, 2, generator=gen, dtype=torch.float64)
    post = model.posterior(Xt)
    # The MAP (Adam, 3000 steps) matches the closed-form posterior mean of the training prior.
    mean, _ = _conjugate_reference(X, Y, Xt, 0.05)
    torch.testing.assert_close(post.mean[:, 0], mean, atol=1e-3, rtol=0)
    # The covariance is the closed form with the marginal-likelihood delta and sigma^2.
    fit = model.laplace_
    Phi = torch.cat([X, torch.ones(30, 1, dtype=X.dtype)], -1)
    Pt = torch.cat([Xt, torch.ones(4, 1, dtype=X.dtype)], -1)
    (delta,) = fit.prior_precision  # one layer, one precision (per_layer default)
    cov = torch.linalg.inv(Phi.T @ Phi / fit.noise_var + delta * torch.eye(3, dtype=X.dtype))
    torch.testing.assert_close(post.mvn.covariance_matrix, Pt @ cov @ Pt.T + 1e-8 * torch.eye(4),
                               atol=1e-9, rtol=0)
    noisy = model.posterior(Xt, observation_noise=True)
    torch.testing.assert_close(noisy.variance - post.variance,
                               torch.full((4, 1), fit.noise_var, dtype=X.dtype))


def test_anchored_ensemble_without_data_returns_its_prior_draws():
    X, Y = _data()
    model = DeepEnsemble(X, Y, hidden=(8,), n_members=3, steps=50, anchored=True,
                         prior_var=4.0, random_state=0).fit()
    anchors = model.anchors_
    # The anchors are draws from the prior N(0, prior_var / fan_in), biases N(0, prior_var).
    z = anchors / model.model.prior_std(anchors)
    assert 0.7 < float(z.std()) < 1.3 and float(z.std()) > 0
    # With no data the anchored MAP is the anchor itself (closed form).
    Xs, Ys = model.training_data()
    alone = fit_map(model.model, anchors + 0.3, Xs, Ys, noise_var=None,
                    weights=torch.zeros(3, 12, dtype=torch.float64), steps=2000, anchor=anchors)
    torch.testing.assert_close(alone, anchors, atol=1e-4, rtol=0)


@pytest.mark.parametrize("cls", [DeepEnsemble, LaplaceBNN])
def test_mlp_surrogates_centre_the_unit_cube_by_default(cls):
    X, Y = _data()
    model = cls(X, Y, hidden=(8,), steps=20)
    torch.testing.assert_close(model.transform_inputs(X), 2 * X - 1)
    assert not hasattr(cls(X, Y, hidden=(8,), input_transform=None), "input_transform")


def test_dkl_skip_features_contain_the_inputs():
    X, Y = _data()
    model = DeepKernelGP(X, Y, hidden=(8,), n_features=2, steps=5, random_state=0).fit()
    feats = model.covar_module.extractor(X)
    assert feats.shape == (12, 4)
    torch.testing.assert_close(feats[:, :2], X)
    assert model.covar_module.base_kernel.base_kernel.lengthscale.shape == (1, 4)
    plain = DeepKernelGP(X, Y, hidden=(8,), n_features=2, steps=5, skip=False).fit()
    assert plain.covar_module.extractor(X).shape == (12, 2)


@pytest.mark.parametrize("name", ["hmc", "sghmc", "ensemble", "ensemble_anchored",
                                  "laplace_full", "laplace_kfac", "dkl", "sparse_bnn"])
def test_random_state_reproducible(models, name):
    Xt = torch.rand(3, 2, dtype=torch.float64)
    again = _fit(name)
    torch.testing.assert_close(again.posterior(Xt).mean, models[name].posterior(Xt).mean,
                               rtol=0, atol=1e-12)
    other = _fit(name, seed=1)
    assert not torch.allclose(other.posterior(Xt).mean, again.posterior(Xt).mean)


@settings(max_examples=10, deadline=None)
@given(batch=st.lists(st.integers(1, 3), max_size=2), q=st.integers(1, 3))
def test_posterior_batch_shapes(models, batch, q):
    Xq = torch.rand(*batch, q, 2, dtype=torch.float64)
    for name in ("ensemble", "laplace_full", "laplace_kfac", "sparse_bnn"):
        post = models[name].posterior(Xq)
        assert post.mean.shape == (*batch, q, 1)
        assert (post.variance >= 0).all()
        samples = post.rsample(torch.Size([3]))
        assert samples.shape == (3, *batch, q, 1)


@pytest.mark.parametrize("cls", [HMCBNN, SGHMCBNN, DeepEnsemble, LaplaceBNN, DeepKernelGP,
                                 InfiniteWidthBNN, SparseBNN])
def test_bad_input(cls):
    X, Y = _data()
    with pytest.raises(ValueError, match="train_Y"):
        cls(X, Y[:, 0])
    with pytest.raises(ValueError, match="train_X"):
        cls(X.clone().fill_(float("nan")), Y)
    with pytest.raises(TypeError, match="train_X"):
        cls(X.numpy(), Y)
    with pytest.raises(ValueError, match="rows"):
        cls(X[:5], Y)


def test_bad_input_specific():
    X, Y = _data()
    with pytest.raises(RuntimeError, match="fit"):
        HMCBNN(X, Y).posterior(X)
    with pytest.raises(ValueError, match="train_Y"):
        LaplaceBNN(X, torch.cat([Y, Y], -1))
    with pytest.raises(ValueError, match="subset"):
        LaplaceBNN(X, Y, subset="middle")
    with pytest.raises(ValueError, match="n_members"):
        DeepEnsemble(X, Y, n_members=1)
    with pytest.raises(ValueError, match="noise_var"):
        SGHMCBNN(X, Y, noise_var=0.0)
    with pytest.raises(ValueError, match="hidden"):
        tanh_mlp(2, (0,), 1)
    model = _fit("ensemble")
    with pytest.raises(ValueError, match="X"):
        model.posterior(torch.rand(3, 5, dtype=torch.float64))
