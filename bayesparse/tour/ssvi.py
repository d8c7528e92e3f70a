"""Tour step: SSVI trains a Bayesian MLP on digits at 10% density, against dense VI."""

from __future__ import annotations

import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import torch

from bayesparse.datasets.bnn_classification import load_digits_split
from bayesparse.metrics import accuracy, expected_calibration_error, predictive_entropy
from bayesparse.models.sparse_bnn_estimators import SparseBNNClassifier
from bayesparse.tour import TourRow

NAME = "ssvi"
ORDER = 40


def run(out: Path) -> list[TourRow]:
    data = load_digits_split(random_state=0)
    # Nets this small run fastest on one thread (no spin-waiting on a busy machine).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    start = time.perf_counter()
    fits = {}
    try:
        for density in (1.0, 0.1):
            clf = SparseBNNClassifier(hidden=(256, 256), density=density, n_epochs=30,
                                      batch_size=64, random_state=0)
            fits[density] = clf.fit(data.X_train, data.y_train)
    finally:
        torch.set_num_threads(threads)
    seconds = time.perf_counter() - start
    rng = np.random.default_rng(0)
    noise = rng.uniform(0, 1, data.X_test.shape).astype(np.float32)
    sparse = fits[0.1]
    p = {d: c.predict_proba(data.X_test) for d, c in fits.items()}
    acc = {d: accuracy(pd, data.y_test) for d, pd in p.items()}
    ece = expected_calibration_error(p[0.1], data.y_test)

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    first = sparse.module_.layers[0]
    axes[0].imshow(first.support.to_dense().numpy(), aspect="auto", cmap="Greys",
                   interpolation="nearest")
    axes[0].set_title(f"layer 1 support after SSVI ({first.density:.0%} active)")
    axes[0].set_xlabel("input pixel")
    axes[0].set_ylabel("hidden unit")
    bins = np.linspace(0, np.log(10), 30)
    axes[1].hist(predictive_entropy(p[0.1]), bins, alpha=0.6, label="digits (test)")
    axes[1].hist(predictive_entropy(sparse.predict_proba(noise)), bins, alpha=0.6,
                 label="uniform noise (OOD)")
    axes[1].set_xlabel("predictive entropy (nats)")
    axes[1].set_title(f"SSVI 10%: acc {acc[0.1]:.3f}, dense VI {acc[1.0]:.3f}")
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(out / "ssvi_digits.png", dpi=110)
    plt.close(fig)
    return [TourRow(
        "ssvi", f"digits MLP, density {sparse.density_:.0%} vs dense VI",
        f"acc {acc[0.1]:.3f} vs {acc[1.0]:.3f}, ECE {ece:.3f}, "
        f"{1 / sparse.flops_['train_ratio']:.1f}x fewer train FLOPs",
        seconds,
    )]
