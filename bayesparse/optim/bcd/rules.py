"""Block selection rules of Nutini, Laradji & Schmidt (JMLR 2022), Sec. 2-3 and 5.1.

Each rule maps the per-block scores of the current iterate to the index of the block to
update: cyclic, uniform random, Lipschitz sampling (``P(b) ~ L_b``), Gauss-Southwell (GS,
``argmax ||g_b||``, eq. 5, or its proximal GS-r form ``argmax ||d_b||`` with a common step
``1 / L``), GS-Lipschitz (GSL, ``argmax ||g_b||^2 / L_b``, eq. 8; GSL-r ``L_b ||d_b||^2`` with
step ``1 / L_b``) and GS-Quadratic (GSQ, ``argmax g_b^T H_b^{-1} g_b``, eq. 10, the largest
decrease of the block's quadratic model; equal to GSL when the update is a gradient step).

References
----------
.. [1] J. Nutini, I. Laradji, M. Schmidt. Let's Make Block Coordinate Descent Converge Faster:
   Faster Greedy Rules, Message-Passing, Active-Set Complexity, and Superlinear Convergence.
   JMLR 23(131), 2022.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


@dataclass
class BlockScores:
    """What the rules look at, one row per block.

    Attributes
    ----------
    d_glob : ndarray of shape (n_blocks, block_size)
        (Proximal) step with the common step size ``1 / max_b L_b``.
    d_own : ndarray of shape (n_blocks, block_size)
        (Proximal) step with each block's own ``1 / L_b``.
    lips : ndarray of shape (n_blocks,)
        Block Lipschitz constants.
    quad : ndarray of shape (n_blocks,) or None
        ``g_b^T H_b^{-1} g_b`` when the update is the matrix (Newton) step.
    """

    d_glob: np.ndarray
    d_own: np.ndarray
    lips: np.ndarray
    quad: np.ndarray | None


def _cyclic(k: int, s: BlockScores, rng: np.random.Generator) -> int:
    return k % len(s.lips)


def _random(k: int, s: BlockScores, rng: np.random.Generator) -> int:
    return int(rng.integers(len(s.lips)))


def _lipschitz(k: int, s: BlockScores, rng: np.random.Generator) -> int:
    return int(rng.choice(len(s.lips), p=s.lips / s.lips.sum()))


def _gs(k: int, s: BlockScores, rng: np.random.Generator) -> int:
    return int(np.argmax((s.d_glob**2).sum(1)))


def _gsl(k: int, s: BlockScores, rng: np.random.Generator) -> int:
    return int(np.argmax(s.lips * (s.d_own**2).sum(1)))


def _gsq(k: int, s: BlockScores, rng: np.random.Generator) -> int:
    return _gsl(k, s, rng) if s.quad is None else int(np.argmax(s.quad))


#: rule name -> ``rule(iteration, scores, rng) -> block index``
SELECTION_RULES: dict[str, Callable[[int, BlockScores, np.random.Generator], int]] = {
    "cyclic": _cyclic,
    "random": _random,
    "lipschitz": _lipschitz,
    "gs": _gs,
    "gsl": _gsl,
    "gsq": _gsq,
}
