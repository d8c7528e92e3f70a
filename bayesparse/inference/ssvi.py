"""Sparse Subspace Variational Inference (SSVI) and its dense special case, Bayes by Backprop.

Li, Miao, Qiu, Zhang, "Training Bayesian Neural Networks with Sparse Subspace Variational
Inference", ICLR 2024 (arXiv 2402.11025). The variational family is a mean-field Gaussian on a
support ``S`` of fixed size; SSVI alternates

1. parameter steps on the (annealed) negative ELBO over ``S``::

       L = mean_i NLL(y_i | f(x_i)) + beta(t) * kl_scale / N * KL(q_S || p)

   with ``beta(t) = min(1, t / (kl_warmup * T))`` (linear warm-up) and a local
   reparameterization forward pass;
2. every ``update_every`` steps until ``update_end * T``, a support update: in each sparse
   layer remove the ``n = floor(alpha(t) * |S|)`` active weights with the lowest score and add
   ``n`` inactive ones, with the cosine-decaying fraction
   ``alpha(t) = update_fraction / 2 * (1 + cos(pi * t / (update_end * T)))``.

Removal scores (``REMOVAL``): ``"mu"`` ``|mu|``; ``"snr"`` ``|mu| / sigma``; ``"snr_abs"``
(the paper's default, the signal-to-noise ratio of ``|theta|``)::

    E|theta| = mu * erf(mu / (sigma sqrt 2)) + sigma * sqrt(2 / pi) * exp(-mu^2 / (2 sigma^2))
    score    = E|theta| / sqrt(mu^2 + sigma^2 - (E|theta|)^2)

Addition (``ADDITION``): ``"grad"`` takes the inactive weights with the largest
``|dNLL/dmu|`` on the current minibatch (a probe pass with the dense mean weight, so the
gradient exists off the support); ``"random"`` draws them uniformly. Weights removed in an
update are not candidates in the same update. Added weights get ``mu = 0`` and ``rho`` = the
layer's mean active ``rho``; the optimizer's moments are carried over for kept weights and
zeroed for added ones. Per-layer density never changes.

Examples
--------
>>> import numpy as np
>>> import torch
>>> from bayesparse.models.sparse_bnn import BayesMLP
>>> from bayesparse.inference.ssvi import ssvi
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(64, 5)).astype("float32")
>>> y = (X[:, 0] > 0).astype("int64")
>>> net = BayesMLP(5, 2, hidden=(16,), density=0.5, random_state=0)
>>> log = ssvi(net, X, y, n_epochs=3, batch_size=16, update_every=2, random_state=0)
>>> round(net.density, 3), log["n_updates"] > 0
(0.5, True)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the torch convention
from torch import nn
from tqdm.auto import tqdm

from bayesparse.inference.flops import (
    dense_geometry,
    layer_geometry,
    train_step_flops,
    update_flops,
)
from bayesparse.sparse import SparseTensor

if TYPE_CHECKING:
    # Only for annotations: at run time inference relies on the layers' protocol, and
    # importing bayesparse.models would make the two packages import each other.
    from bayesparse.models.bayesian_layers import MeanFieldLayer

__all__ = [
    "ssvi",
    "removal_score",
    "update_fraction",
    "update_support",
    "REMOVAL",
    "ADDITION",
    "GaussianNLL",
]


def _score_mu(mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    return mu.abs()


def _score_snr(mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    return mu.abs() / sigma


def _score_snr_abs(mu: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    mean_abs = mu * torch.erf(mu / (sigma * math.sqrt(2.0))) + sigma * math.sqrt(
        2.0 / math.pi
    ) * torch.exp(-(mu**2) / (2 * sigma**2))
    # Var|theta| = E theta^2 - (E|theta|)^2 >= 0 in exact arithmetic; clamp rounding.
    var_abs = (mu**2 + sigma**2 - mean_abs**2).clamp_min(torch.finfo(mu.dtype).tiny)
    return mean_abs / var_abs.sqrt()


REMOVAL: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mu": _score_mu,
    "snr": _score_snr,
    "snr_abs": _score_snr_abs,
}
"""Removal criteria: score of each active weight from (mu, sigma); lowest are removed."""

ADDITION = ("grad", "random")


def removal_score(
    mu: torch.Tensor, sigma: torch.Tensor, criterion: str = "snr_abs"
) -> torch.Tensor:
    """Score of each weight under a removal criterion (low = removed first).

    Examples
    --------
    >>> import torch
    >>> removal_score(torch.tensor([0.0, 2.0]), torch.tensor([1.0, 1.0]), "snr").tolist()
    [0.0, 2.0]
    """
    if criterion not in REMOVAL:
        raise ValueError(f"removal: expected one of {sorted(REMOVAL)}, got {criterion!r}")
    return REMOVAL[criterion](mu, sigma)


def update_fraction(step: int, end: int, initial: float = 0.3) -> float:
    """Cosine-decaying fraction of the support replaced at ``step`` (0 at and after ``end``).

    Examples
    --------
    >>> update_fraction(0, 100), update_fraction(50, 100), update_fraction(100, 100)
    (0.3, 0.15, 0.0)
    """
    if step >= end:
        return 0.0
    return round(initial / 2 * (1 + math.cos(math.pi * step / end)), 12)


@torch.no_grad()
def update_support(
    layer: MeanFieldLayer,
    fraction: float,
    *,
    removal: str = "snr_abs",
    grad: torch.Tensor | None = None,
    generator: np.random.Generator | None = None,
) -> tuple[torch.Tensor, int]:
    """Replace ``floor(fraction * nnz)`` weights of a sparse layer; the density is unchanged.

    Parameters
    ----------
    layer : SparseBayesLinear or SparseBayesConv2d
    fraction : float
        Fraction of the active weights to replace, in [0, 1].
    removal : str
        Key of :data:`REMOVAL`.
    grad : Tensor, shape ``out x fan_in``, optional
        Dense loss gradient w.r.t. the mean weight; added weights are the inactive ones with the
        largest ``|grad|``. ``None`` adds uniformly at random (``generator``).
    generator : numpy Generator, optional

    Returns
    -------
    src : Tensor
        For each new active weight, its position in the old values or -1 if added.
    n : int
        Number of weights replaced.
    """
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction: expected a number in [0, 1], got {fraction!r}")
    support: SparseTensor = layer.support
    rows_n, cols_n = support.shape
    k = support.nnz
    n = min(int(fraction * k), rows_n * cols_n - k)
    if n == 0:
        return torch.arange(k), 0
    sigma = F.softplus(layer.rho)
    scores = removal_score(layer.mu, sigma, removal)
    keep = torch.sort(torch.topk(scores, k - n, largest=True).indices).values
    active = torch.zeros(rows_n * cols_n, dtype=torch.bool)
    active[support.row * cols_n + support.col] = True
    if grad is not None:
        g = grad.reshape(-1).abs().clone()
        g[active] = -math.inf
        added = torch.topk(g, n).indices
    else:
        rng = generator if generator is not None else np.random.default_rng()
        inactive = (~active).nonzero().reshape(-1).numpy()
        added = torch.from_numpy(rng.choice(inactive, size=n, replace=False))
    kept_rows, kept_cols = support.row[keep], support.col[keep]
    new = SparseTensor(
        torch.cat((torch.stack((kept_rows, kept_cols)),
                   torch.stack((added // cols_n, added % cols_n))), dim=1),
        None, support.shape,
    )
    mu_full = torch.zeros(support.shape, dtype=layer.mu.dtype)
    rho_full = torch.full(support.shape, float(layer.rho[keep].mean()), dtype=layer.rho.dtype)
    mu_full[kept_rows, kept_cols] = layer.mu[keep]
    rho_full[kept_rows, kept_cols] = layer.rho[keep]
    return layer.set_support(new, mu_full, rho_full), n


def _remap_adam(opt: torch.optim.Optimizer, params: list[nn.Parameter], src: torch.Tensor) -> None:
    """Carry Adam's moments over to kept weights' new positions; zero them for added ones."""
    added = src < 0
    safe = src.clamp_min(0)
    for p in params:
        state = opt.state.get(p)
        if not state:
            continue
        for key in ("exp_avg", "exp_avg_sq"):
            state[key] = state[key][safe].masked_fill(added, 0.0)


class GaussianNLL(nn.Module):
    """Gaussian negative log-likelihood with a learned homoscedastic noise scale.

    Examples
    --------
    >>> import torch
    >>> float(GaussianNLL()(torch.zeros(2, 1), torch.zeros(2)).detach()) > 0
    True
    """

    def __init__(self, log_std: float = 0.0) -> None:
        super().__init__()
        self.log_std = nn.Parameter(torch.tensor(float(log_std)))

    def forward(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return F.gaussian_nll_loss(
            out.reshape(-1), y.reshape(-1), torch.exp(2 * self.log_std).expand(y.numel()),
            full=True,
        )


def _categorical_nll(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(out, y)


def ssvi(
    net: nn.Module,
    X: Any,
    y: Any,
    *,
    nll: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    n_epochs: int = 50,
    batch_size: int = 128,
    lr: float = 1e-3,
    kl_scale: float = 0.01,
    kl_warmup: float = 0.5,
    update_every: int = 100,
    update_end: float = 0.75,
    update_fraction_init: float = 0.3,
    removal: str = "snr_abs",
    addition: str = "grad",
    random_state: int | None = None,
    verbose: bool = False,
) -> dict[str, Any]:
    """Fit a mean-field BNN by SSVI (sparse layers) or Bayes by Backprop (dense layers).

    Parameters
    ----------
    net : BayesNet
        Network with ``forward(x, mode, generator)``, ``kl()`` and ``sparse_layers()``.
    X : array, shape ``n x ...``
    y : array, shape ``n``
        Class labels (int) for the default categorical likelihood, targets otherwise.
    nll : callable, optional
        ``nll(outputs, y)`` -> mean negative log-likelihood; default softmax cross-entropy.
        If it is an ``nn.Module`` its parameters are fitted too (e.g. :class:`GaussianNLL`).
    n_epochs, batch_size, lr : int, int, float
        Adam on shuffled minibatches.
    kl_scale : float, default 0.01
        KL weight times ``N``: the loss uses ``kl_scale / N * KL`` (the paper's code default).
    kl_warmup : float, default 0.5
        Fraction of training over which the KL weight rises linearly from 0 to 1.
    update_every : int, default 100
        Steps between support updates (``Delta T``).
    update_end : float, default 0.75
        Fraction of training after which the support is frozen.
    update_fraction_init : float, default 0.3
        Initial replaced fraction of the cosine schedule.
    removal : {"snr_abs", "snr", "mu"}
    addition : {"grad", "random"}
    random_state : int, optional
        Seeds minibatch order, the reparameterization noise and random addition.
    verbose : bool
        Show a tqdm progress bar.

    Returns
    -------
    dict
        ``loss`` (mean loss per epoch), ``n_steps``, ``n_updates``, ``n_replaced`` (weights
        replaced per update), ``flops`` and ``flops_matmul`` (training, this run),
        ``flops_dense`` and ``flops_dense_matmul`` (the same steps with every weight active,
        i.e. dense VI).
    """
    if removal not in REMOVAL:
        raise ValueError(f"removal: expected one of {sorted(REMOVAL)}, got {removal!r}")
    if addition not in ADDITION:
        raise ValueError(f"addition: expected one of {ADDITION}, got {addition!r}")
    for name, val in (("n_epochs", n_epochs), ("batch_size", batch_size),
                      ("update_every", update_every)):
        if not isinstance(val, (int, np.integer)) or val < 1:
            raise ValueError(f"{name}: expected a positive int, got {val!r}")
    Xt = torch.as_tensor(np.asarray(X), dtype=torch.float32)
    yt = torch.as_tensor(np.asarray(y))
    if Xt.shape[0] != yt.shape[0]:
        raise ValueError(f"X, y: different numbers of samples ({Xt.shape[0]} vs {yt.shape[0]})")
    if nll is None:
        nll = _categorical_nll
        yt = yt.long()
    else:
        yt = yt.float()
    n = Xt.shape[0]
    rng = np.random.default_rng(random_state)
    gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
    params = list(net.parameters()) + (list(nll.parameters()) if isinstance(nll, nn.Module) else [])
    opt = torch.optim.Adam(params, lr=lr)
    sparse = net.sparse_layers()
    steps_per_epoch = math.ceil(n / batch_size)
    total = n_epochs * steps_per_epoch
    end = int(update_end * total)
    geo = layer_geometry(net)
    geo_dense = dense_geometry(geo)
    log: dict[str, Any] = {"loss": [], "n_steps": 0, "n_updates": 0, "n_replaced": [],
                           "flops": 0, "flops_matmul": 0, "flops_dense": 0,
                           "flops_dense_matmul": 0}
    step = 0
    bar = tqdm(range(n_epochs), desc="ssvi" if sparse else "vi", disable=not verbose)
    for _ in bar:
        order = torch.from_numpy(rng.permutation(n))
        epoch_loss = 0.0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            xb, yb = Xt[idx], yt[idx]
            if sparse and step > 0 and step % update_every == 0 and step < end:
                replaced = _support_step(net, sparse, opt, nll, xb, yb, gen, rng,
                                         update_fraction(step, end, update_fraction_init),
                                         removal, addition)
                log["n_updates"] += 1
                log["n_replaced"].append(replaced)
                for key, matmul_only in (("flops", False), ("flops_matmul", True)):
                    log[key] += update_flops(geo, len(idx), grad_addition=addition == "grad",
                                             matmul_only=matmul_only)
            beta = min(1.0, step / max(kl_warmup * total, 1.0))
            loss = nll(net(xb, "lrt", gen), yb) + beta * kl_scale / n * net.kl()
            if not torch.isfinite(loss.detach()):
                raise FloatingPointError(_divergence_message("loss", step, lr))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            for key, g in (("flops", geo), ("flops_dense", geo_dense)):
                log[key] += train_step_flops(g, len(idx))
                log[key + "_matmul"] += train_step_flops(g, len(idx), matmul_only=True)
            epoch_loss += float(loss.detach()) * len(idx)
            step += 1
        # The last step's update is not seen by any loss, so the parameters are checked too.
        if not all(bool(torch.isfinite(p.detach()).all()) for p in params):
            raise FloatingPointError(_divergence_message("parameters", step, lr))
        log["loss"].append(epoch_loss / n)
        bar.set_postfix(loss=f"{log['loss'][-1]:.4f}")
    log["n_steps"] = step
    return log


def _divergence_message(what: str, step: int, lr: float) -> str:
    return (
        f"ssvi: the training {what} became NaN or infinite at step {step}; the optimization "
        f"diverged, most likely because lr={lr!r} is too large (try 10x smaller), or because "
        "X or y are badly scaled (standardize them) or contain NaN/inf"
    )


def _support_step(
    net: nn.Module,
    sparse: list[MeanFieldLayer],
    opt: torch.optim.Optimizer,
    nll: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    xb: torch.Tensor,
    yb: torch.Tensor,
    gen: torch.Generator,
    rng: np.random.Generator,
    fraction: float,
    removal: str,
    addition: str,
) -> int:
    """One support update of every sparse layer; returns the number of weights replaced."""
    grads: list[torch.Tensor | None] = [None] * len(sparse)
    if addition == "grad":
        for layer in sparse:
            layer.probe = torch.zeros(layer.support.shape, requires_grad=True)
        try:
            loss = nll(net(xb, "lrt", gen), yb)
            grads = list(torch.autograd.grad(loss, [layer.probe for layer in sparse]))
        finally:
            for layer in sparse:
                layer.probe = None
    replaced = 0
    for layer, grad in zip(sparse, grads):
        src, n = update_support(layer, fraction, removal=removal, grad=grad, generator=rng)
        if n:
            _remap_adam(opt, [layer.mu, layer.rho], src)
        replaced += n
    return replaced
