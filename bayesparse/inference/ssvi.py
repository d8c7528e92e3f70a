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
``|dNLL/dmu|`` on the current minibatch (the gradient w.r.t. the dense mean weight, inactive
entries included, from one extra backward pass); ``"random"`` draws them uniformly. Weights
removed in an update are not candidates in the same update. Added weights get ``mu = 0`` and
``rho`` = the layer's mean active ``rho``; the optimizer's state is carried over for kept
weights and zeroed for added ones. Per-layer density never changes.

The solver reaches the network only through two small interfaces (:class:`BayesNetwork`,
:class:`SparseLayer`): the layers own their supports, give the dense gradient through a hook
(``dense_grad_probe``) and move the optimizer state in ``set_support``. Per-step accounting
such as FLOP counting (:class:`~bayesparse.inference.flops.FlopCounter`) is a callback.

With ``sample_weight`` the data term is the weighted NLL, ``sum_i w_i NLL_i / sum_i w_i``,
estimated on uniform minibatches, and the KL term is scaled by ``1 / sum_i w_i``: integer
weights give the objective of the data set with rows repeated, and rows of weight 0 are
dropped before training.

References
----------
.. [1] J. Li, Z. Miao, Q. Qiu, R. Zhang, "Training Bayesian Neural Networks with Sparse
   Subspace Variational Inference", ICLR 2024, arXiv:2402.11025.
.. [2] C. Blundell, J. Cornebise, K. Kavukcuoglu, D. Wierstra, "Weight Uncertainty in Neural
   Networks", ICML 2015.
.. [3] U. Evci, T. Gale, J. Menick, P. S. Castro, E. Elsen, "Rigging the Lottery: Making All
   Tickets Winners", ICML 2020.

Examples
--------
>>> import numpy as np
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
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812 - the torch convention
from torch import nn
from tqdm.auto import tqdm

from bayesparse.rng import RandomState, check_generator, torch_generator
from bayesparse.sparse import SparseTensor

__all__ = [
    "ssvi",
    "removal_score",
    "update_fraction",
    "update_support",
    "REMOVAL",
    "ADDITION",
    "GaussianNLL",
    "SSVIEvent",
    "SparseLayer",
    "BayesNetwork",
]


class SparseLayer(Protocol):
    """What SSVI needs from a layer whose posterior lives on a sparse support.

    ``support`` is the ``out x fan_in`` pattern; ``mu`` and ``rho`` hold the active weights'
    posterior means and softplus-inverse standard deviations in the support's CSR order.
    """

    support: SparseTensor
    mu: torch.Tensor
    rho: torch.Tensor

    def dense_grad_probe(self) -> AbstractContextManager[Any]:
        """Context whose value's ``grad`` is the dense ``out x fan_in`` mean-weight gradient
        of the backward passes run inside it."""
        ...

    def set_support(
        self,
        support: SparseTensor,
        mu_full: torch.Tensor,
        rho_full: torch.Tensor,
        optimizer: torch.optim.Optimizer | None = None,
    ) -> torch.Tensor:
        """Move to ``support``, reading values from full matrices and remapping ``optimizer``'s
        state; return each new entry's old position (-1 if added).

        Parameters
        ----------
        support : SparseTensor
            New pattern with the same ``nnz``.
        mu_full, rho_full : torch.Tensor, shape ``out x fan_in``
            Values to read on the new support.
        optimizer : torch.optim.Optimizer, optional
            Its per-weight state is permuted to the new positions.

        Returns
        -------
        torch.Tensor
            For each new entry, its position in the old values, or -1 for an added weight.
        """
        ...


class BayesNetwork(Protocol):
    """What SSVI needs from a mean-field network (e.g. ``BayesMLP``, ``BayesCNN``)."""

    def __call__(
        self, x: torch.Tensor, mode: str, generator: torch.Generator | None
    ) -> torch.Tensor: ...

    def kl(self) -> torch.Tensor: ...

    def sparse_layers(self) -> Sequence[SparseLayer]: ...

    def parameters(self) -> Iterator[nn.Parameter]: ...


