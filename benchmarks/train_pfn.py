"""Train the PFN checkpoints: the shipped GP-hyperprior model and the fixed 1-D GP model.

``--prior gp-hyper`` (default) trains the checkpoint shipped in the package,
``bayesparse/models/checkpoints/pfn_gp.pt``: Matérn-5/2 GP with Gamma hyperpriors
(:class:`~bayesparse.datasets.priors.GPPrior` defaults), 1-5 input features, 1-100 context
points. ``--prior gp-fixed-1d`` trains the GP-mimicry model of ``benchmarks/pfn.py`` (RBF,
lengthscale 0.3, outputscale 1, noise 0.1, 1-D, 20 context points) into
``benchmarks/results/pfn_fixed1d.pt``.

Training state is written to ``--state`` every 50 steps and training resumes from it, so an
interrupted run continues where it stopped (rerun the same command). Under ``torchrun`` every
process draws its own shard of each batch (DDP, gloo backend):
``torchrun --nproc_per_node=2 benchmarks/train_pfn.py --steps 6000``.

Run: ``OMP_NUM_THREADS=1 python benchmarks/train_pfn.py [--prior P] [--steps N] [--seed S]``;
the loss of every step goes to ``benchmarks/results/pfn_train_PRIOR.json``. ``--quick`` trains
a tiny model for 5 steps (a smoke test).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch
import torch.distributed as dist

from bayesparse.benchmarking import result_path, write_results
from bayesparse.datasets.priors import GPPrior
from bayesparse.inference.prior_fitting import fit_prior
from bayesparse.models.pfn import DEFAULT_CHECKPOINT, PFN, load_pfn, save_pfn
from bayesparse.models.riemann import BarDistribution
from bayesparse.rng import torch_generator

ROOT = Path(__file__).resolve().parents[1]
SETUPS = {
    "gp-hyper": dict(
        prior=GPPrior(kernel="matern52", hyperprior=True), max_features=5, min_train=1,
        max_train=100, n_query=50, batch_size=16, steps=2000, lr=1e-3, warmup=100,
        model=dict(emb=96, n_layers=3, n_heads=4, hidden=192), out=DEFAULT_CHECKPOINT),
    "gp-fixed-1d": dict(
        prior=GPPrior(kernel="rbf", lengthscale=0.3, outputscale=1.0, noise=0.1),
        max_features=1, min_train=20, max_train=20, n_query=50, batch_size=32, steps=1500,
        lr=1e-3, warmup=100, model=dict(emb=64, n_layers=3, n_heads=4, hidden=128),
        out=ROOT / "benchmarks" / "results" / "pfn_fixed1d.pt"),
}


def borders(prior: GPPrior, max_features: int, seed: int, n_buckets: int = 1000) -> torch.Tensor:
    """Equal-mass borders from 200 000 prior targets (4000 datasets of 50 points)."""
    gen = torch_generator(seed)
    ys = [prior(400, 50, 1 + i % max_features, gen)[1] for i in range(10)]
    return BarDistribution.from_samples(torch.cat(ys), n_buckets).borders


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prior", choices=sorted(SETUPS), default="gp-hyper")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-seconds", type=float, default=None)
    ap.add_argument("--state", default=None, help="training-state file (default /tmp/...)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--init", default=None,
                    help="start from the weights of a saved PFN (fresh optimiser and schedule)")
    ap.add_argument("--lr", type=float, default=None, help="peak learning rate")
    ap.add_argument("--quick", action="store_true",
                    help="a tiny model for 5 steps into the results folder (a smoke test)")
    a = ap.parse_args(argv)
    setup = dict(SETUPS[a.prior])
    state = a.state or f"/tmp/pfn_train_{a.prior}_seed{a.seed}.pt"
    out = Path(a.out or setup["out"])
    if a.quick:
        setup.update(steps=5, batch_size=4, max_train=10, n_query=5, warmup=2,
                     model=dict(emb=16, n_layers=1, n_heads=2, hidden=16))
        state = str(result_path(f"pfn_train_{a.prior}_quick_state", "pt"))
        out = result_path(f"pfn_train_{a.prior}_quick", "pt")
    steps = a.steps or setup["steps"]
    torch.set_num_threads(1)
    if "WORLD_SIZE" in os.environ:
        dist.init_process_group("gloo")
    if a.init:
        model, init_meta = load_pfn(a.init)
        model.train()
    else:
        model, init_meta = PFN(borders(setup["prior"], setup["max_features"], a.seed),
                               max_features=setup["max_features"],
                               max_train=setup["max_train"], **setup["model"]), None
    t0 = time.perf_counter()
    res = fit_prior(model, setup["prior"], steps=steps, batch_size=setup["batch_size"],
                    max_features=setup["max_features"], min_train=setup["min_train"],
                    max_train=setup["max_train"], n_query=setup["n_query"],
                    lr=a.lr or setup["lr"],
                    warmup=setup["warmup"], checkpoint=state, checkpoint_every=50,
                    max_seconds=a.max_seconds, random_state=a.seed, progress=True)
    rank = dist.get_rank() if dist.is_initialized() else 0
    if rank == 0 and res.step >= steps:
        meta_path = Path(f"{state}.seconds")
        seconds = float(meta_path.read_text()) if meta_path.exists() else 0.0
        seconds += time.perf_counter() - t0
        command = "python " + " ".join(["benchmarks/train_pfn.py", *sys.argv[1:]])
        if init_meta:
            # The whole lineage: the run that made the initial weights, then this one.
            seconds += init_meta["train_seconds"]
            command = f"{init_meta['command']}; then {command}"
        total_steps = res.step + (init_meta["steps"] if init_meta else 0)
        save_pfn(res.model, out, meta={
            "prior": a.prior, "prior_args": repr(setup["prior"]), "steps": total_steps,
            "batch_size": setup["batch_size"], "seed": a.seed, "train_seconds": seconds,
            "world_size": dist.get_world_size() if dist.is_initialized() else 1,
            "final_loss_mean_last_100": sum(res.losses[-100:]) / len(res.losses[-100:]),
            "command": command,
        })
        write_results(f"pfn_train_{a.prior}" + ("_quick" if a.quick else ""),
                      dict(prior=a.prior, steps=res.step, seed=a.seed, train_seconds=seconds,
                           batch_size=setup["batch_size"], out=str(out)),
                      [{"step": i + 1, "loss": loss} for i, loss in enumerate(res.losses)])
        print(f"wrote {out} after {res.step} steps, {seconds:.0f} s")
    elif rank == 0:
        meta_path = Path(f"{state}.seconds")
        prev = float(meta_path.read_text()) if meta_path.exists() else 0.0
        meta_path.write_text(str(prev + time.perf_counter() - t0))
        print(f"stopped at step {res.step}/{steps}; rerun to resume from {state}")
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
