"""Linearized Laplace approximation of any network, with full, diagonal or KFAC curvature.

Around a MAP estimate ``theta*`` of a one-output network (a :class:`FunctionalModel`: any
``nn.Module`` and the subset of its parameters that is random) the posterior is
``N(theta*, (H + D)^{-1})`` with ``H = J^T J / sigma^2`` the generalized Gauss-Newton matrix of
the Gaussian likelihood (noise variance ``sigma^2``), ``J = df/dtheta`` at the training inputs
(``torch.func.jacrev``), and ``D`` the prior precision. Curvature structures:

* ``full``: the exact GGN, handled in function space: the linearized predictive is the GP
  posterior of the kernel ``k(x, x') = J(x) D^{-1} J(x')^T`` given the noisy training values,
  so only ``n x n`` systems are solved (Woodbury);
* ``diag``: ``H = diag(sum_n J_n^2) / sigma^2``;
* ``kfac``: per linear layer ``l`` (weight ``out x in`` and bias), with bias-augmented layer
  input ``a~`` and output gradient ``g = df/ds_l`` (the Jacobian of the bias),
  ``H_l ~= (sum_n a~ a~^T) (x) (sum_n g g^T / N) / sigma^2`` (exact for the last layer of a
  one-output network), inverted with the prior through eigendecompositions
  ``A = Q_A L_A Q_A^T``, ``G = Q_G L_G Q_G^T``: ``(H_l + delta I)^{-1} =
  (Q_A (x) Q_G) diag(1 / (l_A l_G / sigma^2 + delta)) (Q_A (x) Q_G)^T``.

Blocks of different layers (the model's ``groups``) are independent. ``subset="last_layer"``
keeps only the last group. The linearized predictive is Gaussian,
``f(X) ~ N(f_theta*(X), J(X) Sigma J(X)^T)``. ``delta`` and ``sigma^2`` maximize the
Laplace log marginal likelihood (MacKay 1992, eq. 4.4; Immer et al. 2021, eq. 5)

.. math::

    \\log p(y) \\approx \\log N(y; f_{\\theta^*}(X), \\sigma^2 I)
        - \\sum_l \\Big[\\tfrac{\\delta_l}2 \\lVert\\theta^*_l\\rVert^2
        - \\tfrac{P_l}2 \\log \\delta_l\\Big] - \\tfrac12 \\log\\det(H + D),

with ``D = delta I`` (one prior precision) or ``D = diag(delta_l I_{P_l})`` (one per layer,
``per_layer=True``; Immer et al. 2021, Sec. 4).

Examples
--------
>>> import torch
>>> from bayesparse.inference.functional import FunctionalModel
>>> X = torch.randn(30, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
>>> Y = X @ torch.tensor([[1.0], [-2.0]], dtype=torch.float64)
>>> model = FunctionalModel(torch.nn.Linear(2, 1).double(), {"weight": 1.0, "bias": 1.0})
>>> theta = torch.tensor([1.0, -2.0, 0.0], dtype=torch.float64)
>>> fit = fit_laplace(model, theta, X, Y, prior_precision=1.0, noise_var=0.1)
>>> mean, cov = fit.predict(model, theta, X[:4])
>>> mean.shape, cov.shape
(torch.Size([4]), torch.Size([4, 4]))

References
----------
MacKay, "A Practical Bayesian Framework for Backpropagation Networks", Neural Comput. 1992.
Ritter, Botev & Barber, "A Scalable Laplace Approximation for Neural Networks", ICLR 2018.
Immer, Korzepa & Bauer, "Improving predictions of Bayesian neural nets via local
linearization", AISTATS 2021. Daxberger et al., "Laplace Redux -- Effortless Bayesian Deep
Learning", NeurIPS 2021.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from bayesparse.inference.functional import FunctionalModel

_SUBSETS = ("last_layer", "all")
_HESSIANS = ("kfac", "diag", "full")


def _kfac_layout(model: FunctionalModel, prefix: str) -> tuple[int, int]:
    """``(out, in)`` of a linear layer whose random parameters are a weight and a bias."""
    shapes = [s for name, s in zip(model.names, model.shapes)
              if name.rpartition(".")[0] == prefix]
    if len(shapes) != 2 or len(shapes[0]) != 2 or tuple(shapes[1]) != (shapes[0][0],):
        raise ValueError(f"hessian='kfac': layer {prefix!r} must have a random out x in weight "
                         f"and an out bias, got shapes {[tuple(s) for s in shapes]}; use "
                         "hessian='full' or 'diag'")
    return int(shapes[0][0]), int(shapes[0][1])


def _layer_matrix(J: Tensor, out: int, inp: int) -> Tensor:
    """A linear layer's Jacobian ``... x (out * in + out)`` as ``... x out x (in + 1)``."""
    return torch.cat([J[..., :out * inp].reshape(*J.shape[:-1], out, inp),
                      J[..., out * inp:].unsqueeze(-1)], -1)


