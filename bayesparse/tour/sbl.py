"""Tour step: KroSBL channel estimation on the IRS-MIMO generator (paper's sizes), and the
choice of prior on an image with randomly placed non-zeros."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from sklearn.exceptions import ConvergenceWarning
from threadpoolctl import threadpool_limits

from bayesparse.datasets.irs_mimo import irs_mimo_draw, irs_mimo_setup, kronecker_problem
from bayesparse.models.kronecker_sbl import KroneckerSBL
from bayesparse.tour import TourRow

NAME = "sbl"
ORDER = 30

_METHODS = {
    "SVD-KroSBL": dict(method="svd"),
    "AM-KroSBL": dict(method="am", prune_rel=(1e-2, 1e-1, 1e-3)),
    "PC-KroSBL": dict(method="am", coupling=(0.8, None, 0.8), prune_rel=(1e-2, 1e-1, 1e-2)),
}


def run(out: Path) -> list[TourRow]:
    """Fit SVD-, AM- and PC-KroSBL to 10 IRS-MIMO draws at 12 and 20 dB and plot the NMSEs.

    Parameters
    ----------
    out : pathlib.Path
        Directory for ``sbl_irs_mimo.png``.

    Returns
    -------
    list of TourRow
        The median channel NMSE at 20 dB per method with the count of fits that stopped at
        ``max_iter``, and the NMSE of both priors on a random-pixel image.

    References
    ----------
    He & Joseph, IEEE TSP 2024 (arXiv 2307.14719), Sec. VI.
    """
    setup = irs_mimo_setup(random_state=0)
    snrs, draws = (12.0, 20.0), 10
    nmse = {name: {snr: [] for snr in snrs} for name in _METHODS}
    start = time.perf_counter()
    # the factors are tiny (at most 16 x 16): extra BLAS threads only add contention
    # a fit that stops at max_iter is counted and reported in the row, not printed per fit
    with threadpool_limits(1), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        for snr in snrs:
            for j in range(draws):
                draw = irs_mimo_draw(setup, snr,
                                     random_state=np.random.default_rng([j, int(snr)]))
                for name, kw in _METHODS.items():
                    model = KroneckerSBL(noise_variance=draw.noise_variance, **kw)
                    model.fit(setup.factors, draw.y)
                    nmse[name][snr].append(setup.channel_nmse(model.coef_, draw))
    seconds = time.perf_counter() - start
    n_max_iter = sum(issubclass(w.category, ConvergenceWarning) for w in caught)

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for k, name in enumerate(_METHODS):
        for i, snr in enumerate(snrs):
            v = nmse[name][snr]
            ax.scatter(np.full(len(v), i + 0.2 * (k - 1)), v, s=14,
                       label=name if i == 0 else None, color=f"C{k}")
    ax.axhline(0.1, color="grey", ls=":", lw=0.8)
    ax.set(yscale="log", xticks=range(len(snrs)), xticklabels=[f"{s:g} dB" for s in snrs],
           ylabel="cascaded-channel NMSE (per draw)",
           title="IRS-MIMO: 5832 unknowns from 288 measurements")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "sbl_irs_mimo.png", dpi=110)
    plt.close(fig)
    med = ", ".join(f"{name.split('-')[0]} {np.median(nmse[name][20.0]):.1e}"
                    for name in _METHODS)
    return [TourRow("sbl", f"IRS-MIMO KroSBL, {draws} draws x 2 SNRs",
                    f"median NMSE @20dB: {med}; {n_max_iter} fits stopped at max_iter",
                    seconds), _random_pixels()]


def _random_pixels() -> TourRow:
    """Which prior: 12 random pixels of a 24 x 24 image from 12 x 12 separable measurements."""
    p = kronecker_problem((24, 24), (12, 12), 12, snr_db=20.0, complex_valued=False,
                          random_state=0)
    start = time.perf_counter()
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        db = {prior: 10.0 * np.log10(np.sum((KroneckerSBL(prior=prior).fit(
            p.factors, p.y).coef_ - p.x) ** 2) / np.sum(p.x**2))
              for prior in ("kronecker", "diagonal")}
    return TourRow("sbl", "KroSBL on 12 random pixels (24x24, 144 measurements)",
                   f"NMSE diagonal prior {db['diagonal']:.1f} dB, Kronecker prior "
                   f"{db['kronecker']:.1f} dB", time.perf_counter() - start)
