"""Prior fitting under torch.distributed: 2 gloo processes equal one process on the same shards.

The module imports only torch and bayesparse.inference (the spawned workers import it), so the
processes start quickly; the model is a small network with fit_prior's call protocol.
"""

from __future__ import annotations

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from bayesparse.inference.prior_fitting import fit_prior, plan_step, shard_loss
from bayesparse.rng import torch_generator

FIT = dict(steps=4, batch_size=3, max_features=2, min_train=2, max_train=6, n_query=4,
           warmup=2, random_state=0)


def _prior(batch_size, n_points, n_features, generator):
    X = torch.rand(batch_size, n_points, n_features, generator=generator)
    w = torch.randn(batch_size, n_features, 1, generator=generator)
    return X, (X @ w).squeeze(-1) + 0.1 * torch.randn(batch_size, n_points, generator=generator)


class _Gaussian(nn.Module):
    """Gaussian predictive from the padded query input and the context mean."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.net = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2))

    def forward(self, X_train, y_train, X_query, y_query):
        Xq = nn.functional.pad(X_query, (0, 2 - X_query.shape[-1]))
        ctx = y_train.mean(1, keepdim=True).unsqueeze(-1).expand(*Xq.shape[:2], 1)
        mean, log_std = self.net(torch.cat([Xq, ctx], -1)).unbind(-1)
        return 0.5 * ((y_query - mean) / log_std.exp()) ** 2 + log_std


def _worker(rank: int, tmp: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{tmp}/rendezvous", rank=rank,
                            world_size=2)
    net = _Gaussian()
    ddp = nn.parallel.DistributedDataParallel(net)
    plan = plan_step(torch_generator(0), 2, 2, 2, 6)
    shard_loss(ddp, _prior, plan, rank, 3, 4).backward()
    res = fit_prior(_Gaussian(), _prior, **FIT)
    if rank == 0:
        torch.save({"grads": [p.grad for p in net.parameters()],
                    "params": res.model.state_dict(), "losses": res.losses}, f"{tmp}/out.pt")
    dist.destroy_process_group()


def test_two_process_ddp_equals_single_process(tmp_path):
    mp.spawn(_worker, args=(str(tmp_path),), nprocs=2, join=True)
    out = torch.load(tmp_path / "out.pt", weights_only=True)
    # One process, both shards of the same plan, mean loss: DDP must average, not sum.
    net = _Gaussian()
    plan = plan_step(torch_generator(0), 2, 2, 2, 6)
    (sum(shard_loss(net, _prior, plan, s, 3, 4) for s in range(2)) / 2).backward()
    for p, g in zip(net.parameters(), out["grads"]):
        torch.testing.assert_close(g, p.grad, atol=1e-6, rtol=1e-5)
    res = fit_prior(_Gaussian(), _prior, n_shards=2, **FIT)
    assert out["losses"] == pytest.approx(res.losses, abs=1e-5)
    # AdamW divides by sqrt(v): tiny gradients amplify the all-reduce's summation order.
    for a, b in zip(res.model.state_dict().values(), out["params"].values()):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


def test_n_shards_must_match_the_world_size_only_under_distributed():
    res = fit_prior(_Gaussian(), _prior, n_shards=3, **FIT)
    assert res.step == FIT["steps"]
    with pytest.raises(ValueError, match="n_shards"):
        fit_prior(_Gaussian(), _prior, n_shards=0, **FIT)