@dataclass
class LaplaceFit:
    """A fitted Laplace approximation: curvature factors and hyper-parameters.

    Attributes
    ----------
    subset, hessian : str
        ``"last_layer"``/``"all"`` and ``"kfac"``/``"diag"``/``"full"``.
    blocks : list of slice
        The included layers' slices of the parameter vector.
    factors : list of tuple of Tensor
        Per included layer: ``(Q_A, l_A, Q_G, l_G)`` (kfac), ``(h,)`` (diag: the GGN
        diagonal times ``sigma^2``) or ``(J_l,)`` (full: the training Jacobian, ``n x P_l``).
    layouts : list of tuple of int
        Per included layer ``(out, in)`` (kfac only; empty otherwise).
    prior_precision : float or list of float
        ``delta``, or one ``delta_l`` per included layer (``per_layer=True``).
    noise_var : float
        ``sigma^2``.
    log_marglik : float
        Laplace log marginal likelihood at the returned hyper-parameters.
    """

    subset: str
    hessian: str
    blocks: list[slice]
    factors: list[tuple[Tensor, ...]]
    layouts: list[tuple[int, int]]
    prior_precision: float | list[float]
    noise_var: float
    log_marglik: float

    def _layer_deltas(self, delta: Tensor) -> Tensor:
        """One prior precision per included layer, from a shared or per-layer ``delta``."""
        return delta.expand(len(self.factors))

    def _train_gram(self, delta: Tensor) -> Tensor:
        """``J D^{-1} J^T`` over the training points (full GGN)."""
        return sum(fac[0] @ fac[0].T / d
                   for fac, d in zip(self.factors, self._layer_deltas(delta)))

    def _logdet_precision(self, noise_var: Tensor, delta: Tensor) -> Tensor:
        """``log det(H + D)`` of the posterior precision."""
        if self.hessian != "full":
            return sum(lam.log().sum() for lam in self._eig_scale(noise_var, delta))
        # Matrix determinant lemma: det(J^T J / s2 + D) = det(D) det(I_n + J D^{-1} J^T / s2).
        sizes = torch.tensor([fac[0].shape[-1] for fac in self.factors], dtype=delta.dtype)
        logdet_d = (sizes * self._layer_deltas(delta).log()).sum()
        eye = torch.eye(self.factors[0][0].shape[0], dtype=delta.dtype)
        return logdet_d + torch.logdet(eye + self._train_gram(delta) / noise_var)

    def _eig_scale(self, noise_var: Tensor, delta: Tensor) -> list[Tensor]:
        """Posterior precision eigenvalues per layer (kfac: ``out x (in+1)``; diag: ``P_l``)."""
        out = []
        for fac, d in zip(self.factors, self._layer_deltas(delta)):
            raw = fac[3][:, None] * fac[1][None, :] if self.hessian == "kfac" else fac[0]
            out.append(raw / noise_var + d)
        return out

    def predict(self, model: FunctionalModel, theta: Tensor, X: Tensor) -> tuple[Tensor, Tensor]:
        """Linearized predictive mean (``batch x n``) and covariance (``batch x n x n``).

        Parameters
        ----------
        model : FunctionalModel
            The network the approximation was fitted on.
        theta : Tensor
            The ``P`` MAP parameters.
        X : Tensor
            ``batch x n x d`` inputs (differentiable).

        Returns
        -------
        tuple of Tensor
            Mean and covariance of ``f(X)``.
        """
        f, J = model.jacobian(theta, X)
        layers = [J[..., block] for block in self.blocks]
        s2 = torch.tensor(self.noise_var, dtype=X.dtype)
        delta = torch.tensor(self.prior_precision, dtype=X.dtype)
        if self.hessian == "full":
            return f, self._predict_full(layers, s2, delta)
        cov = torch.zeros(*f.shape, f.shape[-1], dtype=X.dtype)
        for i, (z, fac, lam) in enumerate(zip(layers, self.factors, self._eig_scale(s2, delta))):
            if self.hessian == "kfac":
                M = _layer_matrix(z, *self.layouts[i])
                z = (fac[2].T.to(M) @ M @ fac[0].to(M)).flatten(-2)
            cov = cov + (z / lam.flatten().to(X)) @ z.transpose(-1, -2)
        return f, cov

    def _predict_full(self, layers: list[Tensor], s2: Tensor, delta: Tensor) -> Tensor:
        # Woodbury on (J^T J / s2 + D)^{-1}: the covariance is the GP posterior of the kernel
        # J(x) D^{-1} J(x')^T given noisy training values, so only n x n systems are solved.
        k_qq, k_qn = 0.0, 0.0
        for z, fac, d in zip(layers, self.factors, self._layer_deltas(delta)):
            zd = z / d
            k_qq = k_qq + zd @ z.transpose(-1, -2)
            k_qn = k_qn + zd @ fac[0].T.to(z)
        k_nn = self._train_gram(delta).to(k_qn)
        L = torch.linalg.cholesky(k_nn + s2 * torch.eye(k_nn.shape[0], dtype=k_nn.dtype))
        V = torch.linalg.solve_triangular(L, k_qn.transpose(-1, -2), upper=False)
        return k_qq - V.transpose(-1, -2) @ V


