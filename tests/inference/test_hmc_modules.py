"""HMC on torch modules: a sparse Bayesian MLP sampled over its active weights."""

import torch

from bayesparse.inference.functional import FunctionalModel
from bayesparse.inference.hmc import hmc
from bayesparse.inference.map import fit_map, negative_log_joint
from bayesparse.models.sparse_bnn import BayesMLP


def _sparse_linear_problem(seed=0):
    """A sparse linear BayesMLP (6 inputs, 3 active weights) and data from a sparse truth."""
    gen = torch.Generator().manual_seed(seed)
    # sparse_threshold=1 keeps the layer on its CSR kernel (only active weights multiplied).
    net = BayesMLP(6, 1, hidden=(), density=0.5, sparse_threshold=1.0, random_state=seed)
    layer = net.layers[0]
    assert layer.uses_sparse_kernels() and layer.mu.numel() == 3
    X = torch.randn(25, 6, generator=gen, dtype=torch.float64)
    w_true = torch.zeros(6, dtype=torch.float64)
    w_true[layer.support.col] = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64)
    s2 = 0.3
    y = X @ w_true + 0.3 + s2**0.5 * torch.randn(25, generator=gen, dtype=torch.float64)
    model = FunctionalModel(net, {"layers.0.mu": 1.0, "layers.0.bias_mu": 1.0},
                            forward_kwargs={"mode": "mean"})
    # Closed form: Bayesian linear regression on the active columns (CSR order) and the bias,
    # prior N(0, I).
    Phi = torch.cat([X[:, layer.support.col], torch.ones(25, 1, dtype=torch.float64)], -1)
    cov = torch.linalg.inv(Phi.T @ Phi / s2 + torch.eye(4, dtype=torch.float64))
    return net, model, X, y[:, None], s2, cov @ Phi.T @ y / s2, cov


def test_hmc_on_sparse_bayes_mlp_recovers_the_conjugate_posterior_of_its_active_weights():
    net, model, X, Y, s2, mean, cov = _sparse_linear_problem()
    U = negative_log_joint(model, X, Y, s2)
    s = hmc(U, model.get_theta(), num_samples=400, warmup_steps=200, num_steps=5,
            random_state=0)
    assert s.shape == (400, 4)  # the 3 active weights and the bias, nothing else
    sd = cov.diagonal().sqrt()
    # Tolerance: means within 0.25 posterior sd (about 3 Monte Carlo standard errors at an
    # effective sample size of 150); variances within 25% (400 draws).
    assert ((s.mean(0) - mean).abs() < 0.25 * sd).all()
    assert ((s.var(0) / cov.diagonal() - 1).abs() < 0.25).all()
    # Every sampled network keeps the support: its dense weight is zero off the support.
    layer = net.layers[0]
    dense = torch.stack([layer.plan.densify(t) for t in model.unflatten(s)["layers.0.mu"]])
    off = torch.ones(6, dtype=torch.bool)
    off[layer.support.col] = False
    assert (dense[:, 0, off] == 0).all()
    # The module itself is untouched by sampling (functional_call never writes to it).
    torch.testing.assert_close(model.get_theta(), _sparse_linear_problem()[1].get_theta())


def test_hmc_on_a_sparse_hidden_layer_network_is_calibrated_on_a_toy():
    gen = torch.Generator().manual_seed(1)
    net = BayesMLP(1, 1, hidden=(32,), density=0.5, random_state=0)
    random = {name: 1.0 for name, _ in net.named_parameters() if "mu" in name}
    model = FunctionalModel(net, random, forward_kwargs={"mode": "mean"})
    assert model.n_params == sum(layer.mu.numel() + layer.bias_mu.numel()
                                 for layer in net.layers)
    X = torch.rand(40, 1, generator=gen, dtype=torch.float64) * 4 - 2
    s2 = 0.01
    Y = torch.sin(1.5 * X) + s2**0.5 * torch.randn(40, 1, generator=gen, dtype=torch.float64)
    Xt = torch.rand(200, 1, generator=gen, dtype=torch.float64) * 4 - 2
    Yt = torch.sin(1.5 * Xt) + s2**0.5 * torch.randn(200, 1, generator=gen, dtype=torch.float64)
    theta0 = fit_map(model, model.get_theta()[None], X, Y, noise_var=s2, steps=500, lr=5e-2)
    s = hmc(negative_log_joint(model, X, Y, s2), theta0[0], num_samples=100,
            warmup_steps=100, num_steps=10, random_state=0)
    f = model(s, Xt)[..., 0]
    assert torch.isfinite(f).all()
    z = (Yt[:, 0] - f.mean(0)) / (f.var(0) + s2).sqrt()
    # Calibrated predictive on held-out points in the data range: about 95% of the standardized
    # errors within 2 (a collapsed posterior, or one at the prior, is far off).
    coverage = float((z.abs() < 2).double().mean())
    assert 0.85 < coverage <= 1.0, coverage
    assert float((Yt[:, 0] - f.mean(0)).pow(2).mean()) < 0.05
