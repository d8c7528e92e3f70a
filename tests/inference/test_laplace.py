"""Linearized Laplace: closed-form Bayesian linear regression and autograd Jacobians."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from bayesparse.inference.functional import FunctionalModel, fan_in_prior
from bayesparse.inference.laplace import fit_laplace

TOL = 1e-8  # float64 closed form vs our factorized computation


def _mlp(d, hidden):
    """A one-output tanh MLP as a FunctionalModel over all of its parameters."""
    widths = (d, *hidden, 1)
    layers = []
    for i, o in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(i, o), nn.Tanh()]
    net = nn.Sequential(*layers[:-1]).double()
    return FunctionalModel(net, fan_in_prior(net, 1.0))


def _blr(n=25, d=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=gen, dtype=torch.float64)
    Y = X @ torch.randn(d, 1, generator=gen, dtype=torch.float64) + 0.1 * torch.randn(
        n, 1, generator=gen, dtype=torch.float64)
    Phi = torch.cat([X, torch.ones(n, 1, dtype=torch.float64)], -1)
    return X, Y, Phi


@pytest.mark.parametrize("subset", ["all", "last_layer"])
def test_kfac_linear_model_equals_bayesian_linear_regression(subset):
    X, Y, Phi = _blr()
    delta, s2 = 2.0, 0.05
    prec = Phi.T @ Phi / s2 + delta * torch.eye(Phi.shape[1], dtype=torch.float64)
    cov_w = torch.linalg.inv(prec)
    w = cov_w @ Phi.T @ Y / s2
    net = _mlp(3, ())
    theta = w[:, 0]  # nn.Linear(3, 1) layout: the weight row then the bias, as in Phi
    fit = fit_laplace(net, theta, X, Y, subset=subset, hessian="kfac", prior_precision=delta,
                      noise_var=s2)
    Xt = torch.randn(7, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    Pt = torch.cat([Xt, torch.ones(7, 1, dtype=torch.float64)], -1)
    mean, cov = fit.predict(net, theta, Xt)
    torch.testing.assert_close(mean, (Pt @ w)[:, 0], atol=TOL, rtol=0)
    torch.testing.assert_close(cov, Pt @ cov_w @ Pt.T, atol=TOL, rtol=0)
    # Exact log evidence log N(y; 0, s2 I + Phi Phi^T / delta) at the posterior mean.
    K = s2 * torch.eye(25, dtype=torch.float64) + Phi @ Phi.T / delta
    evidence = torch.distributions.MultivariateNormal(torch.zeros(25, dtype=torch.float64),
                                                      K).log_prob(Y[:, 0])
    assert fit.log_marglik == pytest.approx(float(evidence), abs=1e-7)


def test_diag_linear_model_equals_diagonal_precision():
    X, Y, Phi = _blr()
    delta, s2 = 0.5, 0.1
    net = _mlp(3, ())
    theta = torch.randn(4, dtype=torch.float64)
    fit = fit_laplace(net, theta, X, Y, hessian="diag", prior_precision=delta, noise_var=s2)
    var_w = 1.0 / ((Phi**2).sum(0) / s2 + delta)
    _, cov = fit.predict(net, theta, X[:5])
    torch.testing.assert_close(cov, Phi[:5] @ torch.diag(var_w) @ Phi[:5].T, atol=TOL, rtol=0)


def test_marginal_likelihood_optimization_finds_the_stationary_point():
    X, Y, Phi = _blr(n=40)
    net = _mlp(3, ())
    theta = torch.linalg.lstsq(Phi, Y).solution[:, 0]
    fit = fit_laplace(net, theta, X, Y, hessian="kfac", steps=1000)
    # The optimum is stationary: nudging either hyper-parameter lowers the marginal likelihood.
    for dd, ds in ((1.05, 1), (1 / 1.05, 1), (1, 1.05), (1, 1 / 1.05)):
        other = fit_laplace(net, theta, X, Y, prior_precision=fit.prior_precision * dd,
                            noise_var=fit.noise_var * ds)
        assert other.log_marglik <= fit.log_marglik + 1e-6


def _dense_ggn_laplace(net, theta, X, Y, Xt, delta_per_param, s2):
    """Reference: explicit P x P Gauss-Newton posterior by autograd Jacobians."""
    J = torch.autograd.functional.jacobian(lambda t: net(t, X)[:, 0], theta)
    Jt = torch.autograd.functional.jacobian(lambda t: net(t, Xt)[:, 0], theta)
    prec = J.T @ J / s2 + torch.diag(delta_per_param)
    f = net(theta, X)[:, 0]
    log_ev = (-0.5 * len(X) * math.log(2 * math.pi * s2) - 0.5 * (Y[:, 0] - f).pow(2).sum() / s2
              - 0.5 * (delta_per_param * theta**2).sum() + 0.5 * delta_per_param.log().sum()
              - 0.5 * torch.logdet(prec))
    return Jt @ torch.linalg.solve(prec, Jt.T), float(log_ev)


@pytest.mark.parametrize("per_layer", [False, True])
def test_full_ggn_equals_dense_gauss_newton_laplace(per_layer):
    gen = torch.Generator().manual_seed(0)
    net = _mlp(3, (5, 4))
    theta = 0.7 * torch.randn(net.n_params, generator=gen, dtype=torch.float64)
    X = torch.randn(12, 3, generator=gen, dtype=torch.float64)
    Y = torch.randn(12, 1, generator=gen, dtype=torch.float64)
    Xt = torch.randn(4, 3, generator=gen, dtype=torch.float64)
    fit = fit_laplace(net, theta, X, Y, hessian="full", per_layer=per_layer, steps=200)
    deltas = fit.prior_precision if per_layer else [fit.prior_precision] * 3
    assert len(deltas) == 3
    per_param = torch.cat([torch.full((b.stop - b.start,), d, dtype=torch.float64)
                           for b, d in zip(net.groups.values(), deltas)])
    cov, log_ev = _dense_ggn_laplace(net, theta, X, Y, Xt, per_param, fit.noise_var)
    _, ours = fit.predict(net, theta, Xt)
    # Woodbury (n x n) against the explicit P x P inverse, float64.
    torch.testing.assert_close(ours, cov, atol=1e-8, rtol=1e-8)
    assert fit.log_marglik == pytest.approx(log_ev, abs=1e-8)


def test_per_layer_marginal_likelihood_is_stationary_and_beats_shared():
    gen = torch.Generator().manual_seed(1)
    net = _mlp(2, (6,))
    X = torch.rand(30, 2, generator=gen, dtype=torch.float64)
    Y = torch.sin(3 * X[:, :1]) + X[:, 1:] ** 2
    theta = 0.5 * torch.randn(net.n_params, generator=gen, dtype=torch.float64)
    shared = fit_laplace(net, theta, X, Y, hessian="full", steps=1000)
    layered = fit_laplace(net, theta, X, Y, hessian="full", per_layer=True, steps=1000)
    # One precision per layer contains the shared one: its optimum is at least as good.
    assert layered.log_marglik >= shared.log_marglik - 1e-6
    # The optimum is stationary: nudging any one layer's precision lowers the evidence.
    for i in range(2):
        for scale in (1.05, 1 / 1.05):
            d = list(layered.prior_precision)
            d[i] *= scale
            other = fit_laplace(net, theta, X, Y, hessian="full", per_layer=True,
                                prior_precision=d, noise_var=layered.noise_var)
            assert other.log_marglik <= layered.log_marglik + 1e-6


@settings(max_examples=10, deadline=None)
@given(hidden=st.lists(st.integers(1, 5), min_size=1, max_size=2), seed=st.integers(0, 100))
def test_kfac_is_exact_for_the_last_layer_of_a_one_output_network(hidden, seed):
    # Ritter et al. 2018: for the output layer of a one-output network g = 1, so the
    # Kronecker factorization of the GGN block is exact and equals the full GGN.
    net = _mlp(2, hidden)
    gen = torch.Generator().manual_seed(seed)
    theta = torch.randn(net.n_params, generator=gen, dtype=torch.float64)
    X = torch.randn(9, 2, generator=gen, dtype=torch.float64)
    Y = torch.randn(9, 1, generator=gen, dtype=torch.float64)
    Xt = torch.randn(3, 2, generator=gen, dtype=torch.float64)
    kw = dict(subset="last_layer", prior_precision=0.7, noise_var=0.2)
    kfac = fit_laplace(net, theta, X, Y, hessian="kfac", **kw)
    full = fit_laplace(net, theta, X, Y, hessian="full", **kw)
    torch.testing.assert_close(kfac.predict(net, theta, Xt)[1], full.predict(net, theta, Xt)[1],
                               atol=1e-10, rtol=1e-10)
    assert kfac.log_marglik == pytest.approx(full.log_marglik, abs=1e-8)


def test_bad_arguments():
    X, Y, _ = _blr()
    net = _mlp(3, ())
    theta = torch.zeros(4, dtype=torch.float64)
    with pytest.raises(ValueError, match="subset"):
        fit_laplace(net, theta, X, Y, subset="first")
    with pytest.raises(ValueError, match="hessian"):
        fit_laplace(net, theta, X, Y, hessian="exact")
    with pytest.raises(ValueError, match="prior_precision"):
        fit_laplace(net, theta, X, Y, prior_precision=-1.0)
    with pytest.raises(ValueError, match="per_layer"):
        fit_laplace(net, theta, X, Y, prior_precision=[1.0])
    with pytest.raises(ValueError, match="one per included layer"):
        fit_laplace(net, theta, X, Y, prior_precision=[1.0, 2.0], per_layer=True)
    with pytest.raises(ValueError, match="Y"):
        fit_laplace(net, theta, X, torch.cat([Y, Y], -1))
    sparse_like = FunctionalModel(nn.Linear(3, 1).double(), {"weight": 1.0})
    with pytest.raises(ValueError, match="kfac"):
        fit_laplace(sparse_like, torch.zeros(3, dtype=torch.float64), X, Y, hessian="kfac")
    assert math.isfinite(fit_laplace(net, theta, X, Y, steps=5).log_marglik)
