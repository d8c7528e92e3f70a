"""Stochastic-gradient Hamiltonian Monte Carlo with scale adaptation.

Chen, Fox & Guestrin, "Stochastic Gradient Hamiltonian Monte Carlo", ICML 2014, eq. (15),
with the preconditioner and step-size parametrization of Springenberg, Klein, Falkner & Hutter,
"Bayesian Optimization with Robust Bayesian Neural Networks", NeurIPS 2016, eqs. (9)-(10)
(the sampler used for BNN surrogates in BO by Li, Rudner & Wilson, ICLR 2024).

With ``u(theta)`` the per-datum potential (``U / N``, estimated on a minibatch), ``V-hat`` a
running estimate of ``E[grad u^2]`` (adapted during burn-in only, so the chain after burn-in
is a fixed-preconditioner SGHMC chain), ``M^{-1} = V-hat^{-1/2}``, step ``eps = lr / sqrt(N)``
and friction ``C = mdecay`` (so ``lr^2 grad u = eps^2 grad U``):

.. math::

    v \\leftarrow v - \\epsilon^2 M^{-1} \\nabla U(\\theta) - C v
        + \\mathcal N(0, 2 \\epsilon^2 C M^{-1} - \\epsilon^4),
    \\qquad \\theta \\leftarrow \\theta + v.

Examples
--------
Sample the posterior mean of Gaussian data under a N(0, 1) prior (closed form:
mean ``sum(y) / (n + 1)``, variance ``1 / (n + 1)``):

>>> import torch
>>> y = torch.randn(50, generator=torch.Generator().manual_seed(0), dtype=torch.float64) + 2
>>> u = lambda th, idx: 0.5 * ((y - th) ** 2).sum(-1) / 50 + 0.5 * (th ** 2).sum(-1) / 50
>>> s = sghmc(u, torch.zeros(1, dtype=torch.float64), n_data=50, num_samples=500,
...           burn_in=300, thin=2, lr=0.05, random_state=0)
>>> bool(abs(s.mean() - y.sum() / 51) < 0.05)
True

References
----------
Chen, Fox & Guestrin, "Stochastic Gradient Hamiltonian Monte Carlo", ICML 2014.
Springenberg, Klein, Falkner & Hutter, "Bayesian Optimization with Robust Bayesian Neural
Networks", NeurIPS 2016.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from bayesparse.rng import torch_generator


def sghmc(potential: Callable[[Tensor, Tensor | None], Tensor], theta0: Tensor, n_data: int, *,
          num_samples: int = 200, burn_in: int = 1000, thin: int = 5, lr: float = 1e-2,
          mdecay: float = 0.05, batch_size: int | None = None,
          random_state: int | None = None) -> Tensor:
    """Draw samples with scale-adapted SGHMC.

    Parameters
    ----------
    potential : callable
        ``potential(theta, idx)`` returns the per-datum potential ``U(theta) / N`` (negative log
        joint divided by the data size), estimated on the data indices ``idx`` (None: all data).
        ``theta`` is a ``P`` vector.
    theta0 : Tensor
        Starting point (``P``), e.g. a MAP estimate.
    n_data : int
        Data size ``N`` (scales the step, Springenberg et al. eq. 10).
    num_samples : int, default=200
        Samples kept after burn-in.
    burn_in : int, default=1000
        Steps during which the preconditioner adapts; discarded.
    thin : int, default=5
        Keep every ``thin``-th step after burn-in.
    lr : float, default=1e-2
        Step size parameter.
    mdecay : float, default=0.05
        Friction (momentum decay), in (0, 1).
    batch_size : int, optional
        Minibatch size (None: full batch).
    random_state : int, optional
        Seed of the sampler's noise and minibatches.

    Returns
    -------
    Tensor
        ``num_samples x P`` samples.
    """
    if num_samples < 1 or burn_in < 0 or thin < 1:
        raise ValueError(
            f"sghmc: need num_samples >= 1, burn_in >= 0, thin >= 1; got {num_samples}, "
            f"{burn_in}, {thin}"
        )
    if lr <= 0 or not 0 < mdecay < 1:
        raise ValueError(f"sghmc: need lr > 0 and 0 < mdecay < 1; got lr={lr}, mdecay={mdecay}")
    if n_data < 1:
        raise ValueError(f"n_data: expected >= 1, got {n_data}")
    gen = torch_generator(random_state)
    theta = theta0.detach().clone()
    v = torch.zeros_like(theta)
    tau, g, v_hat = torch.ones_like(theta), torch.ones_like(theta), torch.ones_like(theta)
    eps = lr / math.sqrt(n_data)
    samples = []
    for step in range(burn_in + num_samples * thin):
        idx = None
        if batch_size is not None and batch_size < n_data:
            idx = torch.randperm(n_data, generator=gen)[:batch_size]
        th = theta.requires_grad_(True)
        grad, = torch.autograd.grad(potential(th, idx), th)
        theta = theta.detach()
        if step < burn_in:
            r = 1.0 / (tau + 1.0)
            tau = tau - tau * g * g / v_hat + 1.0
            g = g - g * r + r * grad
            v_hat = v_hat - v_hat * r + r * grad * grad
        minv = v_hat.rsqrt()
        noise_var = (2 * eps**2 * mdecay * minv - eps**4).clamp_min(1e-16)
        noise = torch.randn(theta.shape, generator=gen, dtype=theta.dtype) * noise_var.sqrt()
        v = v - lr**2 * minv * grad - mdecay * v + noise
        theta = theta + v
        if step >= burn_in and (step - burn_in) % thin == thin - 1:
            samples.append(theta.clone())
    return torch.stack(samples)
