"""Any ``torch.nn.Module`` as a function of a flat vector of its random parameters.

The samplers (HMC, SGHMC), MAP training and the Laplace approximation work on a flat parameter
vector ``theta`` (``P``) or a stack of them (``S x P``). :class:`FunctionalModel` maps that
vector onto a chosen subset of a module's parameters and evaluates the module through
``torch.func.functional_call`` (Paszke et al., "PyTorch", NeurIPS 2019; the functorch API),
so the module itself is never written to: a stack of ``S`` vectors is evaluated with
``torch.func.vmap`` and Jacobians come from ``torch.func.jacrev``. The parameters left out of
``prior_std`` stay fixed at the module's values.

The prior over the random parameters is an independent Gaussian ``theta_p ~ N(0, s_p^2)``
with one standard deviation per parameter tensor (a float) or per entry (a tensor of the
parameter's shape), e.g. Neal's fan-in scaling ``s^2 = v / fan_in`` (Neal, "Bayesian Learning
for Neural Networks", 1996).

Inference never imports the model zoo: any module whose forward maps ``n x d`` inputs to
``n x k`` outputs works, a dense ``nn.Sequential`` as well as a sparse Bayesian MLP evaluated
at its posterior mean (``forward_kwargs={"mode": "mean"}``), whose sparse layers store only
their active weights.

Examples
--------
>>> import torch
>>> net = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Tanh(), torch.nn.Linear(3, 1))
>>> fm = FunctionalModel(net.double(), {"2.weight": 1.0, "2.bias": 1.0})
>>> fm.n_params, fm.groups
(4, {'2': slice(0, 4, None)})
>>> theta = torch.zeros(5, fm.n_params, dtype=torch.float64)
>>> fm(theta, torch.rand(7, 2, dtype=torch.float64)).shape
torch.Size([5, 7, 1])

References
----------
Paszke et al., "PyTorch: An Imperative Style, High-Performance Deep Learning Library",
NeurIPS 2019; He & Zou, "functorch: JAX-like composable function transforms for PyTorch",
2021 (``torch.func``). Neal, "Bayesian Learning for Neural Networks", Springer 1996.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call, jacrev, vmap


class FunctionalModel:
    """A module's random parameters as a flat vector, with their Gaussian prior.

    Parameters
    ----------
    module : torch.nn.Module
        The network; ``module(X, **forward_kwargs)`` maps ``n x d`` to ``n x k``.
    prior_std : mapping of str to float or Tensor
        The random parameters, by name (``module.named_parameters()``), in the order of the
        flat vector, each with its prior standard deviation (a float, or a tensor of the
        parameter's shape).
    forward_kwargs : mapping, optional
        Extra keyword arguments of the forward call (e.g. ``{"mode": "mean"}``).

    Attributes
    ----------
    names : list of str
        Random parameter names, in flat-vector order.
    groups : dict of str to slice
        The slice of the flat vector held by each submodule (the name before the last dot),
        in order: the "layers" of per-layer priors and Kronecker-factored curvature.
    n_params : int
        ``P``.
    """

    def __init__(self, module: nn.Module, prior_std: Mapping[str, float | Tensor], *,
                 forward_kwargs: Mapping[str, Any] | None = None) -> None:
        if not isinstance(module, nn.Module):
            raise TypeError(f"module: expected a torch.nn.Module, got {type(module).__name__}")
        params = dict(module.named_parameters())
        unknown = [name for name in prior_std if name not in params]
        if unknown or not prior_std:
            raise ValueError(f"prior_std: names {unknown or '(none)'} are not parameters of the "
                             f"module; choose among {list(params)}")
        self.module = module
        self.forward_kwargs = dict(forward_kwargs or {})
        self.names = list(prior_std)
        self.shapes = [params[name].shape for name in self.names]
        self.sizes = [params[name].numel() for name in self.names]
        self.n_params = sum(self.sizes)
        stds = []
        for name, shape in zip(self.names, self.shapes):
            s = torch.as_tensor(prior_std[name], dtype=torch.float64)
            if s.ndim and s.shape != shape:
                raise ValueError(f"prior_std[{name!r}]: expected a float or shape "
                                 f"{tuple(shape)}, got shape {tuple(s.shape)}")
            if not bool((s > 0).all()):
                raise ValueError(f"prior_std[{name!r}]: expected > 0")
            stds.append(s.expand(shape).flatten())
        self._prior_std = torch.cat(stds)
        self.groups: dict[str, slice] = {}
        start = 0
        for name, size in zip(self.names, self.sizes):
            prefix = name.rpartition(".")[0]
            first = self.groups.get(prefix, slice(start, start)).start
            if prefix in self.groups and self.groups[prefix].stop != start:
                raise ValueError(f"prior_std: list the parameters of {prefix!r} next to each "
                                 "other")
            self.groups[prefix] = slice(first, start + size)
            start += size

    def prior_std(self, like: Tensor) -> Tensor:
        """Per-entry prior standard deviations, a ``P`` vector (dtype of ``like``)."""
        return self._prior_std.to(like)

    def log_prior(self, theta: Tensor) -> Tensor:
        """Gaussian log prior of each ``... x P`` vector, up to a constant."""
        return -0.5 * (theta / self.prior_std(theta)).pow(2).sum(-1)

    def sample_prior(self, n: int, generator: torch.Generator | None = None,
                     dtype: torch.dtype = torch.float64) -> Tensor:
        """``n`` draws from the prior, an ``n x P`` tensor."""
        return torch.randn(n, self.n_params, generator=generator, dtype=dtype) * self.prior_std(
            torch.empty(0, dtype=dtype))

    def get_theta(self, dtype: torch.dtype = torch.float64) -> Tensor:
        """The module's current values of the random parameters, a ``P`` vector."""
        params = dict(self.module.named_parameters())
        return torch.cat([params[name].detach().flatten() for name in self.names]).to(dtype)

    def unflatten(self, theta: Tensor) -> dict[str, Tensor]:
        """A ``P`` vector as ``{name: tensor of the parameter's shape}``."""
        if theta.shape[-1] != self.n_params:
            raise ValueError(f"theta: expected last dimension {self.n_params}, got "
                             f"{tuple(theta.shape)}")
        parts = theta.split(self.sizes, -1)
        return {name: p.reshape(*theta.shape[:-1], *shape)
                for name, p, shape in zip(self.names, parts, self.shapes)}

    def _call(self, theta: Tensor, X: Tensor) -> Tensor:
        flat = X.reshape(-1, X.shape[-1])
        out = functional_call(self.module, self.unflatten(theta), (flat,), self.forward_kwargs)
        return out.reshape(*X.shape[:-1], out.shape[-1])

    def __call__(self, theta: Tensor, X: Tensor) -> Tensor:
        """Outputs at ``... x n x d`` inputs: ``... x n x k`` for a ``P`` vector ``theta``, and
        ``S x ... x n x k`` for an ``S x P`` stack (``torch.func.vmap`` over the stack)."""
        if theta.ndim == 1:
            return self._call(theta, X)
        if theta.ndim != 2:
            raise ValueError(f"theta: expected P or S x P, got shape {tuple(theta.shape)}")
        if theta.shape[0] == 1:  # vmap's overhead doubled a one-network MAP fit
            return self._call(theta[0], X).unsqueeze(0)
        return vmap(self._call, in_dims=(0, None))(theta, X)

    def jacobian(self, theta: Tensor, X: Tensor) -> tuple[Tensor, Tensor]:
        """Output and Jacobian of a one-output network at ``... x n x d`` inputs.

        Returns ``f`` (``... x n``) and ``J = df/dtheta`` (``... x n x P``); both are
        differentiable in ``X``. Rows are independent, so each row's gradient is taken alone
        (``torch.func.vmap`` of ``jacrev`` over rows, ``O(n P)``; ``jacrev`` of all ``n``
        outputs at once would cost ``O(n^2 P)``).
        """
        flat = X.reshape(-1, X.shape[-1])

        def row(x: Tensor) -> tuple[Tensor, Tensor]:
            def f(th: Tensor) -> tuple[Tensor, Tensor]:
                out = functional_call(self.module, self.unflatten(th), (x[None],),
                                      self.forward_kwargs)[0, 0]
                return out, out

            return jacrev(f, has_aux=True)(theta)

        J, out = vmap(row)(flat)
        return out.reshape(X.shape[:-1]), J.reshape(*X.shape[:-1], self.n_params)

    def group_inputs(self, theta: Tensor, X: Tensor, prefix: str) -> Tensor:
        """The input of submodule ``prefix`` at ``theta``, flattened to ``N x fan_in``."""
        captured: list[Tensor] = []

        def hook(_module: nn.Module, args: tuple[Any, ...]) -> None:
            captured.append(args[0].detach())

        handle = self.module.get_submodule(prefix).register_forward_pre_hook(hook)
        try:
            with torch.no_grad():
                self._call(theta, X)
        finally:
            handle.remove()
        return captured[0].reshape(-1, captured[0].shape[-1])


def fan_in_prior(module: nn.Module, prior_var: float) -> dict[str, float]:
    """Neal's prior for every parameter: ``prior_var / fan_in`` for weights, ``prior_var``
    for biases (1-D parameters), as standard deviations by name.

    Parameters
    ----------
    module : torch.nn.Module
    prior_var : float
        The variance scale ``v``.

    Returns
    -------
    dict of str to float
    """
    if prior_var <= 0:
        raise ValueError(f"prior_var: expected > 0, got {prior_var}")
    return {name: math.sqrt(prior_var / (p.shape[-1] if p.ndim > 1 else 1))
            for name, p in module.named_parameters()}
