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

For epsilon-scaling (Schmitzer, Sec. 3.2: a decreasing schedule of ``reg`` with warm-started
potentials) :meth:`StabilizedKernel.set_reg` changes ``reg`` keeping ``g`` and replacing ``f``
by its soft c-transform ``f_i = reg log a_i - reg log sum_j exp((g_j - M_ij) / reg)``, the
log-domain row update: the new kernel has rows summing to ``a`` exactly, so no row underflows
however much smaller the new ``reg`` is.

:class:`TorchStabilizedKernel` is the same kernel in torch ops on the cost's device (CPU or
CUDA), for callers whose data must stay there.

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
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from numba import njit

__all__ = ["StabilizedKernel", "TorchStabilizedKernel"]

#: absorb a scaling into the potentials once it leaves [exp(-TAU), exp(TAU)]
TAU = 100.0
_HI = float(np.exp(TAU))
_LO = float(np.exp(-TAU))
#: cost range / reg below which ``exp(-M / reg)`` (shifted by min M) stays a normal float
_NO_UNDERFLOW = 600.0


class StabilizedKernel:
    """The entropic plan ``P = diag(u) G diag(v)`` with ``G = exp((f + g - M) / reg)``.

    Parameters
    ----------
    M : ndarray, shape ``n x m``
        Cost matrix (float64, finite).
    reg : float
        Entropic regularization (> 0).
    bounds : (float, float), optional
        ``(M.min(), M.max())`` if already known.

    Attributes
    ----------
    f, g : ndarray
        Absorbed dual potentials (cost units).
    G : ndarray, shape ``n x m``
        Stabilized kernel.
    u, v : ndarray
        Scalings; the full potentials are ``f + reg log u`` and ``g + reg log v``.
    n_absorb : int
        Number of times the kernel was rebuilt.
    """

    def __init__(
        self, M: np.ndarray, reg: float, bounds: tuple[float, float] | None = None
    ) -> None:
        self.M = M
        self.reg = float(reg)
        self.u = np.ones(M.shape[0])
        self.v = np.ones(M.shape[1])
        self.n_absorb = 0
        self._work: np.ndarray | None = None
        #: ``(u, v, G v, G^T u)`` of the last Sinkhorn iterate, for :meth:`marginals`
        self._products: tuple[np.ndarray, ...] | None = None
        lo, hi = (float(M.min()), float(M.max())) if bounds is None else bounds
        if (hi - lo) / self.reg <= _NO_UNDERFLOW:
            # exp((min M - M) / reg) cannot underflow: three passes instead of six
            self.f = np.full(M.shape[0], lo)
            self.g = np.zeros(M.shape[1])
            G = self.G = np.subtract(lo, M)
            G *= 1.0 / self.reg
            np.exp(G, out=G)
            return
        # the reduced cost is built in place in G's buffer (no n x m temporary)
        self.f = M.min(axis=1)
        G = self.G = np.subtract(M, self.f[:, None])
        self.g = G.min(axis=0)
        G -= self.g[None, :]
        G *= -1.0 / self.reg
        np.exp(G, out=G)

    def _rebuild(self) -> None:
        G = np.subtract(self.M, self.f[:, None], out=self.G)
        G -= self.g[None, :]
        G *= -1.0 / self.reg
        np.exp(G, out=G)
        self.n_absorb += 1

    def set_reg(self, reg: float, a: np.ndarray) -> None:
        """Switch to regularization ``reg``, warm-started from the current potentials.

        ``g`` is kept and ``f`` set to the soft c-transform of ``g`` (rows of the plan sum to
        ``a``); the scalings restart at one. One ``exp`` over the ``n x m`` kernel.

        Parameters
        ----------
        reg : float
            New entropic regularization (> 0).
        a : ndarray, shape ``n``
            Source weights, the row sums of the rebuilt plan.
        """
        self.g = self.g + self.reg * np.log(self.v)
        self.reg = float(reg)
        G = np.subtract(self.g[None, :], self.M, out=self.G)
        G *= 1.0 / self.reg
        top = G.max(axis=1)
        G -= top[:, None]
        np.exp(G, out=G)
        scale = a / G.sum(axis=1)
        G *= scale[:, None]
        self.f = self.reg * (np.log(scale) - top)
        self.u = np.ones(self.M.shape[0])
        self.v = np.ones(self.M.shape[1])
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
        u, v = self.u, self.v
        if not force and u.max() < _HI and u.min() > _LO and v.max() < _HI and v.min() > _LO:
            return False
        self.f = self.f + self.reg * np.log(u)
        self.g = self.g + self.reg * np.log(v)
        self.u = np.ones_like(u)
        self.v = np.ones_like(v)
        self._rebuild()
        return True

    def potentials(self) -> tuple[np.ndarray, np.ndarray]:
        """Dual potentials ``(alpha, beta)`` with ``P = exp((alpha_i + beta_j - M_ij) / reg)``."""
        return self.f + self.reg * np.log(self.u), self.g + self.reg * np.log(self.v)

    def plan(self, overwrite: bool = False) -> np.ndarray:
        """The current plan ``diag(u) G diag(v)`` as a dense array.

        Parameters
        ----------
        overwrite : bool, default False
            Write the plan into the kernel's own buffer instead of a new array (saves
            allocating and page-faulting ``n x m`` floats; the kernel is unusable after).

        Returns
        -------
        ndarray, shape ``n x m``
        """
        if overwrite:
            P = np.multiply(self.G, self.v[None, :], out=self.G)
            self.G = np.empty((0, 0))
        else:
            P = self.G * self.v[None, :]
        P *= self.u[:, None]
        return P

    def scaled_columns(self) -> np.ndarray:
        """``G diag(v)`` (so that ``P = diag(u) G diag(v)``) in a work buffer reused by the
        next call: it saves allocating, and page-faulting, an ``n x m`` array per call."""
        if self._work is None:
            self._work = np.empty_like(self.G)
        return np.multiply(self.G, self.v[None, :], out=self._work)

    def marginals(self) -> tuple[np.ndarray, np.ndarray]:
        """Row and column sums of the current plan (two matrix-vector products, or none when
        the scalings are those :meth:`sinkhorn` stopped at: it computed both products)."""
        kept = self._products
        if kept is not None and kept[0] is self.u and kept[1] is self.v:
            return self.u * kept[2], self.v * kept[3]
        return self.u * (self.G @ self.v), self.v * (self.G.T @ self.u)

    def sinkhorn(
        self,
        a: np.ndarray,
        b: np.ndarray,
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
        a : ndarray, shape ``n``
            Source weights.
        b : ndarray, shape ``m``
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
        Ktu = G.T @ self.u
        self.v = b / Ktu
        for i in range(n_iter):
            Kv = G @ self.v
            # the error of the current u and the next u from one compiled pass (small
            # problems spend as much time in numpy's per-call overhead as in the products)
            err, u, u_lo, u_hi = _residual_and_ratio(self.u, Kv, a)
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
            _, self.v, v_lo, v_hi = _residual_and_ratio(self.v, Ktu, b)
            if not (_LO < u_lo and u_hi < _HI and _LO < v_lo and v_hi < _HI):
                self.absorb(force=True)
                G = self.G
                Ktu = None  # of the scalings before the absorption
        return errs


class TorchStabilizedKernel(StabilizedKernel):
    """:class:`StabilizedKernel` in torch ops on the device of ``M`` (float64 tensors).

    Same state and methods; every array is a tensor on ``M``'s device, so nothing is copied
    to the host (a few scalars per iteration are read back: the error and the scalings'
    range).

    Examples
    --------
    >>> import torch
    >>> M = torch.tensor([[0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    >>> a = b = torch.tensor([0.5, 0.5], dtype=torch.float64)
    >>> k = TorchStabilizedKernel(M, reg=0.1)
    >>> err = k.sinkhorn(a, b, n_iter=50, tol=1e-12)
    >>> bool(err[-1] < 1e-12), k.plan().round(decimals=4).tolist()
    (True, [[0.5, 0.0], [0.0, 0.5]])
    """

    def __init__(
        self, M: torch.Tensor, reg: float, bounds: tuple[float, float] | None = None
    ) -> None:
        self.M = M
        self.reg = float(reg)
        self.u = M.new_ones(M.shape[0])
        self.v = M.new_ones(M.shape[1])
        self.n_absorb = 0
        self._work: torch.Tensor | None = None
        self._products: tuple[torch.Tensor, ...] | None = None
        lo, hi = (float(M.min()), float(M.max())) if bounds is None else bounds
        if (hi - lo) / self.reg <= _NO_UNDERFLOW:
            self.f = M.new_full((M.shape[0],), lo)
            self.g = M.new_zeros(M.shape[1])
            self.G = (lo - M).mul_(1.0 / self.reg).exp_()
            return
        self.f = M.amin(1)
        G = self.G = M - self.f[:, None]
        self.g = G.amin(0)
        G.sub_(self.g[None, :]).mul_(-1.0 / self.reg).exp_()

    def _rebuild(self) -> None:
        G = torch.sub(self.M, self.f[:, None], out=self.G)
        G.sub_(self.g[None, :]).mul_(-1.0 / self.reg).exp_()
        self.n_absorb += 1

    def set_reg(self, reg: float, a: torch.Tensor) -> None:  # noqa: D102 - as the base
        self.g = self.g + self.reg * self.v.log()
        self.reg = float(reg)
        G = torch.sub(self.g[None, :], self.M, out=self.G).mul_(1.0 / self.reg)
        top = G.amax(1)
        G.sub_(top[:, None]).exp_()
        scale = a / G.sum(1)
        G.mul_(scale[:, None])
        self.f = self.reg * (scale.log() - top)
        self.u = torch.ones_like(self.u)
        self.v = torch.ones_like(self.v)
        self.n_absorb += 1

    def absorb(self, force: bool = False) -> bool:  # noqa: D102 - as the base
        if not force and not _out_of_range(self.u, self.v):
            return False
        self.f = self.f + self.reg * self.u.log()
        self.g = self.g + self.reg * self.v.log()
        self.u = torch.ones_like(self.u)
        self.v = torch.ones_like(self.v)
        self._rebuild()
        return True

    def potentials(self) -> tuple[torch.Tensor, torch.Tensor]:  # noqa: D102 - as the base
        return self.f + self.reg * self.u.log(), self.g + self.reg * self.v.log()

    def plan(self, overwrite: bool = False) -> torch.Tensor:  # noqa: D102 - as the base
        if overwrite:
            P = self.G.mul_(self.v[None, :])
            self.G = self.G.new_empty((0, 0))
        else:
            P = self.G * self.v[None, :]
        return P.mul_(self.u[:, None])

    def scaled_columns(self) -> torch.Tensor:  # noqa: D102 - as the base
        if self._work is None:
            self._work = torch.empty_like(self.G)
        return torch.mul(self.G, self.v[None, :], out=self._work)

    def sinkhorn(
        self,
        a: torch.Tensor,
        b: torch.Tensor,
        n_iter: int,
        tol: float,
        stop: Callable[[list[float]], bool] | None = None,
        times: list[float] | None = None,
        clock: Callable[[], float] | None = None,
    ) -> list[float]:
        """As :meth:`StabilizedKernel.sinkhorn`, in torch ops on the kernel's device."""
        G, errs = self.G, []
        Ktu: torch.Tensor | None = G.T @ self.u
        self.v = b / Ktu
        for i in range(n_iter):
            Kv = G @ self.v
            err = float((self.u * Kv - a).abs_().sum())
            errs.append(err)
            if times is not None and clock is not None:
                times.append(clock())
            if (err < tol or not math.isfinite(err) or i == n_iter - 1
                    or (stop is not None and stop(errs))):
                if Ktu is not None:
                    self._products = (self.u, self.v, Kv, Ktu)
                break
            self.u = a / Kv
            Ktu = G.T @ self.u
            self.v = b / Ktu
            if _out_of_range(self.u, self.v):
                self.absorb(force=True)
                G = self.G
                Ktu = None
        return errs


def _out_of_range(u: torch.Tensor, v: torch.Tensor) -> bool:
    """Whether a scaling left ``(exp(-TAU), exp(TAU))`` (one read-back for both)."""
    lo = torch.minimum(u.amin(), v.amin())
    hi = torch.maximum(u.amax(), v.amax())
    return not bool((lo > _LO) & (hi < _HI))


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
