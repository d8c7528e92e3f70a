"""Batch Bayesian optimization loop over botorch surrogates and acquisition functions.

The loop of Li, Rudner & Wilson, ICLR 2024 (Sec. 4), done with botorch's machinery: a
scrambled Sobol design of ``n_init`` points, then repeatedly (i) fit a surrogate to all data
(inputs mapped to ``[0, 1]^d``, outcomes standardized by the surrogate's ``Standardize``
outcome transform), (ii) maximize a Monte-Carlo acquisition function over ``q`` joint
candidates with ``optimize_acqf`` (``num_restarts=10``, ``raw_samples=512`` by default, the
``q`` points chosen sequentially-greedily, each conditioned on the earlier ones; the
reference code used 2 and 16) and fixed quasi-Monte-Carlo or index base samples, (iii)
evaluate the objective, until ``budget`` evaluations. Objectives are *minimized*; botorch
maximizes ``-f``.

Acquisitions: ``qLogEI`` (Ament et al., NeurIPS 2023, eq. 7), ``qUCB`` (Wilson et al., NeurIPS
2018, eq. 8), ``qLogNEI``, and for several objectives ``qLogNEHVI`` (Daulton et al., NeurIPS
2021) with a reference point. Black-box outcome constraints ``c_i(x) <= 0`` are modelled as
extra outputs and enter the acquisition as botorch's sigmoid-weighted ``constraints``.

Examples
--------
``surrogate="gp"`` fits a ``SingleTaskGP``; here a callable builds one without fitting its
hyper-parameters, to keep the example fast:

>>> import torch
>>> from botorch.models import SingleTaskGP
>>> f = lambda X: ((X - 0.3) ** 2).sum(-1)
>>> res = minimize(f, torch.tensor([[0.0, 0.0], [1.0, 1.0]]), n_init=4, budget=6, q=2,
...                surrogate=lambda X, Y, random_state: SingleTaskGP(X, Y).eval(),
...                num_restarts=2, raw_samples=16, acq_options={"maxiter": 10},
...                random_state=0, progress=False)
>>> res.X.shape, res.best.shape
(torch.Size([6, 2]), torch.Size([6]))
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from botorch.acquisition import (
    qLogExpectedImprovement,
    qLogNoisyExpectedImprovement,
    qUpperConfidenceBound,
)
from botorch.acquisition.multi_objective.logei import (
    qLogNoisyExpectedHypervolumeImprovement,
)
from botorch.acquisition.objective import GenericMCObjective
from botorch.fit import fit_gpytorch_mll
from botorch.models import ModelList, SingleTaskGP
from botorch.models.model import Model
from botorch.optim import optimize_acqf
from botorch.sampling.get_sampler import get_sampler
from botorch.utils.multi_objective.box_decompositions import DominatedPartitioning
from gpytorch.mlls import ExactMarginalLogLikelihood
from torch import Tensor
from torch.quasirandom import SobolEngine
from tqdm.auto import tqdm

from bayesparse.models.surrogates import (
    HMCBNN,
    SGHMCBNN,
    DeepEnsemble,
    DeepKernelGP,
    InfiniteWidthBNN,
    LaplaceBNN,
    SparseBNN,
)

SURROGATES: dict[str, Any] = {
    "ibnn": InfiniteWidthBNN, "dkl": DeepKernelGP, "hmc": HMCBNN, "sghmc": SGHMCBNN,
    "ensemble": DeepEnsemble, "laplace": LaplaceBNN, "sparse_bnn": SparseBNN,
}
_MULTI_OUTPUT = ("gp", "ibnn", "hmc", "sghmc", "ensemble")
ACQUISITIONS = ("qlogei", "qucb", "qlognei", "qlognehvi")


def fit_surrogate(surrogate: str | Callable[..., Model], train_X: Tensor, train_Y: Tensor,
                  random_state: int | None = None, **options: Any) -> Model:
    """Fit a surrogate by name (``"gp"`` or a key of :data:`SURROGATES`) or by a callable.

    A callable is called as ``surrogate(train_X, train_Y, random_state=...)`` and must return
    a fitted botorch ``Model``. Single-output surrogates are fitted per column and joined in a
    ``ModelList`` when ``train_Y`` has several columns.
    """
    if callable(surrogate):
        return surrogate(train_X, train_Y, random_state=random_state, **options)
    if surrogate != "gp" and surrogate not in SURROGATES:
        raise ValueError(f"surrogate: unknown {surrogate!r}; choose 'gp', "
                         f"{', '.join(repr(k) for k in SURROGATES)}, 'random' or a callable")
    if train_Y.shape[-1] > 1 and surrogate not in _MULTI_OUTPUT:
        return ModelList(*[fit_surrogate(surrogate, train_X, train_Y[:, i:i + 1],
                                         random_state, **options)
                           for i in range(train_Y.shape[-1])])
    if surrogate == "gp":
        model = SingleTaskGP(train_X, train_Y)
        with torch.random.fork_rng():
            torch.manual_seed(0 if random_state is None else random_state)
            fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
        return model.eval()
    return SURROGATES[surrogate](train_X, train_Y, random_state=random_state, **options).fit()


@dataclass
class BOResult:
    """History of a Bayesian optimization run (objectives on the minimization scale).

    Attributes
    ----------
    X : Tensor
        ``budget x d`` evaluated points (original bounds), in order.
    Y : Tensor
        ``budget x (m + c)`` evaluations: ``m`` objectives then ``c`` constraint values.
    best : Tensor
        ``budget``: best feasible objective so far (one objective) or dominated
        hypervolume so far (several objectives, w.r.t. ``ref_point``).
    fit_seconds, acq_seconds : list of float
        Surrogate fitting and acquisition optimization time of every BO iteration.
    """

    X: Tensor
    Y: Tensor
    best: Tensor
    fit_seconds: list[float] = field(default_factory=list)
    acq_seconds: list[float] = field(default_factory=list)

    @property
    def seconds_per_iteration(self) -> float:
        """Mean wall time of one BO iteration (fit + acquisition)."""
        n = len(self.fit_seconds)
        return (sum(self.fit_seconds) + sum(self.acq_seconds)) / n if n else 0.0


def _best_so_far(Y: Tensor, m: int, ref_point: Tensor | None) -> Tensor:
    feasible = (Y[:, m:] <= 0).all(-1)
    best = []
    for i in range(1, Y.shape[0] + 1):
        ok = feasible[:i]
        if m > 1:
            part = DominatedPartitioning(ref_point=-ref_point, Y=-Y[:i][ok][:, :m])
            best.append(float(part.compute_hypervolume()))
        else:
            best.append(float(Y[:i][ok][:, 0].min()) if ok.any() else float("inf"))
    return torch.tensor(best, dtype=Y.dtype)


class BayesianOptimizer:
    """Minimize a black-box function with batch Bayesian optimization.

    Parameters
    ----------
    f : callable
        ``f(X)`` for ``n x d`` inputs returns ``n`` values or ``n x (m + c)``: ``m``
        objectives then ``c`` constraint values (feasible when ``<= 0``).
    bounds : Tensor
        ``2 x d`` lower and upper bounds.
    surrogate : str or callable, default="gp"
        ``"gp"`` (botorch ``SingleTaskGP``), ``"ibnn"``, ``"dkl"``, ``"hmc"``, ``"sghmc"``,
        ``"ensemble"``, ``"laplace"``, ``"sparse_bnn"``, ``"random"`` (Sobol search), or a
        callable
        ``(train_X, train_Y, random_state=...) -> Model`` (fitted).
    acquisition : str, default="qlogei"
        ``"qlogei"``, ``"qucb"``, ``"qlognei"`` or ``"qlognehvi"`` (several objectives;
        chosen automatically when ``ref_point`` is given).
    n_init : int, default=10
        Sobol initial points.
    q : int, default=1
        Candidates per iteration (sequential greedy).
    n_constraints : int, default=0
        Number ``c`` of trailing constraint columns of ``f``'s output.
    ref_point : sequence of float, optional
        Reference point (minimization scale, worst acceptable values) for several
        objectives.
    num_restarts, raw_samples : int, default=10, 512
        ``optimize_acqf`` strength.
    mc_samples : int, default=128
        Base samples of the MC acquisition function.
    beta : float, default=2.0
        ``qUCB`` exploration parameter.
    acq_options : dict, optional
        ``options`` of ``optimize_acqf`` (e.g. ``{"maxiter": 200}``, L-BFGS-B's default).
    surrogate_options : dict, optional
        Keyword arguments of the surrogate.
    random_state : int, optional
        Seed of the Sobol design, base samples, surrogates and restarts (None: drawn from
        torch's global generator).
    progress : bool, default=True
        Show a tqdm bar.
    """

    def __init__(self, f: Callable[[Tensor], Tensor], bounds: Tensor, *,
                 surrogate: str | Callable[..., Model] = "gp", acquisition: str = "qlogei",
                 n_init: int = 10, q: int = 1, n_constraints: int = 0,
                 ref_point: Any = None, num_restarts: int = 10, raw_samples: int = 512,
                 mc_samples: int = 128, beta: float = 2.0,
                 acq_options: dict[str, Any] | None = None,
                 surrogate_options: dict[str, Any] | None = None,
                 random_state: int | None = None, progress: bool = True) -> None:
        if not callable(f):
            raise TypeError(f"f: expected a callable, got {type(f).__name__}")
        bounds = torch.as_tensor(bounds, dtype=torch.float64)
        if bounds.ndim != 2 or bounds.shape[0] != 2 or not (bounds[1] > bounds[0]).all():
            raise ValueError(f"bounds: expected a 2 x d tensor with upper > lower, got "
                             f"{tuple(bounds.shape)} {bounds.tolist()}")
        if ref_point is not None:
            acquisition = "qlognehvi"
        if acquisition not in ACQUISITIONS:
            raise ValueError(f"acquisition: expected one of {ACQUISITIONS}, got {acquisition!r}")
        if acquisition == "qlognehvi" and ref_point is None:
            raise ValueError("ref_point: qlognehvi needs a reference point (one value per "
                             "objective, minimization scale)")
        if isinstance(surrogate, str) and surrogate not in ("gp", "random", *SURROGATES):
            raise ValueError(f"surrogate: unknown {surrogate!r}; choose 'gp', 'random', "
                             f"{', '.join(repr(k) for k in SURROGATES)} or a callable")
        if n_init < 2 or q < 1 or n_constraints < 0:
            raise ValueError(f"n_init, q, n_constraints: need n_init >= 2, q >= 1, "
                             f"n_constraints >= 0; got {n_init}, {q}, {n_constraints}")
        self.f, self.bounds, self.surrogate, self.acquisition = f, bounds, surrogate, acquisition
        self.n_init, self.q, self.n_constraints = n_init, q, n_constraints
        self.ref_point = None if ref_point is None else torch.as_tensor(ref_point,
                                                                        dtype=torch.float64)
        self.num_restarts, self.raw_samples, self.mc_samples = num_restarts, raw_samples, mc_samples
        self.beta, self.surrogate_options = beta, dict(surrogate_options or {})
        self.acq_options = dict(acq_options or {})
        self.random_state, self.progress = random_state, progress

    def _evaluate(self, U: Tensor) -> Tensor:
        X = self.bounds[0] + U * (self.bounds[1] - self.bounds[0])
        Y = torch.as_tensor(self.f(X), dtype=torch.float64)
        Y = Y.reshape(U.shape[0], -1)
        if not torch.isfinite(Y).all():
            raise ValueError("f: returned NaN or inf")
        return Y

    def _acquisition(self, model: Model, U: Tensor, Y: Tensor, m: int, seed: int):
        sampler = get_sampler(model.posterior(U[:1]), sample_shape=torch.Size([self.mc_samples]),
                              seed=seed)
        if self.acquisition == "qlognehvi":
            return qLogNoisyExpectedHypervolumeImprovement(
                model, ref_point=(-self.ref_point).tolist(), X_baseline=U, sampler=sampler,
                prune_baseline=True)
        constraints, objective = None, None
        if self.n_constraints:
            objective = GenericMCObjective(lambda Z, X=None: Z[..., 0])
            # The model sees Z = -c; botorch counts a sample feasible when the callable is <= 0.
            constraints = [lambda Z, i=i: -Z[..., m + i] for i in range(self.n_constraints)]
        if self.acquisition == "qlogei":
            feasible = (Y[:, m:] >= 0).all(-1)
            best_f = Y[feasible, 0].max() if feasible.any() else Y[:, 0].min()
            return qLogExpectedImprovement(model, best_f=best_f, sampler=sampler,
                                           objective=objective, constraints=constraints)
        if self.acquisition == "qlognei":
            return qLogNoisyExpectedImprovement(model, X_baseline=U, sampler=sampler,
                                                objective=objective, constraints=constraints,
                                                prune_baseline=True)
        if self.n_constraints:
            raise ValueError("acquisition: 'qucb' does not take constraints; use 'qlogei' or "
                             "'qlognei'")
        return qUpperConfidenceBound(model, beta=self.beta, sampler=sampler)

    def run(self, budget: int) -> BOResult:
        """Evaluate ``f`` ``budget`` times (Sobol design, then BO batches); return the history."""
        if budget < self.n_init:
            raise ValueError(f"budget: expected >= n_init={self.n_init}, got {budget}")
        d = self.bounds.shape[1]
        seed = (int(torch.randint(2**20, (1,))) if self.random_state is None
                else int(self.random_state))
        sobol = SobolEngine(d, scramble=True, seed=seed)
        U = sobol.draw(self.n_init, dtype=torch.float64)
        Yf = self._evaluate(U)
        m = Yf.shape[1] - self.n_constraints
        if m < 1 or (m > 1) != (self.ref_point is not None):
            raise ValueError(f"f, ref_point: f returned {Yf.shape[1]} columns with "
                             f"n_constraints={self.n_constraints}; several objectives need a "
                             "ref_point and one objective must not have one")
        unit = torch.stack([torch.zeros(d), torch.ones(d)]).double()
        result = BOResult(U, Yf, torch.empty(0))
        bar = tqdm(total=budget, initial=self.n_init, disable=not self.progress,
                   desc=f"BO ({self.surrogate if isinstance(self.surrogate, str) else 'custom'})")
        it = 0
        while U.shape[0] < budget:
            q = min(self.q, budget - U.shape[0])
            start = time.perf_counter()
            if self.surrogate == "random":
                cand = sobol.draw(q, dtype=torch.float64)
                result.fit_seconds.append(0.0)
            else:
                # botorch maximizes: the surrogate models -f (objectives and constraints).
                model = fit_surrogate(self.surrogate, U, -Yf, random_state=seed * 1000 + it,
                                      **self.surrogate_options)
                result.fit_seconds.append(time.perf_counter() - start)
                start = time.perf_counter()
                acqf = self._acquisition(model, U, -Yf, m, seed * 1000 + it)
                with torch.random.fork_rng():
                    torch.manual_seed(seed * 1000 + it)
                    cand, _ = optimize_acqf(acqf, bounds=unit, q=q,
                                            num_restarts=self.num_restarts,
                                            raw_samples=self.raw_samples, sequential=True,
                                            options=self.acq_options)
            result.acq_seconds.append(time.perf_counter() - start)
            U = torch.cat([U, cand.detach()])
            Yf = torch.cat([Yf, self._evaluate(cand.detach())])
            bar.update(q)
            it += 1
        bar.close()
        result.X = self.bounds[0] + U * (self.bounds[1] - self.bounds[0])
        result.Y = Yf
        result.best = _best_so_far(Yf, m, self.ref_point)
        return result


def minimize(f: Callable[[Tensor], Tensor], bounds: Tensor, *,
             surrogate: str | Callable[..., Model] = "gp", acquisition: str = "qlogei",
             n_init: int = 10, budget: int = 50, q: int = 1, random_state: int | None = None,
             **kwargs: Any) -> BOResult:
    """Minimize ``f`` over the box ``bounds`` by Bayesian optimization.

    A functional shortcut for ``BayesianOptimizer(f, bounds, ...).run(budget)``; see
    :class:`BayesianOptimizer` for every argument.

    Returns
    -------
    BOResult
        Evaluated points, values, best-so-far curve and timings.
    """
    return BayesianOptimizer(f, bounds, surrogate=surrogate, acquisition=acquisition,
                             n_init=n_init, q=q, random_state=random_state,
                             **kwargs).run(budget)