@dataclass(frozen=True)
class SSVIEvent:
    """What a callback of :func:`ssvi` receives after each optimizer step or support update.

    Attributes
    ----------
    kind : {"step", "update"}
        ``"step"``: one parameter step was taken; ``"update"``: the supports were updated
        (before the step of the same minibatch).
    step : int
        Index of the optimizer step (0-based).
    batch_size : int
        Examples in the minibatch.
    loss : float or None
        The step's training loss (``"step"`` only).
    n_replaced : int
        Weights replaced over all layers (``"update"`` only, else 0).
    addition : str
        The addition rule in use (``"grad"`` runs one extra backward pass per update).
    """

    kind: str
    step: int
    batch_size: int
    loss: float | None = None
    n_replaced: int = 0
    addition: str = "grad"


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

    Parameters
    ----------
    mu, sigma : Tensor
        Posterior means and standard deviations of the active weights.
    criterion : {"snr_abs", "snr", "mu"}, default "snr_abs"
        ``"snr_abs"``: ``E|theta| / std|theta|`` for ``theta ~ N(mu, sigma^2)`` (the folded
        normal, the paper's choice); ``"snr"``: ``|mu| / sigma``; ``"mu"``: ``|mu|``.

    Returns
    -------
    Tensor
        Scores shaped like ``mu``.

    References
    ----------
    Li, Miao, Qiu, Zhang, ICLR 2024 (arXiv:2402.11025), sec. 3.2.

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

    Parameters
    ----------
    step : int
        Current optimizer step.
    end : int
        Step after which the support is frozen.
    initial : float, default 0.3
        Fraction at step 0.

    Returns
    -------
    float
        ``initial / 2 * (1 + cos(pi * step / end))`` before ``end``, else 0.

    References
    ----------
    Evci et al., "Rigging the Lottery", ICML 2020 (the cosine schedule SSVI uses).

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
    layer: SparseLayer,
    fraction: float,
    *,
    removal: str = "snr_abs",
    grad: torch.Tensor | None = None,
    generator: np.random.Generator | None = None,
    optimizer: torch.optim.Optimizer | None = None,
) -> tuple[torch.Tensor, int]:
    """Replace ``floor(fraction * nnz)`` weights of a sparse layer; the density is unchanged.

    Parameters
    ----------
    layer : SparseLayer
        E.g. a ``SparseBayesLinear`` or ``SparseBayesConv2d``.
    fraction : float
        Fraction of the active weights to replace, in [0, 1].
    removal : str, default "snr_abs"
        Key of :data:`REMOVAL`; the active weights with the lowest scores are removed.
    grad : Tensor, shape ``out x fan_in``, optional
        Dense loss gradient w.r.t. the mean weight; added weights are the inactive ones with the
        largest ``|grad|``. ``None`` adds uniformly at random (``generator``).
    generator : numpy Generator, optional
        Draws the random additions.
    optimizer : torch.optim.Optimizer, optional
        Its per-weight state follows the kept weights and is zero for added ones.

    Returns
    -------
    src : Tensor
        For each new active weight, its position in the old values or -1 if added.
    n : int
        Number of weights replaced.

    References
    ----------
    Li, Miao, Qiu, Zhang, ICLR 2024 (arXiv:2402.11025), sec. 3.2 and Algorithm 1.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesparse.models.bayesian_layers import SparseBayesLinear
    >>> layer = SparseBayesLinear(8, 4, density=0.5, random_state=0)
    >>> src, n = update_support(layer, 0.25, generator=np.random.default_rng(0))
    >>> n, int((src < 0).sum()), layer.support.nnz
    (4, 4, 16)
    """
    if not 0 <= fraction <= 1:
        raise ValueError(f"fraction: expected a number in [0, 1], got {fraction!r}")
    support = layer.support
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
        rng = check_generator(generator, "generator")
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
    return layer.set_support(new, mu_full, rho_full, optimizer), n


