"""Tour step: the shared sparse tensor (products against dense, structured patterns)."""

from __future__ import annotations

import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from bayesparse.sparse import block_pattern, nm_sparsify, random_pattern
from bayesparse.tour import TourRow

NAME = "sparse"
ORDER = 0


def run(out: Path) -> list[TourRow]:
    gen = torch.Generator().manual_seed(0)
    n = 4000
    pat = random_pattern((n, n), density=0.002, random_state=0)
    s = pat.with_values(torch.randn(pat.nnz, generator=gen, dtype=torch.float64))
    x = torch.randn(n, 64, generator=gen, dtype=torch.float64)
    start = time.perf_counter()
    y = s @ x
    t_sparse = time.perf_counter() - start
    dense = s.to_dense()
    start = time.perf_counter()
    y_ref = dense @ x
    t_dense = time.perf_counter() - start
    err = float((y - y_ref).abs().max())

    w = torch.randn(16, 16, generator=gen)
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
    for ax, (title, p) in zip(axes, [
        ("2:4 (N:M)", nm_sparsify(w, 2, 4)),
        ("4x4 blocks, 25%", block_pattern((16, 16), (4, 4), 0.25, random_state=0)),
        ("random, 20%", random_pattern((16, 16), 0.2, random_state=0)),
    ]):
        ax.imshow(p.pattern().to_dense().numpy(), cmap="Greys", interpolation="nearest")
        ax.set_title(f"{title}: nnz={p.nnz}")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("bayesparse.sparse: structured patterns")
    fig.tight_layout()
    fig.savefig(out / "sparse_patterns.png", dpi=110)
    plt.close(fig)
    return [TourRow(
        "sparse", f"{n}x{n} @ {n}x64, density 0.2%",
        f"max err {err:.1e}, {t_dense / t_sparse:.0f}x faster than dense", t_sparse,
    )]
