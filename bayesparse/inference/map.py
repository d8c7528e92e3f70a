"""Maximum a posteriori training of a stack of networks by Adam.

For each of the ``S`` parameter vectors ``theta_s`` of a :class:`FunctionalModel` (any
``nn.Module``) this minimizes the negative log joint density

.. math::

    -\\log p(\\theta_s \\mid \\mathcal D_s) = \\sum_{n \\in \\mathcal D_s} \\Big[
        \\tfrac{(y_n - \\mu_s(x_n))^2}{2\\sigma_s^2(x_n)} + \\tfrac12\\log\\sigma_s^2(x_n)\\Big]
        + \\tfrac12 \\sum_p \\theta_{s,p}^2 / \\sigma_{p}^2 + \\text{const},

with either a fixed noise variance ``sigma^2`` (one output per target: HMC warm start, SGHMC,
Laplace) or a heteroscedastic Gaussian output head (two outputs per target, ``sigma^2 =
softplus``: the members of a deep ensemble, Lakshminarayanan et al., NeurIPS 2017, eq. 1).
All ``S`` networks train at once (``torch.func.vmap`` over the stack); ``weights``
(``S x n``, e.g. a bootstrap or subset mask) says which points each network sees.

Examples
--------
>>> import torch
>>> from bayesparse.inference.functional import FunctionalModel, fan_in_prior
>>> X = torch.linspace(0, 1, 20, dtype=torch.float64).unsqueeze(-1)
>>> Y = 2 * X - 1
>>> net = torch.nn.Sequential(torch.nn.Linear(1, 4), torch.nn.Tanh(),
...                           torch.nn.Linear(4, 1)).double()
>>> model = FunctionalModel(net, fan_in_prior(net, 1.0))
>>> theta0 = model.sample_prior(2, torch.Generator().manual_seed(0))
>>> theta = fit_map(model, theta0, X, Y, noise_var=1e-2, steps=100, lr=5e-2)
>>> theta.shape, bool(((model(theta, X) - Y).pow(2).mean() < 0.01))
(torch.Size([2, 13]), True)

References
----------
Lakshminarayanan, Pritzel & Blundell, "Simple and Scalable Predictive Uncertainty Estimation
using Deep Ensembles", NeurIPS 2017. Pearce, Leibfried & Brintrup, "Uncertainty in Neural
Networks: Approximately Bayesian Ensembling", AISTATS 2020.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor
from torch.nn.functional import softplus

from bayesparse.inference.functional import FunctionalModel


def gaussian_nll(model: FunctionalModel, theta: Tensor, X: Tensor, Y: Tensor,
                 noise_var: float | None, mean_only: bool = False) -> Tensor:
    """Per-network, per-point Gaussian negative log-likelihood, an ``S x n`` tensor.

    Parameters
    ----------
    model : FunctionalModel
        The network.
    theta : Tensor
        ``S x P`` parameters.
    X, Y : Tensor
        ``n x d`` inputs and ``n x m`` targets.
    noise_var : float or None
        Fixed noise variance; None reads a heteroscedastic head (``2 m`` outputs: mean and
        softplus variance).
    mean_only : bool, default=False
        With a heteroscedastic head, score the mean head alone (unit variance).

    Returns
    -------
    Tensor
        ``S x n`` negative log-likelihoods (up to a constant).
    """
    out = model(theta, X)
    m = Y.shape[-1]
    if noise_var is None:
        mean, raw = out[..., :m], out[..., m:]
        if mean_only:
            return 0.5 * (Y - mean).pow(2).sum(-1)
        var = softplus(raw) + 1e-6
        return (0.5 * (Y - mean).pow(2) / var + 0.5 * var.log()).sum(-1)
    return (0.5 * (Y - out).pow(2) / noise_var).sum(-1)


def negative_log_joint(model: FunctionalModel, X: Tensor, Y: Tensor,
                       noise_var: float) -> Callable[..., Tensor]:
    """The potential ``U(theta) = -log p(Y | X, theta) - log p(theta)`` of a fixed-noise
    Gaussian likelihood and the model's prior (up to a constant), for
    :func:`~bayesparse.inference.hmc.hmc` and (divided by ``n``)
    :func:`~bayesparse.inference.sghmc.sghmc`.

    Parameters
    ----------
    model : FunctionalModel
        The network and its prior.
    X, Y : Tensor
        ``n x d`` inputs and ``n x m`` targets.
    noise_var : float
        Gaussian noise variance.

    Returns
    -------
    callable
        ``U(theta, idx=None)`` for a ``P`` vector ``theta``; with data indices ``idx`` the
        likelihood term is the unbiased minibatch estimate ``n / |idx| sum_{i in idx}``.
    """
    if noise_var <= 0:
        raise ValueError(f"noise_var: expected > 0, got {noise_var}")
    n = X.shape[0]

    def potential(theta: Tensor, idx: Tensor | None = None) -> Tensor:
        xb, yb = (X, Y) if idx is None else (X[idx], Y[idx])
        nll = (0.5 * (yb - model(theta, xb)).pow(2) / noise_var).sum(-1).mean()
        return n * nll - model.log_prior(theta)

    return potential


def fit_map(model: FunctionalModel, theta: Tensor, X: Tensor, Y: Tensor, *,
            noise_var: float | None, weights: Tensor | None = None, steps: int = 1000,
            lr: float = 1e-2, mean_warmup: float = 0.0, anchor: Tensor | None = None) -> Tensor:
    """Train ``S`` networks to their MAP parameters with Adam (full batch).

    Parameters
    ----------
    model : FunctionalModel
        The network and its prior.
    theta : Tensor
        ``S x P`` starting parameters.
    X, Y : Tensor
        ``n x d`` inputs and ``n x m`` targets.
    noise_var : float or None
        Fixed Gaussian noise variance; None trains a heteroscedastic head (``2 m`` outputs:
        mean and softplus variance).
    weights : Tensor, optional
        ``S x n`` non-negative data weights (default all ones).
    steps : int, default=1000
        Adam steps.
    lr : float, default=1e-2
        Adam learning rate.
    mean_warmup : float, default=0.0
        Fraction of the steps that fit the mean head alone by squared error before the full
        heteroscedastic likelihood: from a flat start, the Gaussian NLL otherwise settles on
        a constant mean with all variance as noise (Seitzer et al., ICLR 2022, Sec. 3).
    anchor : Tensor, optional
        ``S x P`` prior centres: network ``s`` is regularized towards ``anchor[s]`` instead of
        zero (anchored ensembles, Pearce et al., AISTATS 2020, eq. 6).

    Returns
    -------
    Tensor
        The ``S x P`` MAP parameters (detached).
    """
    if theta.ndim != 2:
        raise ValueError(f"theta: expected S x P, got shape {tuple(theta.shape)}; use "
                         "theta.unsqueeze(0) for one network")
    m = Y.shape[-1]
    expected = m if noise_var is not None else 2 * m
    with torch.no_grad():
        k = model(theta[0], X[:1]).shape[-1]
    if k != expected:
        raise ValueError(
            f"model: {k} outputs but Y has {m} column(s) and noise_var={noise_var}; "
            f"use a network with {expected}"
        )
    if steps < 1:
        raise ValueError(f"steps: expected >= 1, got {steps}")
    if not 0 <= mean_warmup <= 1:
        raise ValueError(f"mean_warmup: expected in [0, 1], got {mean_warmup}")
    if weights is None:
        weights = torch.ones(theta.shape[0], X.shape[0], dtype=X.dtype)
    theta = theta.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=lr)
    warm = int(mean_warmup * steps)
    for step in range(steps):
        opt.zero_grad()
        nll = gaussian_nll(model, theta, X, Y, noise_var, mean_only=step < warm)
        centred = theta if anchor is None else theta - anchor
        loss = ((weights * nll).sum(-1) - model.log_prior(centred)).sum()
        loss.backward()
        opt.step()
    return theta.detach()
