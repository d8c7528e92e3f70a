"""Prior fitting: train a PFN on fresh synthetic datasets (Müller et al. 2022, Alg. 1, Eq. 2).

At every step a batch of datasets is drawn from the prior, each cut after a random number of
training points ``n ~ U{min_train..max_train}`` (one ``n`` and one input dimension
``d ~ U{1..max_features}`` per step), and the network minimises the prior-data NLL

    l(theta) = E_{D ~ p(D)} [ -log q_theta(y_query | x_query, D_train) ]     (Eq. 2)

of the held-out points given the training part. Optimiser: AdamW with linear warm-up and cosine
decay to zero, gradient clipping at norm 1.

**Data parallelism.** The batch of a step is made of ``n_shards`` shards, each drawn from its
own generator seeded from the step's plan (so a shard is the same whoever draws it). In one
process all shards are drawn and their mean loss is minimised; under ``torch.distributed``
(launched by ``torchrun``; gloo on CPU, nccl on GPU) rank ``r`` draws shard ``r`` only and
:class:`~torch.nn.parallel.DistributedDataParallel` averages the gradients, which is the same
update. Rank 0 writes the checkpoints; every rank resumes from them.

The trained model is any ``nn.Module`` called as ``model(X_train, y_train, X_query, y_query)``
that returns the per-query NLL ``(B, m)`` (e.g. :class:`bayesparse.models.pfn.PFN`).

References
----------
.. [1] S. Müller, N. Hollmann, S. Pineda Arango, J. Grabocka, F. Hutter, "Transformers Can Do
   Bayesian Inference", ICLR 2022, Algorithm 1 and Eq. 2.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from bayesparse.rng import RandomState, torch_generator

__all__ = ["StepPlan", "PriorFitResult", "plan_step", "shard_loss", "fit_prior"]


@dataclass
class StepPlan:
    """What one training step draws: input dimension, context size, one seed per shard."""

    n_features: int
    n_train: int
    seeds: list[int]


@dataclass
class PriorFitResult:
    """Outcome of :func:`fit_prior`.

    Attributes
    ----------
    model : nn.Module
        The trained model (the module passed in, in eval mode).
    step : int
        Steps done in total (including those before a resume).
    losses : list of float
        Mean training loss of every step since the start of training.
    seconds : float
        Wall time of this call.
    """

    model: nn.Module
    step: int
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def plan_step(generator: torch.Generator, n_shards: int, max_features: int, min_train: int,
              max_train: int) -> StepPlan:
    """Draw the input dimension, context size and shard seeds of one step.

    Parameters
    ----------
    generator : torch.Generator
        The training run's generator (identical on every rank).
    n_shards, max_features, min_train, max_train : int

    Returns
    -------
    StepPlan
    """
    d = int(torch.randint(1, max_features + 1, (1,), generator=generator))
    n = int(torch.randint(min_train, max_train + 1, (1,), generator=generator))
    seeds = torch.randint(2**62, (n_shards,), generator=generator).tolist()
    return StepPlan(d, n, seeds)


def shard_loss(model: nn.Module, prior: Callable, plan: StepPlan, shard: int, batch_size: int,
               n_query: int) -> torch.Tensor:
    """Mean NLL of shard ``shard`` of a step: ``batch_size`` datasets drawn from ``prior``.

    Parameters
    ----------
    model : nn.Module
        Called as ``model(X_train, y_train, X_query, y_query)``, returning per-query NLL.
    prior : callable
        ``prior(batch_size, n_points, n_features, generator) -> (X, y)``.
    plan : StepPlan
    shard : int
    batch_size, n_query : int

    Returns
    -------
    torch.Tensor
        Scalar loss.
    """
    gen = torch.Generator().manual_seed(int(plan.seeds[shard]))
    n = plan.n_train
    X, y = prior(batch_size, n + n_query, plan.n_features, gen)
    if X.shape != (batch_size, n + n_query, plan.n_features) or y.shape != X.shape[:2]:
        raise ValueError(f"prior: returned shapes {tuple(X.shape)}, {tuple(y.shape)}; expected "
                         f"({batch_size}, {n + n_query}, {plan.n_features}) and "
                         f"({batch_size}, {n + n_query})")
    return model(X[:, :n], y[:, :n], X[:, n:], y[:, n:]).mean()


def _lr(step: int, lr: float, warmup: int, steps: int) -> float:
    if step < warmup:
        return lr * (step + 1) / warmup
    return lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


def fit_prior(model: nn.Module, prior: Callable, *, steps: int, batch_size: int = 16,
              max_features: int = 1, min_train: int = 1, max_train: int = 100,
              n_query: int = 50, lr: float = 1e-3, weight_decay: float = 0.0,
              warmup: int = 100, clip: float = 1.0, n_shards: int | None = None,
              checkpoint: str | Path | None = None, checkpoint_every: int = 100,
              max_seconds: float | None = None,
              callback: Callable[[int, float], bool | None] | None = None,
              random_state: RandomState = 0, progress: bool = False) -> PriorFitResult:
    """Train ``model`` on datasets from ``prior`` (prior fitting); resumes from ``checkpoint``.

    Parameters
    ----------
    model : nn.Module
        Called as ``model(X_train, y_train, X_query, y_query)``, returning per-query NLL.
    prior : callable
        ``prior(batch_size, n_points, n_features, generator) -> (X, y)`` (see
        :mod:`bayesparse.datasets.priors`).
    steps : int
        Total optimiser steps (the cosine schedule ends here).
    batch_size : int, default 16
        Datasets per shard.
    max_features : int, default 1
        Each step uses ``d ~ U{1..max_features}`` input features.
    min_train, max_train : int, default 1, 100
        Each step uses ``n ~ U{min_train..max_train}`` training points.
    n_query : int, default 50
        Held-out points per dataset.
    lr, weight_decay : float
        AdamW peak learning rate and weight decay.
    warmup : int, default 100
        Linear warm-up steps, then cosine decay to zero at ``steps``.
    clip : float, default 1.0
        Gradient-norm clipping threshold.
    n_shards : int, optional
        Shards per step; defaults to the ``torch.distributed`` world size (1 without it).
        Under ``torch.distributed`` it must equal the world size.
    checkpoint : str or Path, optional
        Written (by rank 0) every ``checkpoint_every`` steps and at the end; if it exists at
        the start, training resumes from it (weights, optimiser, step, generator).
    checkpoint_every : int, default 100
    max_seconds : float, optional
        Stop after this wall time (a checkpoint is written; rerun to continue).
    callback : callable, optional
        ``callback(step, loss)`` after every step; returning True stops training.
    random_state : None, int or numpy.random.Generator, default 0
        Seeds the step plans (same on every rank).
    progress : bool, default False
        Show a tqdm bar (rank 0).

    Returns
    -------
    PriorFitResult

    Examples
    --------
    >>> import torch
    >>> from bayesparse.datasets.priors import GPPrior
    >>> from bayesparse.models.pfn import PFN
    >>> net = PFN(torch.linspace(-3, 3, 21), max_features=1, emb=16, n_layers=1, n_heads=2,
    ...           hidden=16)
    >>> res = fit_prior(net, GPPrior(), steps=3, batch_size=2, max_train=5, n_query=5, warmup=1)
    >>> res.step, len(res.losses)
    (3, 3)
    """
    for name, v in (("steps", steps), ("batch_size", batch_size), ("max_features", max_features),
                    ("min_train", min_train), ("n_query", n_query), ("warmup", warmup),
                    ("checkpoint_every", checkpoint_every)):
        if int(v) != v or v < 1:
            raise ValueError(f"{name}: must be a positive int, got {v!r}")
    if max_train < min_train:
        raise ValueError(f"max_train: must be >= min_train={min_train}, got {max_train}")
    distributed = dist.is_available() and dist.is_initialized()
    rank, world = (dist.get_rank(), dist.get_world_size()) if distributed else (0, 1)
    n_shards = world if n_shards is None else int(n_shards)
    if distributed and n_shards != world:
        raise ValueError(f"n_shards: must equal the world size {world} under torch.distributed")
    if n_shards < 1:
        raise ValueError(f"n_shards: must be positive, got {n_shards}")

    start = time.perf_counter()
    gen = torch_generator(random_state)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    step, losses = 0, []
    if checkpoint is not None and Path(checkpoint).exists():
        ck = torch.load(str(checkpoint), weights_only=True, map_location="cpu")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        gen.set_state(ck["generator"])
        step, losses = int(ck["step"]), list(ck["losses"])

    def save() -> None:
        if checkpoint is None or rank != 0:
            return
        tmp = f"{checkpoint}.tmp"
        torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(),
                    "generator": gen.get_state(), "step": step, "losses": losses}, tmp)
        os.replace(tmp, str(checkpoint))

    net = nn.parallel.DistributedDataParallel(model) if distributed else model
    my_shards = [rank] if distributed else list(range(n_shards))
    model.train()
    bar = tqdm(total=steps, initial=step, disable=not progress or rank != 0)
    while step < steps:
        plan = plan_step(gen, n_shards, max_features, min_train, max_train)
        for g in opt.param_groups:
            g["lr"] = _lr(step, lr, warmup, steps)
        loss = sum(shard_loss(net, prior, plan, s, batch_size, n_query)
                   for s in my_shards) / len(my_shards)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        step += 1
        value = loss.detach().item()
        stats = torch.tensor([value, 0.0])
        stop = callback is not None and bool(callback(step, value))
        stop |= max_seconds is not None and time.perf_counter() - start > max_seconds
        stats[1] = float(stop)
        if distributed:
            # Mean loss for logging; any rank's stop request stops all (no rank left waiting).
            dist.all_reduce(stats)
            stats[0] /= world
        losses.append(float(stats[0]))
        bar.update(1)
        bar.set_postfix(loss=f"{losses[-1]:.3f}")
        if step % checkpoint_every == 0 or stats[1] > 0 or step == steps:
            save()
        if stats[1] > 0:
            break
    bar.close()
    return PriorFitResult(model.eval(), step, losses, time.perf_counter() - start)
