"""Linearized Laplace approximation for tanh MLPs with diagonal or KFAC Hessians.

MacKay, "A Practical Bayesian Framework for Backpropagation Networks", Neural Comput. 1992;
Ritter, Botev & Barber, "A Scalable Laplace Approximation for Neural Networks", ICLR 2018
(Kronecker-factored curvature); Immer, Korzepa & Bauer, AISTATS 2021 (linearized predictive);
Daxberger et al., "Laplace Redux", NeurIPS 2021 (last-layer Laplace, marginal-likelihood prior
precision). Around a MAP estimate ``theta*`` the posterior is ``N(theta*, (H + delta I)^{-1})``
with ``H`` the generalized Gauss-Newton matrix of the Gaussian likelihood with noise variance
``sigma^2``. For layer ``l`` with bias-augmented input ``a~`` and output gradient
``g = df/ds_l``, the Jacobian is ``J_l(x) = a~(x) (x) g(x)`` and

* ``diag``: ``H_l = diag(sum_n (a~_n (x) g_n)^2) / sigma^2``;
* ``kfac``: ``H_l ~= (sum_n a~ a~^T) (x) (sum_n g g^T / N) / sigma^2`` (exact for the last
  layer of a one-output network), inverted with the prior through eigendecompositions
  ``A = Q_A L_A Q_A^T``, ``G = Q_G L_G Q_G^T``: ``(H_l + delta I)^{-1} =
  (Q_A (x) Q_G) diag(1 / (l_A l_G / sigma^2 + delta)) (Q_A (x) Q_G)^T``.

Blocks of different layers are independent (block-diagonal ``H``). ``subset="last_layer"``
keeps only the output layer. The linearized predictive is Gaussian,
``f(X) ~ N(f_theta*(X), J(X) Sigma J(X)^T)``. ``delta`` and ``sigma^2`` maximize the
Laplace log marginal likelihood (MacKay 1992, eq. 4.4; Immer et al. 2021, eq. 5)

.. math::

    \\log p(y) \\approx \\log N(y; f_{\\theta^*}(X), \\sigma^2 I)
        - \\sum_l \\Big[\\tfrac{\\delta_l}2 \\lVert\\theta^*_l\\rVert^2
        - \\tfrac{P_l}2 \\log \\delta_l\\Big] - \\tfrac12 \\log\\det(H + D),

with ``D = delta I`` (one prior precision) or ``D = diag(delta_l I_{P_l})`` (one per layer,
``per_layer=True``; Immer et al. 2021, Sec. 4: the layers of a network differ in scale, and one
shared precision fitted to all of them leaves some layers' posteriors far too wide).

Examples
--------
>>> import torch
>>> from bayesparse.models.surrogates.mlp import MLP
>>> X = torch.randn(30, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
>>> Y = X @ torch.tensor([[1.0], [-2.0]], dtype=torch.float64)
>>> net = MLP(2, ())
>>> theta = torch.tensor([1.0, -2.0, 0.0], dtype=torch.float64)
>>> fit = fit_laplace(net, theta, X, Y, prior_precision=1.0, noise_var=0.1)
>>> mean, cov = fit.predict(net, theta, X[:4])
>>> mean.shape, cov.shape
(torch.Size([4]), torch.Size([4, 4]))
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import Tensor

if TYPE_CHECKING:
    from bayesparse.models.surrogates.mlp import MLP

_SUBSETS = ("last_layer", "all")
_HESSIANS = ("kfac", "diag", "full")


def jacobian_factors(net: MLP, theta: Tensor,
                     X: Tensor) -> tuple[Tensor, list[tuple[Tensor, Tensor]]]:
    """Output and per-layer Jacobian factors of a one-output MLP at ``theta`` (``P``).

    Returns ``f`` (``batch x n``) and, per layer, ``(a~, g)``: the bias-augmented layer input
    (``batch x n x (in + 1)``) and the output's gradient with respect to the layer's
    pre-activation (``batch x n x out``); ``df/dW_l = a~ (x) g``. Differentiable in ``X``.
    """
    params = [(w[0], b[0, 0]) for w, b in net.unflatten(theta.unsqueeze(0))]
    ones = torch.ones(*X.shape[:-1], 1, dtype=X.dtype)
    inputs, derivs, h = [], [], X
    for i, (w, b) in enumerate(params):
        inputs.append(torch.cat([h, ones], -1))
        s = h @ w + b
        if i < len(params) - 1:
            h = torch.tanh(s)
            derivs.append(1 - h.pow(2))
    f = s[..., 0]
    g = torch.ones_like(s)
    grads = [g]
    for (w, _), d in zip(reversed(params[1:]), reversed(derivs)):
        g = (g @ w.T) * d
        grads.append(g)
    return f, list(zip(inputs, reversed(grads)))


def layer_jacobian(a: Tensor, g: Tensor) -> Tensor:
    """``df/dW_l`` flattened (``... x n x (in + 1) * out``) from the factors ``a~ (x) g``."""
    return (a.unsqueeze(-1) * g.unsqueeze(-2)).flatten(-2)


@dataclass
class LaplaceFit:
    """A fitted Laplace approximation: curvature factors and hyper-parameters.

    Attributes
    ----------
    subset, hessian : str
        ``"last_layer"``/``"all"`` and ``"kfac"``/``"diag"``/``"full"``.
    factors : list of tuple of Tensor
        Per included layer: ``(Q_A, l_A, Q_G, l_G)`` (kfac), ``(h,)`` (diag, ``in+1 x out``)
        or ``(J_l,)`` (full: the training Jacobian, ``n x P_l``).
    prior_precision : float or list of float
        ``delta``, or one ``delta_l`` per included layer (``per_layer=True``).
    noise_var : float
        ``sigma^2``.
    log_marglik : float
        Laplace log marginal likelihood at the returned hyper-parameters.
    """

    subset: str
    hessian: str
    factors: list[tuple[Tensor, ...]]
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
        """Posterior precision eigenvalues per layer (``in+1 x out``); one or per-layer delta."""
        out = []
        for fac, d in zip(self.factors, self._layer_deltas(delta)):
            raw = fac[1][:, None] * fac[3][None, :] if self.hessian == "kfac" else fac[0]
            out.append(raw / noise_var + d)
        return out

    def predict(self, net: MLP, theta: Tensor, X: Tensor) -> tuple[Tensor, Tensor]:
        """Linearized predictive mean (``batch x n``) and covariance (``batch x n x n``)."""
        f, layers = jacobian_factors(net, theta, X)
        if self.subset == "last_layer":
            layers = layers[-1:]
        s2 = torch.tensor(self.noise_var, dtype=X.dtype)
        delta = torch.tensor(self.prior_precision, dtype=X.dtype)
        if self.hessian == "full":
            return f, self._predict_full(layers, s2, delta)
        eig = self._eig_scale(s2, delta)
        cov = torch.zeros(*f.shape, f.shape[-1], dtype=X.dtype)
        for (a, g), fac, lam in zip(layers, self.factors, eig):
            if self.hessian == "kfac":
                a, g = a @ fac[0], g @ fac[2]
            z = layer_jacobian(a, g)
            cov = cov + (z / lam.flatten().to(X)) @ z.transpose(-1, -2)
        return f, cov

    def _predict_full(self, layers: list[tuple[Tensor, Tensor]], s2: Tensor,
                      delta: Tensor) -> Tensor:
        # Woodbury on (J^T J / s2 + D)^{-1}: the covariance is the GP posterior of the kernel
        # J(x) D^{-1} J(x')^T given noisy training values, so only n x n systems are solved.
        k_qq, k_qn = 0.0, 0.0
        for (a, g), fac, d in zip(layers, self.factors, self._layer_deltas(delta)):
            z = layer_jacobian(a, g)
            zd = z / d
            k_qq = k_qq + zd @ z.transpose(-1, -2)
            k_qn = k_qn + zd @ fac[0].T.to(z)
        k_nn = self._train_gram(delta).to(k_qn)
        L = torch.linalg.cholesky(k_nn + s2 * torch.eye(k_nn.shape[0], dtype=k_nn.dtype))
        V = torch.linalg.solve_triangular(L, k_qn.transpose(-1, -2), upper=False)
        return k_qq - V.transpose(-1, -2) @ V


def fit_laplace(net: MLP, theta: Tensor, X: Tensor, Y: Tensor, *, subset: str = "all",
                hessian: str = "kfac", prior_precision: float | Sequence[float] | None = None,
                noise_var: float | None = None, per_layer: bool = False,
                steps: int = 300) -> LaplaceFit:
    """Fit a linearized Laplace approximation around the MAP ``theta`` of a one-output MLP.

    Parameters
    ----------
    net : MLP
        Network with ``d_out == 1``.
    theta : Tensor
        ``P`` MAP parameters.
    X, Y : Tensor
        ``n x d`` inputs and ``n x 1`` targets.
    subset : {"all", "last_layer"}, default="all"
        Which weights are Bayesian.
    hessian : {"kfac", "diag"}, default="kfac"
        Curvature structure.
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
    if net.d_out != 1 or Y.ndim != 2 or Y.shape[-1] != 1:
        raise ValueError("net, Y: the Laplace surrogate models one output; Y must be n x 1")
    if isinstance(prior_precision, Sequence) and not per_layer:
        raise ValueError("prior_precision: a sequence needs per_layer=True; pass one float")
    for name, v in (("prior_precision", prior_precision), ("noise_var", noise_var)):
        if v is not None and min(v if isinstance(v, Sequence) else [v]) <= 0:
            raise ValueError(f"{name}: expected > 0, got {v}")
    with torch.no_grad():
        f, layers = jacobian_factors(net, theta, X)
    n_layers = len(layers)
    if subset == "last_layer":
        layers = layers[-1:]
    factors: list[tuple[Tensor, ...]] = []
    for a, g in layers:
        if hessian == "full":
            factors.append((layer_jacobian(a, g),))
        elif hessian == "kfac":
            la, qa = torch.linalg.eigh(a.T @ a)
            lg, qg = torch.linalg.eigh(g.T @ g / X.shape[0])
            factors.append((qa, la.clamp_min(0), qg, lg.clamp_min(0)))
        else:
            factors.append(((a.pow(2).T @ g.pow(2)),))
    params = net.unflatten(theta.unsqueeze(0))
    if subset == "last_layer":
        params = params[n_layers - 1:]
    sq_norm = torch.tensor([float(w.pow(2).sum() + b.pow(2).sum()) for w, b in params],
                           dtype=X.dtype)
    n_par = torch.tensor([w[0].numel() + b[0].numel() for w, b in params], dtype=X.dtype)
    if not per_layer:
        sq_norm, n_par = sq_norm.sum(), n_par.sum()
    rss, n = float((Y[:, 0] - f).pow(2).sum()), X.shape[0]
    fit = LaplaceFit(subset, hessian, factors, 1.0, noise_var or 1.0, 0.0)

    def log_marglik(log_delta: Tensor, log_noise: Tensor) -> Tensor:
        delta, s2 = log_delta.exp(), log_noise.exp()
        logdet = fit._logdet_precision(s2, delta)
        return (-0.5 * n * (math.log(2 * math.pi) + log_noise) - 0.5 * rss / s2
                - 0.5 * (delta * sq_norm).sum() + 0.5 * (n_par * log_delta).sum()
                - 0.5 * logdet)

    start = torch.tensor(1.0 if prior_precision is None else prior_precision, dtype=X.dtype)
    if per_layer and start.ndim == 0:
        start = start.expand(len(params)).clone()
    if start.shape != sq_norm.shape:
        raise ValueError(f"prior_precision: expected {len(params)} values (one per included "
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
