"""Tour step: SDR false-match rates, closed form vs Monte Carlo, and a Sparsey memory."""

from __future__ import annotations

import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from bayesparse.models import SparseyMemory
from bayesparse.sparse import SparseTensor
from bayesparse.sparse.codes import add_noise
from bayesparse.theory import simulate_union_false_match, union_false_match_probability
from bayesparse.tour import TourRow

NAME = "sdr"
ORDER = 70


def run(out: Path) -> list[TourRow]:
    start = time.perf_counter()
    n, a, s = 2048, 64, 24
    thetas = np.arange(2, 10)
    fig, ax = plt.subplots(figsize=(6, 4))
    worst, smallest = 0.0, 1.0
    for i, m in enumerate((1, 4)):
        exact = [union_false_match_probability(n, a, s, int(t), m) for t in thetas]
        # Importance sampling resolves the small rates that plain sampling never hits.
        sim = [simulate_union_false_match(n, a, s, int(t), m, n_trials=20_000,
                                          method="importance", random_state=int(t)).probability
               for t in thetas]
        ax.semilogy(thetas, exact, "-", color=f"C{i}", label=f"closed form, M={m}")
        ax.semilogy(thetas, sim, "o", color=f"C{i}", label=f"simulation, M={m}")
        worst = max(worst, *(abs(p - e) / e for p, e in zip(sim, exact)))
        smallest = min(smallest, *exact)
    ax.set_xlabel("threshold θ")
    ax.set_ylabel("false-match probability")
    ax.set_title(f"segment, s={s} synapses per pattern; codes of a={a} of n={n}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "sdr_theory_vs_simulation.png", dpi=110)
    plt.close(fig)
    t_theory = time.perf_counter() - start

    rng = np.random.default_rng(0)
    items = SparseTensor.from_rows([np.sort(rng.choice(1000, 20, replace=False))
                                    for _ in range(1000)], 1000)
    start = time.perf_counter()
    mem = SparseyMemory(1000, n_cms=32, cells_per_cm=64, g_minus=0.8, random_state=0)
    mem.store_batch(items)
    acc = (mem.recall_batch(add_noise(items, 2, random_state=1)) == np.arange(1000)).mean()
    t_mem = time.perf_counter() - start
    return [
        TourRow("sdr", f"false match, n={n}, a={a}, s={s}",
                f"closed form vs Monte Carlo: max rel. error {worst:.3f} "
                f"(rates {smallest:.0e}..1)",
                t_theory),
        TourRow("sdr", "Sparsey, 1000 random items (20 of 1000 bits)",
                f"recall under 10% bit noise {acc:.3f}; saturation {mem.saturation_:.2f}",
                t_mem),
    ]
