"""Kernel-domain Sinkhorn with absorption: the warm-up of Sinkhorn-Newton-Sparse.

The entropic plan is written ``P = diag(u) G diag(v)`` with the *stabilized kernel*
``G_ij = exp((f_i + g_j - M_ij) / reg)`` built from absorbed dual potentials ``f, g``
(Schmitzer, "Stabilized sparse scaling algorithms for entropy regularized transport problems",
SIAM J. Sci. Comput. 41(3), 2019, Sec. 3.1). Sinkhorn's updates (Cuturi, NeurIPS 2013)

    u <- a / (G v),        v <- b / (G^T u)                                      (1)

are then two matrix-vector products, about 15x cheaper than the log-domain iteration that
needs a log-sum-exp over the whole matrix. Whenever a scaling leaves ``[e^-tau, e^tau]``
its logarithm is absorbed into ``f, g`` and ``G`` is rebuilt with one ``exp``, so neither
the scalings overflow nor a row of the kernel underflows as the potentials move: a kernel
entry lost to underflow at absorption is below ``e^(2 tau) * 1e-308`` of mass afterwards.

The first kernel is built from the cost reduced by its row minima and then its column minima
(a dual-feasible start), so every row and column of ``G`` holds an entry equal to one however
small ``reg`` is (when ``(max M - min M) / reg <= 600`` no entry can underflow and the kernel
is simply ``exp((min M - M) / reg)``).

The cost may be a numpy array (the updates then run in a compiled loop) or a torch tensor on
any device (CPU or CUDA): the kernel, scalings and potentials are then tensors on that device,
updated by torch ops, and only a few scalars per iteration are read back (the error and the
scalings' range).

For epsilon-scaling (Schmitzer, Sec. 3.2: a decreasing schedule of ``reg`` with warm-started
potentials) :meth:`StabilizedKernel.set_reg` changes ``reg`` keeping ``g`` and replacing ``f``
by its soft c-transform ``f_i = reg log a_i - reg log sum_j exp((g_j - M_ij) / reg)``, the
log-domain row update: the new kernel has rows summing to ``a`` exactly, so no row underflows
however much smaller the new ``reg`` is.

Examples
--------
>>> import numpy as np
>>> from bayesparse.optim.stabilized_sinkhorn import StabilizedKernel
>>> M = np.array([[0.0, 1.0], [1.0, 0.0]])
>>> a = b = np.array([0.5, 0.5])
>>> k = StabilizedKernel(M, reg=0.1)
>>> err = k.sinkhorn(a, b, n_iter=50, tol=1e-12)
>>> bool(err[-1] < 1e-12), np.round(k.plan(), 4).tolist()
(True, [[0.5, 0.0], [0.0, 0.5]])
>>> import torch
>>> t = StabilizedKernel(torch.tensor(M), reg=0.1)
>>> err = t.sinkhorn(torch.tensor(a), torch.tensor(b), n_iter=50, tol=1e-12)
>>> t.plan().round(decimals=4).tolist()
[[0.5, 0.0], [0.0, 0.5]]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from numba import njit

__all__ = ["NO_UNDERFLOW", "StabilizedKernel", "in_scaling_range"]

#: absorb a scaling into the potentials once it leaves [exp(-TAU), exp(TAU)]
TAU = 100.0
_HI = float(np.exp(TAU))
_LO = float(np.exp(-TAU))
#: cost range / reg below which ``exp(-M / reg)`` (shifted by min M) stays a normal float
NO_UNDERFLOW = 600.0


class StabilizedKernel:
    """The entropic plan ``P = diag(u) G diag(v)`` with ``G = exp((f + g - M) / reg)``.

    Parameters
    ----------
    M : ndarray or Tensor, shape ``n x m``
        Cost matrix (float64, finite); a tensor keeps every array on its device.
    reg : float
        Entropic regularization (> 0).
    bounds : (float, float), optional
        ``(M.min(), M.max())`` if already known.

    Attributes
    ----------
    f, g : ndarray or Tensor
        Absorbed dual potentials (cost units).
    G : ndarray or Tensor, shape ``n x m``
        Stabilized kernel.
    u, v : ndarray or Tensor
        Scalings; the full potentials are ``f + reg log u`` and ``g + reg log v``.
    n_absorb : int
        Number of times the kernel was rebuilt.
    """

    def __init__(self, M: Any, reg: float, bounds: tuple[float, float] | None = None) -> None:
        xp = self._xp = torch if isinstance(M, torch.Tensor) else np
        self.M = M
        self.reg = float(reg)
        self.u = xp.ones_like(M[:, 0])
        self.v = xp.ones_like(M[0])
        self.n_absorb = 0
        self._work: Any = None
        #: ``(u, v, G v, G^T u)`` of the last Sinkhorn iterate, for :meth:`marginals`
        self._products: tuple[Any, ...] | None = None
        lo, hi = (float(M.min()), float(M.max())) if bounds is None else bounds
        if (hi - lo) / self.reg <= NO_UNDERFLOW:
            # exp((min M - M) / reg) cannot underflow: three passes instead of six
            self.f = xp.full_like(M[:, 0], lo)
            self.g = xp.zeros_like(M[0])
            G = self.G = xp.subtract(lo, M)
            G *= 1.0 / self.reg
            xp.exp(G, out=G)
            return
        # the reduced cost is built in place in G's buffer (no n x m temporary)
        self.f = xp.amin(M, axis=1)
        G = self.G = xp.subtract(M, self.f[:, None])
        self.g = xp.amin(G, axis=0)
        G -= self.g[None, :]
        G *= -1.0 / self.reg
        xp.exp(G, out=G)

    def _rebuild(self) -> None:
        xp = self._xp
        G = xp.subtract(self.M, self.f[:, None], out=self.G)
        G -= self.g[None, :]
        G *= -1.0 / self.reg
        xp.exp(G, out=G)
        self.n_absorb += 1

    def set_reg(self, reg: float, a: np.ndarray) -> None:
        """Switch to regularization ``reg``, warm-started from the current potentials.

        ``g`` is kept and ``f`` set to the soft c-transform of ``g`` (rows of the plan sum to
        ``a``); the scalings restart at one. One ``exp`` over the ``n x m`` kernel.

        Parameters
        ----------
        reg : float
            New entropic regularization (> 0).
        a : ndarray or Tensor, shape ``n``
            Source weights, the row sums of the rebuilt plan.
        """
        xp = self._xp
        self.g = self.g + self.reg * xp.log(self.v)
        self.reg = float(reg)
        G = xp.subtract(self.g[None, :], self.M, out=self.G)
        G *= 1.0 / self.reg
        top = xp.amax(G, axis=1)
        G -= top[:, None]
        xp.exp(G, out=G)
        scale = a / G.sum(axis=1)
        G *= scale[:, None]
        self.f = self.reg * (xp.log(scale) - top)
        self.u = xp.ones_like(self.u)
        self.v = xp.ones_like(self.v)
        self.n_absorb += 1

    def absorb(self, force: bool = False) -> bool:
        """Move the scalings into the potentials if they left the safe range (or ``force``).

        Parameters
        ----------
        force : bool, default False
            Absorb even when ``u`` and ``v`` are inside ``(exp(-TAU), exp(TAU))``.

        Returns
        -------
        bool
            Whether the kernel was rebuilt.
        """
        u, v, xp = self.u, self.v, self._xp
        if not force and in_scaling_range(u, v):
            return False
        self.f = self.f + self.reg * xp.log(u)
        self.g = self.g + self.reg * xp.log(v)
        self.u = xp.ones_like(u)
        self.v = xp.ones_like(v)
        self._rebuild()
        return True

    def potentials(self) -> tuple[Any, Any]:
        """Dual potentials ``(alpha, beta)`` with ``P = exp((alpha_i + beta_j - M_ij) / reg)``."""
        xp = self._xp
        return self.f + self.reg * xp.log(self.u), self.g + self.reg * xp.log(self.v)

    def plan(self, overwrite: bool = False) -> Any:
        """The current plan ``diag(u) G diag(v)`` as a dense array.

        Parameters
        ----------
        overwrite : bool, default False
            Write the plan into the kernel's own buffer instead of a new array (saves
            allocating and page-faulting ``n x m`` floats; the kernel is unusable after).

        Returns
        -------
        ndarray or Tensor, shape ``n x m``
        """
        if overwrite:
            P = self._xp.multiply(self.G, self.v[None, :], out=self.G)
            self.G = P[:0, :0]
        else:
            P = self.G * self.v[None, :]
        P *= self.u[:, None]
        return P

    def scaled_columns(self) -> Any:
        """``G diag(v)`` (so that ``P = diag(u) G diag(v)``) in a work buffer reused by the
        next call: it saves allocating, and page-faulting, an ``n x m`` array per call."""
        if self._work is None:
            self._work = self._xp.empty_like(self.G)
        return self._xp.multiply(self.G, self.v[None, :], out=self._work)

    def marginals(self) -> tuple[Any, Any]:
        """Row and column sums of the current plan (two matrix-vector products, or none when
        the scalings are those :meth:`sinkhorn` stopped at: it computed both products)."""
        kept = self._products
        if kept is not None and kept[0] is self.u and kept[1] is self.v:
            return self.u * kept[2], self.v * kept[3]
        return self.u * (self.G @ self.v), self.v * (self.G.T @ self.u)

    def sinkhorn(
        self,
        a: Any,
        b: Any,
        n_iter: int,
        tol: float,
        stop: Callable[[list[float]], bool] | None = None,
        times: list[float] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> list[float]:
        """Run up to ``n_iter`` Sinkhorn iterations (1); return the L1 error after each.

        The state is left at the last iterate measured, so ``errs[-1]`` is its error.

        Each iteration ends on a ``v`` update, so the column marginal is exact and the error
        ``||P 1 - a||_1`` on both marginals is read off the product ``G v`` the next ``u``
        update needs anyway: checking costs nothing. ``stop(errors)`` may end the loop early
        (the warm-up's switch rule); ``times`` receives ``clock()`` after each iteration.

        Parameters
        ----------
        a : ndarray or Tensor, shape ``n``
            Source weights.
        b : ndarray or Tensor, shape ``m``
            Target weights.
        n_iter : int
            Maximum number of iterations.
        tol : float
            Stop when the L1 marginal error is below ``tol``.
        stop : callable, optional
            ``stop(errors) -> bool`` on the errors so far; ``True`` ends the loop.
        times : list of float, optional
            Appended ``clock()`` after each iteration (with ``clock``).
        clock : callable, optional
            Time source, e.g. ``time.perf_counter``.

        Returns
        -------
        list of float
            ``||P 1 - a||_1`` after each iteration.
        """
        G, errs = self.G, []
        step = _residual_and_ratio if self._xp is np else _residual_and_ratio_torch
        Ktu = G.T @ self.u
        self.v = b / Ktu
        for i in range(n_iter):
            Kv = G @ self.v
            # the error of the current u and the next u from one compiled pass (small
            # problems spend as much time in numpy's per-call overhead as in the products)
            err, u, u_lo, u_hi = step(self.u, Kv, a)
            errs.append(err)
            if times is not None and clock is not None:
                times.append(clock())
            if (err < tol or not np.isfinite(err) or i == n_iter - 1
                    or (stop is not None and stop(errs))):
                if Ktu is not None:
                    self._products = (self.u, self.v, Kv, Ktu)
                break
            self.u = u
            Ktu = G.T @ u
            _, self.v, v_lo, v_hi = step(self.v, Ktu, b)
            if not _in_range(u_lo, u_hi, v_lo, v_hi):
                self.absorb(force=True)
                G = self.G
                Ktu = None  # of the scalings before the absorption
        return errs


def in_scaling_range(u: Any, v: Any) -> bool:
    """Whether scalings ``u`` and ``v`` (arrays or tensors, any shape) lie inside
    ``(exp(-TAU), exp(TAU))``, where the kernel needs no absorption."""
    return _in_range(float(u.min()), float(u.max()), float(v.min()), float(v.max()))


def _in_range(u_lo: float, u_hi: float, v_lo: float, v_hi: float) -> bool:
    """Whether both scalings lie inside ``(exp(-TAU), exp(TAU))``."""
    return _LO < u_lo and u_hi < _HI and _LO < v_lo and v_hi < _HI


def _residual_and_ratio_torch(
    x: torch.Tensor, y: torch.Tensor, w: torch.Tensor
) -> tuple[float, torch.Tensor, float, float]:
    """:func:`_residual_and_ratio` in torch ops on the tensors' device (one read-back)."""
    out = w / y
    err, lo, hi = torch.stack(((x * y - w).abs().sum(), out.amin(), out.amax())).tolist()
    return err, out, lo, hi


@njit(cache=True)
def _residual_and_ratio(x, y, w):  # noqa: ANN001, ANN202
    """``||x y - w||_1`` and the Sinkhorn update ``w / y`` (a new array) with its range."""
    err = 0.0
    lo, hi = np.inf, -np.inf
    out = np.empty_like(y)
    for i in range(y.size):
        err += abs(x[i] * y[i] - w[i])
        out[i] = w[i] / y[i]
        lo = min(lo, out[i])
        hi = max(hi, out[i])
    return err, out, lo, hi
