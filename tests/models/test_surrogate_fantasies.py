"""Laplace fantasies in closed form, and the sampler error of ensemble posteriors."""

import pytest
import torch
from botorch.acquisition import qKnowledgeGradient
from botorch.exceptions.errors import UnsupportedError
from botorch.optim import optimize_acqf
from botorch.sampling import SobolQMCNormalSampler
from botorch.sampling.index_sampler import IndexSampler

from bayesparse.models.surrogates import DeepEnsemble, LaplaceBNN


def _data(n=10, seed=0):
    gen = torch.Generator().manual_seed(seed)
    X = torch.rand(n, 2, generator=gen, dtype=torch.float64)
    return X, torch.sin(3 * X[:, :1]) + X[:, 1:] ** 2


@pytest.fixture(scope="module")
def laplace():
    X, Y = _data()
    return LaplaceBNN(X, Y, hidden=(6,), steps=200, random_state=0).fit()


def _linearized_reference(model, Xn, Yn, Xt):
    """Weight space: prior N(theta*, Sigma) of the linearized network, Sigma the Laplace
    posterior (full GGN), updated by Bayes with (Xn, Yn) -- all transformed scales."""
    fit, fm, theta = model.laplace_, model.model, model.theta_
    Xtr, _ = model.training_data()
    _, J = fm.jacobian(theta, Xtr)
    deltas = torch.cat([torch.full((b.stop - b.start,), d, dtype=torch.float64)
                        for b, d in zip(fit.blocks, fit.prior_precision)])
    prec = J.T @ J / fit.noise_var + torch.diag(deltas)
    fn, Jn = fm.jacobian(theta, Xn)
    prec_new = prec + Jn.T @ Jn / fit.noise_var
    cov = torch.linalg.inv(prec_new)
    mean = cov @ (prec @ theta + Jn.T @ (Yn[:, 0] - fn + Jn @ theta) / fit.noise_var)
    ft, Jt = fm.jacobian(theta, Xt)
    return ft + Jt @ (mean - theta), Jt @ cov @ Jt.T


def test_conditioned_posterior_equals_the_linearized_model_refit_with_the_new_data(laplace):
    gen = torch.Generator().manual_seed(1)
    Xn = torch.rand(3, 2, generator=gen, dtype=torch.float64)
    Yn = torch.randn(3, 1, generator=gen, dtype=torch.float64)
    Xt = torch.rand(4, 2, generator=gen, dtype=torch.float64)
    cond = laplace.condition_on_observations(Xn, Yn)
    post = cond.posterior(Xt)
    tf = laplace.outcome_transform
    mean, cov = _linearized_reference(laplace, laplace.transform_inputs(Xn),
                                      tf(Yn)[0], laplace.transform_inputs(Xt))
    std = float(tf.stdvs)
    # Function space (n x n Schur complements) against the weight-space P x P update, float64.
    torch.testing.assert_close(post.mean[:, 0], mean * std + tf.means[0, 0], atol=1e-6, rtol=0)
    torch.testing.assert_close(post.mvn.covariance_matrix, cov * std**2, atol=1e-6, rtol=0)
    # Conditioning twice is conditioning once on both sets.
    twice = laplace.condition_on_observations(Xn[:1], Yn[:1]).condition_on_observations(
        Xn[1:], Yn[1:])
    torch.testing.assert_close(twice.posterior(Xt).mean, post.mean, atol=1e-8, rtol=0)
    # The original model is unchanged.
    assert laplace._cond is None


def test_fantasize_shapes_and_knowledge_gradient_runs(laplace):
    X, _ = _data()
    sampler = SobolQMCNormalSampler(sample_shape=torch.Size([4]), seed=0)
    fantasy = laplace.fantasize(X[:2].unsqueeze(0).expand(3, 2, 2), sampler)
    post = fantasy.posterior(torch.rand(4, 3, 5, 2, dtype=torch.float64))
    assert post.mean.shape == (4, 3, 5, 1)
    # Fantasized points are nearly known: the variance there drops to about the noise.
    at = fantasy.posterior(X[:2].unsqueeze(0).expand(3, 2, 2))
    before = laplace.posterior(X[:2])
    assert (at.variance < before.variance + 1e-12).all()
    acqf = qKnowledgeGradient(laplace, num_fantasies=4)
    bounds = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    cand, val = optimize_acqf(acqf, bounds=bounds, q=1, num_restarts=2, raw_samples=8,
                              options={"maxiter": 10})
    assert cand.shape == (1, 2) and torch.isfinite(val)


def test_normal_sampler_on_an_ensemble_posterior_names_the_index_sampler():
    X, Y = _data()
    model = DeepEnsemble(X, Y, hidden=(4,), n_members=3, steps=20, random_state=0).fit()
    post = model.posterior(X[:2])
    with pytest.raises(UnsupportedError, match="IndexSampler"):
        SobolQMCNormalSampler(sample_shape=torch.Size([8]))(post)
    assert IndexSampler(sample_shape=torch.Size([8]))(post).shape == (8, 2, 1)
