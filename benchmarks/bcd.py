"""Block coordinate descent: the greedy-rule study and wall time against skglm, sklearn, celer.

Parts (each writes its own JSON and PNG):

- ``bcd_rules``: sub-optimality ``f(x) - f*`` vs iteration for every selection rule and both
  updates (gradient, matrix) on problem A of Nutini, Laradji & Schmidt (JMLR 2022) — least
  squares, 1000 x 10000, N(0,1)+1 entries kept w.p. 10 log(n)/n, columns scaled by
  10 N(0,1) — and on A with an L1 term (proximal gradient), block size 5, 500 iterations.
- ``bcd_walltime``: time to a relative duality gap ``gap / (||y||^2 / 2n) <= 1e-6`` for
  ``BCDLasso`` (working set) and sklearn ``Lasso``, skglm ``Lasso`` and celer ``Lasso``, fitted
  back to back in this process, with ratios to skglm. Every gap is recomputed from the
  returned coefficients with the same formula.
"""

from __future__ import annotations

import argparse
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import scipy.sparse as sp

from bayesparse.benchmarking import (
    load_results,
    markdown_table,
    result_path,
    write_report,
    write_results,
)
from bayesparse.optim.bcd import (
    SELECTION_RULES,
    bcd_least_squares,
    enet_duality_gap,
    enet_working_set,
)


def problem_a(n: int, p: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """The paper's problem A design and targets (``b = A x*``, x* 10% non-zero)."""
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((n, p)) + 1.0
    A *= rng.random((n, p)) < min(1.0, 10 * np.log(n) / n)
    A *= 10 * rng.standard_normal(p)
    x = rng.standard_normal(p) * (rng.random(p) < 0.1)
    return A, A @ x


def rules_part(quick: bool) -> None:
    n, p, iters = (100, 500, 100) if quick else (1000, 10000, 500)
    A, b = problem_a(n, p)
    f_star = 0.0  # b = A x*: the least-squares optimum is 0
    lam = 0.1 * np.max(np.abs(A.T @ b))
    x_l1 = enet_working_set(A, b, lam / n, tol=1e-14 * (b @ b) / n).coef
    f_l1 = 0.5 * np.sum((A @ x_l1 - b) ** 2) + lam * np.abs(x_l1).sum()
    cases, curves = [], {}
    configs = [("A", u, 0.0, f_star) for u in ("gradient", "matrix")] + [
        ("A-l1", "gradient", lam, f_l1)]
    for prob, update, l1, fs in configs:
        for rule in sorted(SELECTION_RULES):
            start = time.perf_counter()
            res = bcd_least_squares(A, b, lam=l1, block_size=5, selection=rule, update=update,
                                    n_iter=iters, random_state=0)
            sub = np.maximum(res.objective - fs, 1e-16)
            curves[prob, update, rule] = sub
            cases.append(dict(problem=prob, update=update, rule=rule, start=float(sub[0]),
                              final=float(sub[-1]), seconds=time.perf_counter() - start))
    write_results("bcd_rules", dict(n=n, p=p, iterations=iters, block_size=5), cases)
    keys = sorted({(c["problem"], c["update"]) for c in cases})
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 4))
    for ax, (prob, update) in zip(axes, keys):
        for rule in sorted(SELECTION_RULES):
            ax.semilogy(curves[prob, update, rule], label=rule)
        ax.set(title=f"{prob}, {update} update", xlabel="iteration", ylabel="f(x) - f*")
        ax.legend()
    fig.tight_layout()
    fig.savefig(result_path("bcd_rules", "png"), dpi=100)
    plt.close(fig)


def _rel_gap(X, y, w, alpha):
    return enet_duality_gap(X, y, w, alpha, 0.0) / ((y @ y) / (2 * len(y)))


