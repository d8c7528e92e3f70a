"""Any ``torch.nn.Module`` as a function of a flat vector of its random parameters.

The samplers (HMC, SGHMC), MAP training and the Laplace approximation work on a flat parameter
vector ``theta`` (``P``) or a stack of them (``S x P``). :class:`FunctionalModel` maps that
vector onto a chosen subset of a module's parameters and evaluates the module through
``torch.func.functional_call`` (Paszke et al., "PyTorch", NeurIPS 2019; the functorch API),
so the module itself is never written to: a stack of ``S`` vectors is evaluated with
``torch.func.vmap`` and Jacobians come from ``torch.func.jacrev``. The parameters left out of
``prior_std`` stay fixed at the module's values.

An ``nn.Sequential`` of ``nn.Linear`` layers and elementwise activations (Tanh, ReLU, SiLU,
GELU, Sigmoid, Identity) takes a fast path with the same outputs: the ``S x P`` stack is viewed
as per-layer ``S x out x in`` weights and evaluated with batched matrix products
(``torch.baddbmm``), and the one-output Jacobian comes from the backward recursion
``delta_{l-1} = (delta_l W_l) * sigma'(z_{l-1})``, ``df/dW_l = delta_l a_{l-1}^T``,
``df/db_l = delta_l`` (backpropagation; Rumelhart, Hinton & Williams, Nature 1986). On the
BO surrogates' small MLPs the per-call overhead of ``functional_call`` and ``vmap`` dominated.

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
2021 (``torch.func``). Rumelhart, Hinton & Williams, "Learning representations by
back-propagating errors", Nature 1986. Neal, "Bayesian Learning for Neural Networks", Springer 1996.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F  # noqa: N812 - the torch convention
from torch import Tensor, nn
from torch.func import functional_call, jacrev, vmap


def _gelu_grad(z: Tensor, approximate: str) -> Tensor:
    if approximate == "tanh":
        c = math.sqrt(2 / math.pi)
        t = torch.tanh(c * (z + 0.044715 * z.pow(3)))
        return 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * c * (1 + 3 * 0.044715 * z * z)
    return torch.special.ndtr(z) + z * torch.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)


def _activation(layer: nn.Module) -> tuple[Callable[[Tensor], Tensor],
                                           Callable[[Tensor, Tensor], Tensor]] | None:
    """``(sigma, sigma')`` of a supported elementwise activation (``sigma'`` takes the input
    and the output), or None."""
    kind = type(layer)
    if kind is nn.Tanh:
        return torch.tanh, lambda z, a: 1 - a * a
    if kind is nn.Sigmoid:
        return torch.sigmoid, lambda z, a: a * (1 - a)
    if kind is nn.ReLU:
        return torch.relu, lambda z, a: (z > 0).to(z.dtype)
    if kind is nn.SiLU:
        def silu_grad(z: Tensor, a: Tensor) -> Tensor:
            s = torch.sigmoid(z)
            return s * (1 + z * (1 - s))

        return F.silu, silu_grad
    if kind is nn.GELU:
        approximate = layer.approximate
        return (lambda z: F.gelu(z, approximate=approximate),
                lambda z, a: _gelu_grad(z, approximate))
    return None


def _sequential_plan(module: nn.Module, names: list[str],
                     forward_kwargs: Mapping[str, Any]) -> list[tuple[Any, ...]] | None:
    """The layers of an ``nn.Sequential`` of ``nn.Linear`` and elementwise activations, as
    ``("linear", layer, weight name or None, bias name or None)`` (None: a fixed parameter) and
    ``("act", layer, sigma, sigma')``; None for any other module (the generic path)."""
    if type(module) is not nn.Sequential or forward_kwargs:
        return None
    random = set(names)
    plan: list[tuple[Any, ...]] = []
    for key, layer in module.named_children():
        if type(layer) is nn.Linear:
            w, b = f"{key}.weight", f"{key}.bias"
            plan.append(("linear", layer, w if w in random else None,
                         b if layer.bias is not None and b in random else None))
        elif type(layer) is nn.Identity:
            continue
        else:
            act = _activation(layer)
            if act is None:
                return None
            plan.append(("act", layer, *act))
    return plan or None


def _linear(h: Tensor, W: Tensor, b: Tensor | None) -> Tensor:
    """``h W^T + b`` where ``W`` (``out x in`` or ``S x out x in``), ``b`` (``out`` or
    ``S x out``) and ``h`` (``N x in`` or ``S x N x in``) may carry the stack dimension."""
    if W.ndim == 2:
        if b is None or b.ndim == 1:
            return F.linear(h, W, b)
        return torch.baddbmm(b[:, None, :], h.expand(b.shape[0], *h.shape[-2:]),
                             W.T.expand(b.shape[0], *W.T.shape))
    h = h.expand(W.shape[0], *h.shape[-2:])
    if b is None:
        return torch.bmm(h, W.mT)
    return torch.baddbmm(b[..., None, :], h, W.mT)


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
        self._plan = _sequential_plan(module, self.names, self.forward_kwargs)

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

    def _fast(self) -> bool:
        # Forward hooks (e.g. added after construction) run on the generic path only.
        return self._plan is not None and not any(
            layer._forward_hooks or layer._forward_pre_hooks
            for layer in (self.module, *(step[1] for step in self._plan)))

    def _fast_call(self, theta: Tensor, X: Tensor) -> Tensor:
        params = self.unflatten(theta)
        h = X.reshape(-1, X.shape[-1])
        for kind, layer, first, second in self._plan:
            if kind == "act":
                h = first(h)
                continue
            W = layer.weight if first is None else params[first]
            b = layer.bias if second is None else params[second]
            h = _linear(h, W, b)
        return h.reshape(*theta.shape[:-1], *X.shape[:-1], h.shape[-1])

    def __call__(self, theta: Tensor, X: Tensor) -> Tensor:
        """Outputs at ``... x n x d`` inputs: ``... x n x k`` for a ``P`` vector ``theta``, and
        ``S x ... x n x k`` for an ``S x P`` stack (``torch.func.vmap`` over the stack, or
        batched matrix products for a sequential MLP)."""
        if theta.ndim not in (1, 2):
            raise ValueError(f"theta: expected P or S x P, got shape {tuple(theta.shape)}")
        fast = self._fast()
        call = self._fast_call if fast else self._call
        if theta.ndim == 1:
            return call(theta, X)
        if theta.shape[0] == 1:  # one network: 2-D products, no vmap or batched products
            return call(theta[0], X).unsqueeze(0)
        if fast:
            return self._fast_call(theta, X)
        return vmap(self._call, in_dims=(0, None))(theta, X)

    def jacobian(self, theta: Tensor, X: Tensor) -> tuple[Tensor, Tensor]:
        """Output and Jacobian of a one-output network at ``... x n x d`` inputs.

        Returns ``f`` (``... x n``) and ``J = df/dtheta`` (``... x n x P``); both are
        differentiable in ``X``. Rows are independent, so each row's gradient is taken alone
        (``torch.func.vmap`` of ``jacrev`` over rows, ``O(n P)``; ``jacrev`` of all ``n``
        outputs at once would cost ``O(n^2 P)``). A sequential MLP backpropagates
        ``delta_l`` for all rows at once instead.
        """
        if theta.ndim != 1:
            raise ValueError(f"theta: expected a P vector, got shape {tuple(theta.shape)}")
        flat = X.reshape(-1, X.shape[-1])
        if self._fast():
            f, J = self._fast_jacobian(theta, flat)
            return f.reshape(X.shape[:-1]), J.reshape(*X.shape[:-1], self.n_params)

        def row(x: Tensor) -> tuple[Tensor, Tensor]:
            def f(th: Tensor) -> tuple[Tensor, Tensor]:
                out = functional_call(self.module, self.unflatten(th), (x[None],),
                                      self.forward_kwargs)[0, 0]
                return out, out

            return jacrev(f, has_aux=True)(theta)

        J, out = vmap(row)(flat)
        return out.reshape(X.shape[:-1]), J.reshape(*X.shape[:-1], self.n_params)

    def _fast_jacobian(self, theta: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        params = self.unflatten(theta)
        saved = []  # each layer's input (and an activation's output)
        for kind, layer, first, second in self._plan:
            if kind == "act":
                out = first(h)
                saved.append((h, out))
                h = out
                continue
            W = layer.weight if first is None else params[first]
            b = layer.bias if second is None else params[second]
            saved.append((h, W))
            h = F.linear(h, W, b)
        delta = torch.zeros_like(h)  # df/dh of the first output, f = h[:, 0]
        delta[:, 0] = 1
        pieces: dict[str, Tensor] = {}
        for (kind, _, first, second), (inp, other) in zip(reversed(self._plan),
                                                          reversed(saved)):
            if len(pieces) == len(self.names):
                break
            if kind == "act":
                delta = delta * second(inp, other)
                continue
            if first is not None:
                pieces[first] = (delta[:, :, None] * inp[:, None, :]).flatten(1)
            if second is not None:
                pieces[second] = delta
            delta = delta @ other
        return h[:, 0], torch.cat([pieces[name] for name in self.names], -1)

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