def fit_laplace(model: FunctionalModel, theta: Tensor, X: Tensor, Y: Tensor, *,
                subset: str = "all", hessian: str = "kfac",
                prior_precision: float | Sequence[float] | None = None,
                noise_var: float | None = None, per_layer: bool = False,
                steps: int = 300) -> LaplaceFit:
    """Fit a linearized Laplace approximation around the MAP ``theta`` of a one-output network.

    Parameters
    ----------
    model : FunctionalModel
        Network (one output) and its random parameters; ``model.groups`` are the layers.
    theta : Tensor
        ``P`` MAP parameters.
    X, Y : Tensor
        ``n x d`` inputs and ``n x 1`` targets.
    subset : {"all", "last_layer"}, default="all"
        Which layers are Bayesian (the last group of ``model.groups``, or all).
    hessian : {"kfac", "diag", "full"}, default="kfac"
        Curvature structure (``"kfac"`` needs linear layers: weight and bias).
    prior_precision, noise_var : float, optional
        Fixed ``delta`` / ``sigma^2``; each one left None is optimized by the marginal
        likelihood (Adam on its logarithm, ``steps`` steps). With ``per_layer=True`` a fixed
        ``prior_precision`` is every layer's value, or a sequence of one per included layer.
    per_layer : bool, default=False
        One prior precision per included layer instead of one for all.
    steps : int, default=300
        Adam steps of the hyper-parameter optimization.

    Returns
    -------
    LaplaceFit
    """
    if subset not in _SUBSETS:
        raise ValueError(f"subset: expected one of {_SUBSETS}, got {subset!r}")
    if hessian not in _HESSIANS:
        raise ValueError(f"hessian: expected one of {_HESSIANS}, got {hessian!r}")
    if Y.ndim != 2 or Y.shape[-1] != 1:
        raise ValueError("Y: the Laplace approximation models one output; Y must be n x 1")
    if isinstance(prior_precision, Sequence) and not per_layer:
        raise ValueError("prior_precision: a sequence needs per_layer=True; pass one float")
    for name, v in (("prior_precision", prior_precision), ("noise_var", noise_var)):
        if v is not None and min(v if isinstance(v, Sequence) else [v]) <= 0:
            raise ValueError(f"{name}: expected > 0, got {v}")
    with torch.no_grad():
        f, J = model.jacobian(theta, X)
    if f.shape != Y.shape[:1]:
        raise ValueError(f"model: expected one output per input row, got outputs of shape "
                         f"{tuple(f.shape)} for {X.shape[0]} rows")
    groups = list(model.groups.items())
    if subset == "last_layer":
        groups = groups[-1:]
    blocks = [block for _, block in groups]
    factors: list[tuple[Tensor, ...]] = []
    layouts: list[tuple[int, int]] = []
    for prefix, block in groups:
        # A fresh copy: matrix products on column slices of jacrev's output were measured
        # ~1000x slower than on a copy (torch 2.13, float64).
        Jl = J[:, block].clone()
        if hessian == "full":
            factors.append((Jl,))
        elif hessian == "diag":
            factors.append((Jl.pow(2).sum(0),))
        else:
            out, inp = _kfac_layout(model, prefix)
            layouts.append((out, inp))
            a = model.group_inputs(theta, X, prefix).to(X)
            a = torch.cat([a, torch.ones(a.shape[0], 1, dtype=a.dtype)], -1)
            g = Jl[:, out * inp:]
            la, qa = torch.linalg.eigh(a.T @ a)
            lg, qg = torch.linalg.eigh(g.T @ g / X.shape[0])
            factors.append((qa, la.clamp_min(0), qg, lg.clamp_min(0)))
    sq_norm = torch.stack([theta[block].pow(2).sum() for block in blocks]).to(X.dtype)
    n_par = torch.tensor([block.stop - block.start for block in blocks], dtype=X.dtype)
    if not per_layer:
        sq_norm, n_par = sq_norm.sum(), n_par.sum()
    rss, n = float((Y[:, 0] - f).pow(2).sum()), X.shape[0]
    fit = LaplaceFit(subset, hessian, blocks, factors, layouts, 1.0, noise_var or 1.0, 0.0)

    def log_marglik(log_delta: Tensor, log_noise: Tensor) -> Tensor:
        delta, s2 = log_delta.exp(), log_noise.exp()
        logdet = fit._logdet_precision(s2, delta)
        return (-0.5 * n * (math.log(2 * math.pi) + log_noise) - 0.5 * rss / s2
                - 0.5 * (delta * sq_norm).sum() + 0.5 * (n_par * log_delta).sum()
                - 0.5 * logdet)

    start = torch.tensor(1.0 if prior_precision is None else prior_precision, dtype=X.dtype)
    if per_layer and start.ndim == 0:
        start = start.expand(len(blocks)).clone()
    if start.shape != sq_norm.shape:
        raise ValueError(f"prior_precision: expected {len(blocks)} values (one per included "
                         f"layer), got {start.numel()}")
    log_delta = start.log().requires_grad_(prior_precision is None)
    log_noise = torch.tensor(math.log(fit.noise_var), dtype=X.dtype,
                             requires_grad=noise_var is None)
    free = [t for t in (log_delta, log_noise) if t.requires_grad]
    if free:
        opt = torch.optim.Adam(free, lr=0.1)
        for _ in range(steps):
            opt.zero_grad()
            (-log_marglik(log_delta, log_noise)).backward()
            opt.step()
    delta = log_delta.detach().exp()
    fit.prior_precision = delta.tolist() if per_layer else float(delta)
    fit.noise_var = float(log_noise.detach().exp())
    with torch.no_grad():
        fit.log_marglik = float(log_marglik(log_delta, log_noise))
    return fit