def _designs(quick: bool):
    rng = np.random.default_rng(0)
    n, p = (100, 300) if quick else (500, 5000)
    cov_root = rng.standard_normal((n, p))
    X = np.empty((n, p))
    X[:, 0] = cov_root[:, 0]
    for j in range(1, p):  # AR(1) columns with correlation 0.6
        X[:, j] = 0.6 * X[:, j - 1] + np.sqrt(1 - 0.36) * cov_root[:, j]
    w = np.zeros(p)
    w[rng.choice(p, max(p // 100, 5), replace=False)] = 1.0
    y = X @ w + 0.5 * rng.standard_normal(n)
    yield "dense AR 0.6", np.asfortranarray(X), y
    n, p = (200, 1000) if quick else (5000, 20000)
    Xs = sp.random(n, p, density=1e-2 if quick else 2e-3, random_state=1, format="csc")
    ws = np.zeros(p)
    ws[rng.choice(p, max(p // 100, 5), replace=False)] = 1.0
    yield "sparse CSC", Xs, Xs @ ws + 0.1 * rng.standard_normal(n)


def _solvers(target: float):
    import celer
    import skglm
    from sklearn.linear_model import Lasso

    def ours(X, y, a):
        return enet_working_set(X, y, a, tol=target * (y @ y) / (2 * len(y)),
                                max_iter=1000).coef

    def peer(cls, **kw):
        def fit(X, y, a):
            return cls(alpha=a, fit_intercept=False, **kw).fit(X, y).coef_
        return fit

    return {"bayesparse": ours,
            "skglm": peer(skglm.Lasso, tol=target * 1e-2, max_iter=1000),
            "sklearn": peer(Lasso, tol=target, max_iter=100_000),
            "celer": peer(celer.Lasso, tol=target, max_iter=1000)}


def walltime_part(quick: bool) -> None:
    target = 1e-6
    solvers = _solvers(target)
    rng = np.random.default_rng(2)
    for warm in (rng.standard_normal((20, 30)), sp.random(20, 30, density=0.3, format="csc",
                                                          random_state=2)):
        for fit in solvers.values():  # numba compilation is not part of the timings
            fit(warm, rng.standard_normal(20), 0.01)
    cases = []
    for name, X, y in _designs(quick):
        alpha_max = np.max(np.abs(X.T @ y)) / len(y)
        for ratio in (0.1, 0.01):
            a = ratio * alpha_max
            row = dict(design=name, alpha_ratio=ratio)
            for _ in range(1 if quick else 2):  # back to back, best of repeats
                for lib, fit in solvers.items():
                    start = time.perf_counter()
                    w = fit(X, y, a)
                    t = time.perf_counter() - start
                    row[f"{lib}_s"] = min(row.get(f"{lib}_s", np.inf), t)
                    row[f"{lib}_gap"] = _rel_gap(X, y, w, a)
            row["ratio_to_skglm"] = row["bayesparse_s"] / row["skglm_s"]
            cases.append(row)
    write_results("bcd_walltime", dict(target_rel_gap=target, quick=quick), cases)
    fig, ax = plt.subplots(figsize=(8, 4))
    labels = [f"{c['design']}\n{c['alpha_ratio']}·αmax" for c in cases]
    xs = np.arange(len(cases))
    for k, lib in enumerate(solvers):
        ax.bar(xs + 0.2 * k, [c[f"{lib}_s"] for c in cases], 0.2, label=lib)
    ax.set(yscale="log", ylabel="seconds", xticks=xs + 0.3, xticklabels=labels)
    ax.legend()
    fig.tight_layout()
    fig.savefig(result_path("bcd_walltime", "png"), dpi=100)
    plt.close(fig)


def report() -> None:
    rules = load_results("bcd_rules")
    wall = load_results("bcd_walltime")
    md = ("# BCD results\n\nGenerated from `benchmarks/results/bcd_rules.json` and "
          "`bcd_walltime.json` by `python benchmarks/bcd.py --report`.\n\n"
          f"## Greedy rules (problem A, {rules['params']['n']}x{rules['params']['p']}, block "
          f"size 5, {rules['params']['iterations']} iterations): f(x) - f* at the end\n\n"
          + markdown_table(rules["cases"], ["problem", "update", "rule", "start", "final"])
          + "\n## Wall time to relative duality gap 1e-6 (seconds, best of repeats)\n\n"
          + markdown_table(wall["cases"], ["design", "alpha_ratio", "bayesparse_s", "skglm_s",
                                           "sklearn_s", "celer_s", "ratio_to_skglm",
                                           "bayesparse_gap", "skglm_gap"]))
    write_report("bcd", md)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small problems, seconds")
    parser.add_argument("--report", action="store_true", help="write docs/results/bcd.md")
    parser.add_argument("--part", choices=["bcd_rules", "bcd_walltime"], default=None)
    args = parser.parse_args()
    if args.report:
        report()
        return
    if args.part in (None, "bcd_rules"):
        rules_part(args.quick)
    if args.part in (None, "bcd_walltime"):
        walltime_part(args.quick)


if __name__ == "__main__":
    main()
