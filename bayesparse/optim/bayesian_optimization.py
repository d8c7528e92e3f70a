"""Batch Bayesian optimization loop over botorch surrogates and acquisition functions.

The loop of Li, Rudner & Wilson, ICLR 2024 (Sec. 4), done with botorch's machinery: a
scrambled Sobol design of ``n_init`` points, then repeatedly (i) fit a surrogate to all data
(inputs mapped to ``[0, 1]^d``, outcomes standardized by the surrogate's ``Standardize``
outcome transform), (ii) maximize a Monte-Carlo acquisition function over ``q`` joint
candidates with ``optimize_acqf`` (``num_restarts=10``, ``raw_samples=512`` by default, the
``q`` points chosen sequentially-greedily, each conditioned on the earlier ones; the
reference code used 2 and 16) and fixed quasi-Monte-Carlo or index base samples, (iii)
evaluate the objective, until ``budget`` evaluations. Objectives are *minimized* (botorch
maximizes ``-f``) unless ``maximize=True``.

No evaluation is lost: when the objective raises, :class:`BOError` carries the history so far
(``err.result``), and ``run(budget, history=err.result)`` resumes from it. Non-finite values
either stop the run the same way (``on_nan="raise"``) or are left out of the surrogate's data
and kept in ``BOResult.X_failed`` (``on_nan="skip"``). With ``executor=`` (any
``concurrent.futures.Executor``, e.g. a process pool or ``dask.distributed``'s
``Client.get_executor()``), the points of each batch are evaluated concurrently, one call of
``f`` per point.

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

import numbers
import time
from collections.abc import Callable
from concurrent.futures import Executor
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
from botorch.utils.transforms import normalize, unnormalize
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
    PFNSurrogate,
    SparseBNN,
)

SURROGATES: dict[str, Any] = {
    "ibnn": InfiniteWidthBNN, "dkl": DeepKernelGP, "hmc": HMCBNN, "sghmc": SGHMCBNN,
    "ensemble": DeepEnsemble, "laplace": LaplaceBNN, "sparse_bnn": SparseBNN,
    "pfn": PFNSurrogate,
}
_MULTI_OUTPUT = ("gp", "ibnn", "hmc", "sghmc", "ensemble")
ACQUISITIONS = ("qlogei", "qucb", "qlognei", "qlognehvi")


def fit_surrogate(surrogate: str | Callable[..., Model], train_X: Tensor, train_Y: Tensor,
                  random_state: int | None = None, **options: Any) -> Model:
    """Fit a surrogate by name (``"gp"`` or a key of :data:`SURROGATES`) or by a callable.

    A callable is called as ``surrogate(train_X, train_Y, random_state=...)`` and must return
    a fitted botorch ``Model`` (``TypeError`` otherwise). Single-output surrogates are fitted
    per column and joined in a ``ModelList`` when ``train_Y`` has several columns.

    Parameters
    ----------
    surrogate : str or callable
        ``"gp"`` (botorch ``SingleTaskGP``), a key of :data:`SURROGATES`, or a callable
        ``(train_X, train_Y, random_state=..., **options) -> Model``.
    train_X : Tensor of shape (n, d)
        Training inputs.
    train_Y : Tensor of shape (n, m)
        Training targets (botorch's maximization scale).
    random_state : int or None, default=None
        Seed of the fit (``None``: seed 0 for the GP, the surrogate's default otherwise).
    **options
        Keyword arguments of the surrogate's constructor or of the callable (unused by
        ``"gp"``).

    Returns
    -------
    Model
        The fitted botorch model (a ``ModelList`` of per-column fits when needed).
    """
    if callable(surrogate):
        model = surrogate(train_X, train_Y, random_state=random_state, **options)
        if not isinstance(model, Model):
            raise TypeError(f"surrogate: the callable must return a fitted botorch Model, got "
                            f"{type(model).__name__}")
        return model
    if surrogate != "gp" and surrogate not in SURROGATES:
        raise ValueError(f"surrogate: unknown {surrogate!r}; choose 'gp', "
                         f"{', '.join(repr(k) for k in SURROGATES)} or a callable")
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
    X_failed : Tensor
        ``k x d`` points whose evaluation was non-finite and skipped (``on_nan="skip"``);
        they count towards the budget but not in ``X``, ``Y``.
    """

    X: Tensor
    Y: Tensor
    best: Tensor
    fit_seconds: list[float] = field(default_factory=list)
    acq_seconds: list[float] = field(default_factory=list)
    X_failed: Tensor = field(default_factory=lambda: torch.empty(0))

    @property
    def n_evaluations(self) -> int:
        """Number of calls spent, finite or skipped."""
        return self.X.shape[0] + (self.X_failed.shape[0] if self.X_failed.numel() else 0)

    @property
    def seconds_per_iteration(self) -> float:
        """Mean wall time of one BO iteration (fit + acquisition)."""
        n = len(self.fit_seconds)
        return (sum(self.fit_seconds) + sum(self.acq_seconds)) / n if n else 0.0


class BOError(ValueError):
    """The objective failed or returned NaN/inf; ``result`` (alias ``history``) keeps the data.

    Pass ``err.result`` as ``history=`` to :func:`minimize` or :meth:`BayesianOptimizer.run`
    to resume without re-evaluating.
    """

    def __init__(self, message: str, result: BOResult) -> None:
        super().__init__(message)
        self.result = result

    @property
    def history(self) -> BOResult:
        """The evaluations made before the failure (same as ``result``)."""
        return self.result


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value!r}")
    return int(value)


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
    maximize : bool, default=False
        Maximize the objectives instead (``Y`` and ``best`` stay on ``f``'s scale; the
        hypervolume's ``ref_point`` is then on that scale too).
    on_nan : {"raise", "skip"}, default="raise"
        Non-finite evaluation: raise :class:`BOError` carrying the history, or record the
        point in ``X_failed`` and go on (it counts towards the budget).
    executor : concurrent.futures.Executor, optional
        Evaluate the points of each batch concurrently, ``f`` called on one ``1 x d`` point
        per task (``f`` must be picklable for process pools). Results equal the serial run.

    Notes
    -----
    A callable surrogate receives ``train_X`` in ``[0, 1]^d`` (the bounds mapped to the unit
    cube) and ``train_Y`` on botorch's *maximization* scale (``-f`` unless ``maximize``), raw
    (not standardized), ``n x (m + c)`` in float64; it must return a fitted botorch ``Model``.
    """

    def __init__(self, f: Callable[[Tensor], Tensor], bounds: Tensor, *,
                 surrogate: str | Callable[..., Model] = "gp", acquisition: str = "qlogei",
                 n_init: int = 10, q: int = 1, n_constraints: int = 0,
                 ref_point: Any = None, num_restarts: int = 10, raw_samples: int = 512,
                 mc_samples: int = 128, beta: float = 2.0,
                 acq_options: dict[str, Any] | None = None,
                 surrogate_options: dict[str, Any] | None = None,
                 random_state: int | None = None, progress: bool = True,
                 maximize: bool = False, on_nan: str = "raise",
                 executor: Executor | None = None) -> None:
        if not callable(f):
            raise TypeError(f"f: expected a callable, got {type(f).__name__}")
        bounds = torch.as_tensor(bounds, dtype=torch.float64)
        if bounds.ndim != 2 or bounds.shape[0] != 2 or not torch.isfinite(bounds).all() \
                or not (bounds[1] > bounds[0]).all():
            raise ValueError(f"bounds: expected a finite 2 x d tensor with upper > lower, got "
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
        n_init, q = _check_int("n_init", n_init, 2), _check_int("q", q, 1)
        n_constraints = _check_int("n_constraints", n_constraints, 0)
        if on_nan not in ("raise", "skip"):
            raise ValueError(f"on_nan: expected 'raise' or 'skip', got {on_nan!r}")
        if executor is not None and not isinstance(executor, Executor):
            raise TypeError(f"executor: expected a concurrent.futures.Executor, got "
                            f"{type(executor).__name__}")
        self.maximize, self.on_nan, self.executor = bool(maximize), on_nan, executor
        self.f, self.bounds, self.surrogate, self.acquisition = f, bounds, surrogate, acquisition
        self.n_init, self.q, self.n_constraints = n_init, q, n_constraints
        self.ref_point = None if ref_point is None else torch.as_tensor(ref_point,
                                                                        dtype=torch.float64)
        self.num_restarts, self.raw_samples, self.mc_samples = num_restarts, raw_samples, mc_samples
        self.beta, self.surrogate_options = beta, dict(surrogate_options or {})
        self.acq_options = dict(acq_options or {})
        self.random_state, self.progress = random_state, progress

    def _call(self, X: Tensor) -> Tensor:
        if self.executor is None:
            out = [self.f(X)]
        else:
            futures = [self.executor.submit(self.f, X[i:i + 1]) for i in range(X.shape[0])]
            out = [fut.result() for fut in futures]
        try:
            parts = [torch.as_tensor(o, dtype=torch.float64) for o in out]
            n = [X.shape[0]] if len(parts) == 1 else [1] * len(parts)
            if any(p.ndim > 2 or (p.ndim == 2 and p.shape[0] != k)
                   for p, k in zip(parts, n, strict=True)):
                raise ValueError("wrong shape")
            return torch.cat([p.reshape(k, -1) for p, k in zip(parts, n, strict=True)])
        except (TypeError, ValueError, RuntimeError) as exc:
            shapes = [tuple(torch.as_tensor(o).shape) for o in out]
            raise ValueError(f"f: expected {X.shape[0]} values or a {X.shape[0]} x k tensor "
                             f"for {X.shape[0]} points, got shapes {shapes}") from exc

    def _evaluate(self, U: Tensor, state: dict[str, Any]) -> None:
        """Evaluate ``f`` at unit-cube points ``U``; append to ``state`` or raise BOError."""
        X = unnormalize(U, self.bounds)
        try:
            Y = self._call(X)
            if state["Y"].numel() and Y.shape[1] != state["Y"].shape[1]:
                raise ValueError(f"f: returned {Y.shape[1]} columns, earlier "
                                 f"{state['Y'].shape[1]}")
        except Exception as exc:
            raise BOError(f"f failed ({type(exc).__name__}: {exc}); err.result holds the "
                          f"{state['U'].shape[0]} evaluations so far", self._result(state)) from exc
        ok = torch.isfinite(Y).all(-1)
        state["U"] = torch.cat([state["U"], U[ok]])
        state["Y"] = torch.cat([state["Y"], Y[ok]]) if state["Y"].numel() else Y[ok]
        if not ok.all() and self.on_nan == "raise":
            raise BOError("f: returned NaN or inf (pass on_nan='skip' to go on); err.result "
                          "holds the finite evaluations", self._result(state))
        state["U_failed"] = torch.cat([state["U_failed"], U[~ok]])

    def _result(self, state: dict[str, Any]) -> BOResult:
        Y = state["Y"] if state["Y"].numel() else torch.empty(0, 1, dtype=torch.float64)
        m = Y.shape[1] - self.n_constraints
        sign = -1.0 if self.maximize else 1.0
        best = torch.empty(0, dtype=torch.float64)
        if Y.shape[0] and m >= 1 and (m > 1) == (self.ref_point is not None):
            ref = None if self.ref_point is None else sign * self.ref_point
            best = _best_so_far(torch.cat([sign * Y[:, :m], Y[:, m:]], -1), m, ref)
            if m == 1:
                best = sign * best
        return BOResult(unnormalize(state["U"], self.bounds), Y, best, list(state["fit"]),
                        list(state["acq"]), unnormalize(state["U_failed"], self.bounds))

    def _acquisition(self, model: Model, U: Tensor, Y: Tensor, m: int, seed: int):
        sampler = get_sampler(model.posterior(U[:1]), sample_shape=torch.Size([self.mc_samples]),
                              seed=seed)
        if self.acquisition == "qlognehvi":
            ref = self.ref_point if self.maximize else -self.ref_point
            return qLogNoisyExpectedHypervolumeImprovement(
                model, ref_point=ref.tolist(), X_baseline=U, sampler=sampler,
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

    def run(self, budget: int, history: BOResult | None = None) -> BOResult:
        """Evaluate ``f`` up to ``budget`` times (Sobol design, then BO batches).

        Parameters
        ----------
        budget : int
            Total number of evaluations, including those in ``history``.
        history : BOResult, optional
            Earlier evaluations (e.g. ``err.result`` of a :class:`BOError`) to resume from;
            they are not re-evaluated.

        Returns
        -------
        BOResult
            Every evaluation, the best-so-far curve and timings.
        """
        budget = _check_int("budget", budget, self.n_init)
        d = self.bounds.shape[1]
        seed = (int(torch.randint(2**20, (1,))) if self.random_state is None
                else int(self.random_state))
        sobol = SobolEngine(d, scramble=True, seed=seed)
        empty = torch.empty(0, d, dtype=torch.float64)
        state: dict[str, Any] = {"U": empty, "Y": torch.empty(0, dtype=torch.float64),
                                 "U_failed": empty, "fit": [], "acq": []}
        if history is not None:
            if not isinstance(history, BOResult):
                raise TypeError(f"history: expected a BOResult (e.g. err.result), got "
                                f"{type(history).__name__}")
            to_unit = lambda X: normalize(  # noqa: E731
                torch.as_tensor(X, dtype=torch.float64).reshape(-1, d), self.bounds)
            state.update(U=to_unit(history.X), Y=history.Y.to(torch.float64),
                         U_failed=to_unit(history.X_failed), fit=list(history.fit_seconds),
                         acq=list(history.acq_seconds))
            if state["Y"].shape[0] != state["U"].shape[0]:
                raise ValueError("history: X and Y have different numbers of rows")
        done = state["U"].shape[0] + state["U_failed"].shape[0]
        if done < self.n_init:
            sobol.fast_forward(done)
            self._evaluate(sobol.draw(self.n_init - done, dtype=torch.float64), state)
        else:
            sobol.fast_forward(self.n_init)
        if state["Y"].shape[0] < 2:
            raise BOError(f"f: only {state['Y'].shape[0]} finite values in the initial design; "
                          "increase n_init", self._result(state))
        m = state["Y"].shape[1] - self.n_constraints
        if m < 1 or (m > 1) != (self.ref_point is not None):
            raise ValueError(f"f, ref_point: f returned {state['Y'].shape[1]} columns with "
                             f"n_constraints={self.n_constraints}; several objectives need a "
                             "ref_point and one objective must not have one")
        # botorch maximizes: the surrogate models -f on the minimization scale (and -c).
        sign = torch.ones(state["Y"].shape[1], dtype=torch.float64)
        sign[:m] = 1.0 if self.maximize else -1.0
        sign[m:] = -1.0
        unit = torch.stack([torch.zeros(d), torch.ones(d)]).double()
        n_done = state["U"].shape[0] + state["U_failed"].shape[0]
        bar = tqdm(total=budget, initial=min(n_done, budget), disable=not self.progress,
                   desc=f"BO ({self.surrogate if isinstance(self.surrogate, str) else 'custom'})")
        it = len(state["fit"])
        try:
            while n_done < budget:
                q = min(self.q, budget - n_done)
                start = time.perf_counter()
                U, Yt = state["U"], sign * state["Y"]
                if self.surrogate == "random":
                    cand = sobol.draw(q, dtype=torch.float64)
                    fit_time = 0.0
                else:
                    model = fit_surrogate(self.surrogate, U, Yt, random_state=seed * 1000 + it,
                                          **self.surrogate_options)
                    fit_time = time.perf_counter() - start
                    start = time.perf_counter()
                    acqf = self._acquisition(model, U, Yt, m, seed * 1000 + it)
                    with torch.random.fork_rng():
                        torch.manual_seed(seed * 1000 + it)
                        cand, _ = optimize_acqf(acqf, bounds=unit, q=q,
                                                num_restarts=self.num_restarts,
                                                raw_samples=self.raw_samples, sequential=True,
                                                options=self.acq_options)
                acq_time = time.perf_counter() - start
                self._evaluate(cand.detach(), state)
                # Timings are recorded with their batch, so a resumed run re-seeds iteration
                # `it` exactly as an uninterrupted one would.
                state["fit"].append(fit_time)
                state["acq"].append(acq_time)
                n_done += q
                bar.update(q)
                it += 1
        finally:
            bar.close()
        return self._result(state)


def minimize(f: Callable[[Tensor], Tensor], bounds: Tensor, *,
             surrogate: str | Callable[..., Model] = "gp", acquisition: str = "qlogei",
             n_init: int = 10, budget: int = 50, q: int = 1, random_state: int | None = None,
             history: BOResult | None = None, **kwargs: Any) -> BOResult:
    """Minimize ``f`` over the box ``bounds`` by Bayesian optimization.

    A functional shortcut for ``BayesianOptimizer(f, bounds, ...).run(budget, history)``; see
    :class:`BayesianOptimizer` for every argument (``maximize``, ``on_nan``, ``executor``)
    and :meth:`BayesianOptimizer.run` for ``budget`` and ``history``.

    Parameters
    ----------
    f : callable
        ``f(X)`` for ``n x d`` inputs returns ``n`` values or ``n x (m + c)``: ``m``
        objectives then ``c`` constraint values (feasible when ``<= 0``).
    bounds : Tensor of shape (2, d)
        Lower and upper bounds of the box.
    surrogate : str or callable, default="gp"
        ``"gp"``, a key of :data:`SURROGATES`, ``"random"`` (Sobol search) or a callable
        ``(train_X, train_Y, random_state=...) -> Model`` (fitted).
    acquisition : str, default="qlogei"
        ``"qlogei"``, ``"qucb"``, ``"qlognei"`` or ``"qlognehvi"`` (several objectives; chosen
        automatically when ``ref_point`` is given).
    n_init : int, default=10
        Sobol initial points.
    budget : int, default=50
        Total number of evaluations, including those in ``history``.
    q : int, default=1
        Candidates per iteration (sequential greedy).
    random_state : int or None, default=None
        Seed of the Sobol design, base samples, surrogates and restarts.
    history : BOResult, optional
        Earlier evaluations to resume from (not re-evaluated).
    **kwargs
        The other keyword arguments of :class:`BayesianOptimizer`: ``n_constraints`` (number
        of trailing constraint columns), ``ref_point`` (for several objectives),
        ``num_restarts`` and ``raw_samples`` (``optimize_acqf`` strength), ``mc_samples``,
        ``beta`` (qUCB), ``acq_options``, ``surrogate_options``, ``progress`` (tqdm bar),
        ``maximize``, ``on_nan`` (``"raise"`` or ``"skip"``) and ``executor``.

    Returns
    -------
    BOResult
        Evaluated points, values, best-so-far curve and timings.

    Raises
    ------
    BOError
        When ``f`` raises or (``on_nan="raise"``) returns NaN/inf; ``err.result`` holds every
        evaluation so far, to resume with ``minimize(..., history=err.result)``.
    """
    return BayesianOptimizer(f, bounds, surrogate=surrogate, acquisition=acquisition,
                             n_init=n_init, q=q, random_state=random_state,
                             **kwargs).run(budget, history)