class GaussianNLL(nn.Module):
    """Gaussian negative log-likelihood with a learned homoscedastic noise scale.

    Parameters
    ----------
    log_std : float, default 0.0
        Initial log noise standard deviation (a parameter fitted with the network).

    Examples
    --------
    >>> import torch
    >>> float(GaussianNLL()(torch.zeros(2, 1), torch.zeros(2)).detach()) > 0
    True
    """

    def __init__(self, log_std: float = 0.0) -> None:
        super().__init__()
        self.log_std = nn.Parameter(torch.tensor(float(log_std)))

    def forward(
        self, out: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Mean NLL of ``y`` under ``N(out, exp(log_std)^2)``, or its ``weight``-ed mean.

        Parameters
        ----------
        out : torch.Tensor
            Predicted means, flattened to ``y.numel()`` entries.
        y : torch.Tensor
            Targets.
        weight : torch.Tensor, optional
            Per-example weights (``y.numel()`` entries); the mean of ``weight * nll`` is taken.

        Returns
        -------
        torch.Tensor
            Scalar loss (full Gaussian NLL, constant included).
        """
        var = torch.exp(2 * self.log_std).expand(y.numel())
        if weight is None:
            return F.gaussian_nll_loss(out.reshape(-1), y.reshape(-1), var, full=True)
        per = F.gaussian_nll_loss(out.reshape(-1), y.reshape(-1), var, full=True,
                                  reduction="none")
        return (per * weight).mean()


def _categorical_nll(
    out: torch.Tensor, y: torch.Tensor, weight: torch.Tensor | None = None
) -> torch.Tensor:
    if weight is None:
        return F.cross_entropy(out, y)
    return (F.cross_entropy(out, y, reduction="none") * weight).mean()


def ssvi(
    net: BayesNetwork,
    X: Any,
    y: Any,
    *,
    nll: Callable[..., torch.Tensor] | None = None,
    sample_weight: Any = None,
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
    callbacks: Sequence[Callable[[SSVIEvent], None]] = (),
    random_state: RandomState = None,
    verbose: bool = False,
) -> dict[str, Any]:
    """Fit a mean-field BNN by SSVI (sparse layers) or Bayes by Backprop (dense layers).

    Parameters
    ----------
    net : BayesNetwork
        Network with ``forward(x, mode, generator)``, ``kl()`` and ``sparse_layers()``
        (:class:`~bayesparse.models.sparse_bnn.BayesMLP`, ``BayesCNN``).
    X : array, shape ``n x ...``
        Inputs.
    y : array, shape ``n``
        Class labels (int) for the default categorical likelihood, targets otherwise.
    nll : callable, optional
        ``nll(outputs, y)`` -> mean negative log-likelihood; default softmax cross-entropy.
        With ``sample_weight`` it is called as ``nll(outputs, y, weight)`` and must return
        ``mean(weight * per-example NLL)``. If it is an ``nn.Module`` its parameters are fitted
        too (e.g. :class:`GaussianNLL`).
    sample_weight : array, shape ``n``, optional
        Non-negative weights of the examples (see the module notes); rows of weight 0 are
        dropped.
    n_epochs : int, default 50
        Passes over the data (shuffled minibatches).
    batch_size : int, default 128
        Examples per minibatch.
    lr : float, default 1e-3
        Adam's learning rate.
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
    removal : {"snr_abs", "snr", "mu"}, default "snr_abs"
        Removal criterion (:data:`REMOVAL`).
    addition : {"grad", "random"}, default "grad"
        Addition rule (:data:`ADDITION`).
    callbacks : sequence of callables, default ()
        Each is called with an :class:`SSVIEvent` after every step and support update
        (e.g. :class:`~bayesparse.inference.flops.FlopCounter`).
    random_state : None, int or numpy Generator
        Seeds minibatch order, the reparameterization noise and random addition.
    verbose : bool, default False
        Show a tqdm progress bar.

    Returns
    -------
    dict
        ``loss`` (mean loss per epoch), ``n_steps``, ``n_updates`` and ``n_replaced`` (weights
        replaced per update).

    Raises
    ------
    FloatingPointError
        The loss or the parameters became NaN or infinite (the message gives the step and the
        likely cause).

    References
    ----------
    .. [1] J. Li, Z. Miao, Q. Qiu, R. Zhang, "Training Bayesian Neural Networks with Sparse
       Subspace Variational Inference", ICLR 2024, arXiv:2402.11025.
    .. [2] C. Blundell et al., "Weight Uncertainty in Neural Networks", ICML 2015.

    Examples
    --------
    >>> import numpy as np
    >>> from bayesparse.models.sparse_bnn import BayesMLP
    >>> X = np.random.default_rng(0).normal(size=(40, 3)).astype("float32")
    >>> net = BayesMLP(3, 2, hidden=(8,), density=0.5, random_state=0)
    >>> log = ssvi(net, X, (X[:, 0] > 0).astype(int), n_epochs=2, batch_size=10,
    ...            update_every=2, random_state=0)
    >>> log["n_steps"], log["n_updates"]
    (8, 2)
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
    weight = None
    if sample_weight is not None:
        weight = _check_weight(sample_weight, Xt.shape[0])
        rows = torch.from_numpy(np.flatnonzero(weight > 0))
        Xt, yt = Xt[rows], yt[rows]
        weight = torch.from_numpy(weight[rows.numpy()])
    if nll is None:
        nll = _categorical_nll
        yt = yt.long()
    else:
        yt = yt.float()
    n = Xt.shape[0]
    # The size of the data set the ELBO is over: rows repeated w_i times.
    n_data = float(weight.sum()) if weight is not None else n
    if weight is not None:
        # Uniform minibatches over the n rows: mean_B (n / n_data) w_i NLL_i is unbiased.
        weight = (weight * (n / n_data)).float()
    rng = check_generator(random_state)
    gen = torch_generator(rng)
    params = list(net.parameters()) + (list(nll.parameters()) if isinstance(nll, nn.Module) else [])
    opt = torch.optim.Adam(params, lr=lr)
    sparse = list(net.sparse_layers())
    steps_per_epoch = math.ceil(n / batch_size)
    total = n_epochs * steps_per_epoch
    end = int(update_end * total)

    def data_loss(idx: torch.Tensor) -> torch.Tensor:
        out = net(Xt[idx], "lrt", gen)
        if weight is None:
            return nll(out, yt[idx])
        return nll(out, yt[idx], weight[idx])

    log: dict[str, Any] = {"loss": [], "n_steps": 0, "n_updates": 0, "n_replaced": []}
    step = 0
    bar = tqdm(range(n_epochs), desc="ssvi" if sparse else "vi", disable=not verbose)
    for _ in bar:
        order = torch.from_numpy(rng.permutation(n))
        epoch_loss = 0.0
        for start in range(0, n, batch_size):
            idx = order[start:start + batch_size]
            if sparse and step > 0 and step % update_every == 0 and step < end:
                grads = _dense_grads(sparse, lambda: data_loss(idx)) if addition == "grad" \
                    else [None] * len(sparse)
                fraction = update_fraction(step, end, update_fraction_init)
                replaced = sum(
                    update_support(layer, fraction, removal=removal, grad=g, generator=rng,
                                   optimizer=opt)[1]
                    for layer, g in zip(sparse, grads)
                )
                log["n_updates"] += 1
                log["n_replaced"].append(replaced)
                for callback in callbacks:
                    callback(SSVIEvent("update", step, len(idx), n_replaced=replaced,
                                       addition=addition))
            beta = min(1.0, step / max(kl_warmup * total, 1.0))
            loss = data_loss(idx) + beta * kl_scale / n_data * net.kl()
            if not torch.isfinite(loss.detach()):
                raise FloatingPointError(_divergence_message("loss", step, lr))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            value = float(loss.detach())
            for callback in callbacks:
                callback(SSVIEvent("step", step, len(idx), loss=value, addition=addition))
            epoch_loss += value * len(idx)
            step += 1
        # The last step's update is not seen by any loss, so the parameters are checked too.
        if not all(bool(torch.isfinite(p.detach()).all()) for p in params):
            raise FloatingPointError(_divergence_message("parameters", step, lr))
        log["loss"].append(epoch_loss / n)
        bar.set_postfix(loss=f"{log['loss'][-1]:.4f}")
    log["n_steps"] = step
    return log


def _check_weight(sample_weight: Any, n: int) -> np.ndarray:
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.shape != (n,):
        raise ValueError(f"sample_weight: expected shape ({n},) (one per row of X), got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("sample_weight: expected finite, non-negative weights")
    if not np.any(w > 0):
        raise ValueError("sample_weight: all weights are zero; give some rows a positive weight")
    return w


def _dense_grads(
    sparse: Sequence[SparseLayer], loss_fn: Callable[[], torch.Tensor]
) -> list[torch.Tensor]:
    """Dense mean-weight gradients of every sparse layer, from one forward/backward pass."""
    with ExitStack() as stack:
        probes = [stack.enter_context(layer.dense_grad_probe()) for layer in sparse]
        torch.autograd.grad(loss_fn(), [layer.mu for layer in sparse])
    return [p.grad for p in probes]


def _divergence_message(what: str, step: int, lr: float) -> str:
    return (
        f"ssvi: the training {what} became NaN or infinite at step {step}; the optimization "
        f"diverged, most likely because lr={lr!r} is too large (try 10x smaller), or because "
        "X or y are badly scaled (standardize them) or contain NaN/inf"
    )
