"""The tanh MLP of the BNN surrogates, a plain ``nn.Sequential`` with Neal's prior.

``f(x) = W_L tanh(... tanh(W_1 x + b_1) ...) + b_L`` with the fan-in scaled Gaussian prior
``w ~ N(0, prior_var / fan_in)``, ``b ~ N(0, prior_var)``, whose infinite-width limit is the
I-BNN kernel (Neal 1996; Lee et al. 2018), so the finite and infinite surrogates share one
prior. :func:`mlp_model` wraps it as a
:class:`~bayesparse.inference.functional.FunctionalModel` over all of its parameters, the
form the samplers, MAP training and the Laplace approximation take.

Examples
--------
>>> import torch
>>> model = mlp_model(2, (8, 8), 1, prior_var=1.0)
>>> theta = model.sample_prior(5, torch.Generator().manual_seed(0))
>>> model(theta, torch.rand(3, 4, 2, dtype=torch.float64)).shape
torch.Size([5, 3, 4, 1])

References
----------
Neal, "Bayesian Learning for Neural Networks", Springer 1996. Lee et al., "Deep Neural
Networks as Gaussian Processes", ICLR 2018.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from bayesparse.inference.functional import FunctionalModel, fan_in_prior


def tanh_mlp(d_in: int, hidden: Sequence[int], d_out: int,
             dtype: torch.dtype = torch.float64) -> nn.Sequential:
    """``Linear, Tanh, ..., Linear`` with the given widths.

    Parameters
    ----------
    d_in, d_out : int
        Input and output dimensions.
    hidden : sequence of int
        Hidden widths (may be empty: a linear model).
    dtype : torch.dtype, default=torch.float64

    Returns
    -------
    torch.nn.Sequential
    """
    widths = (int(d_in), *(int(h) for h in hidden), int(d_out))
    if min(widths) < 1:
        raise ValueError(f"hidden: the MLP's layer widths must be positive, got {widths}")
    layers: list[nn.Module] = []
    for i, o in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(i, o, dtype=dtype), nn.Tanh()]
    return nn.Sequential(*layers[:-1])


def mlp_model(d_in: int, hidden: Sequence[int], d_out: int, prior_var: float,
              dtype: torch.dtype = torch.float64) -> FunctionalModel:
    """A :func:`tanh_mlp` with Neal's fan-in prior over all parameters.

    Parameters
    ----------
    d_in, hidden, d_out, dtype
        As in :func:`tanh_mlp`.
    prior_var : float
        Prior variance scale (weights get ``prior_var / fan_in``).

    Returns
    -------
    FunctionalModel
    """
    net = tanh_mlp(d_in, hidden, d_out, dtype)
    return FunctionalModel(net, fan_in_prior(net, prior_var))


def prior_init(model: FunctionalModel, n: int, generator: torch.Generator,
               dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """``n`` starting points: prior draws of the weights, biases at zero (``n x P``).

    Parameters
    ----------
    model : FunctionalModel
        The network whose prior is sampled (``sample_prior``, ``unflatten``).
    n : int
        Number of draws.
    generator : torch.Generator
        Source of the prior draws.
    dtype : torch.dtype, default=torch.float64

    Returns
    -------
    torch.Tensor of shape (n, P)
        Flat parameter vectors, ``P`` the number of parameters.
    """
    theta = model.sample_prior(n, generator, dtype)
    for value in model.unflatten(theta).values():
        if value.ndim == 2:  # n x out: a bias
            value.zero_()
    return theta
