"""Sparsey: a single-trial associative memory of sparse distributed codes (Rinkus 2014).

A macrocolumn is ``Q`` winner-take-all competitive modules (CMs) of ``K`` binary cells; a code
is one winner per CM. Code selection for an input with active set ``A`` (learning mode):

1. input summation ``u(i) = sum_{j in A} w(j, i)`` over binary weights;
2. normalization ``U(i) = u(i) / |A|``;
3. familiarity ``G = mean over CMs of max_{i in CM} U(i)``;
4. expansivity ``eta = 1 + max(0, (G - G⁻) / (1 - G⁻))^gamma * chi * K``
   (``G⁻ = 0.1, gamma = 2, chi = 100``);
5. a sigmoid maps ``U`` to relative win weights in ``[1, eta]``,
   ``psi(U) = 1 + (eta - 1) / (1 + exp(-lambda (U - nu)))``;
6. one winner sampled per CM with probability ``psi / sum_CM psi``.

A familiar input (``G ≈ 1``) makes ``eta`` large, so the cells of its stored code win with
near certainty; a novel input (``G ≈ 0``) gives ``eta = 1``, a uniformly random code; codes of
similar inputs overlap in proportion to their similarity. Learning sets the weights from the
active inputs to the ``Q`` winners to 1 in one trial; codes are stored in superposition in the
same weights. Recognition takes the argmax of ``U`` per CM (deterministic); the best-matching
stored item is the one whose code cells tie for the largest ``U`` in the most CMs.

Store and recall read and write only the weight rows of the active inputs, and candidate
items are found by multi-index hashing of the codes (each code indexed under bands of
``_BAND`` CMs; Norouzi, Punjani & Fleet, "Fast search in Hamming space with multi-index
hashing", CVPR 2012), so the time per item does not grow with the number stored. A novel input
whose recognized code shares no band with a stored code is compared with every stored code.
Capacity is limited by weight saturation: after ``N`` random items with input density ``d`` a
weight is set with probability ``1 - (1 - d / K)^N``. Several macrocolumns, each seeing a
random subset of the inputs, give each item several independent codes and raise capacity.

References
----------
G. J. Rinkus, "Sparsey: event recognition via deep hierarchical sparse distributed codes",
Frontiers in Computational Neuroscience 8:160 (2014), code selection algorithm (Table 1).

Examples
--------
>>> import numpy as np
>>> from bayesparse.models import SparseyMemory
>>> rng = np.random.default_rng(0)
>>> X = (rng.random((50, 200)) < 0.1).astype(np.int8)
>>> mem = SparseyMemory(200, n_cms=16, cells_per_cm=16, random_state=0).store_batch(X)
>>> bool((mem.recall_batch(X) == np.arange(50)).all())
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bayesparse.rng import RandomState, check_generator
from bayesparse.sparse import SparseTensor

__all__ = ["SparseyMemory"]

#: CMs per hash band: each stored code is indexed under each of its bands (multi-index
#: hashing, Norouzi et al. 2012), so a recognized code with a few wrong CMs still finds its
#: item through any band it has right, in time independent of the number stored.
_BAND = 4


class SparseyMemory:
    """Sparsey macrocolumn(s): store binary inputs in one trial, recall the best match.

    Parameters
    ----------
    n_inputs : int
        Length of the binary input vectors.
    n_cms : int
        Competitive modules ``Q`` per macrocolumn (code size).
    cells_per_cm : int
        Cells ``K`` per competitive module.
    n_macrocolumns : int
        Macrocolumns side by side, each with its own weights and code.
    inputs_per_macrocolumn : int, optional
        Inputs each macrocolumn sees, a random subset; defaults to all of them.
    receptive_fields : sequence of int arrays, optional
        The inputs of each macrocolumn, given explicitly (e.g. topographic patches of an
        image, as in Sparsey's hierarchy); sets the number of macrocolumns.
    g_minus, gamma, chi : float
        Expansivity parameters ``G⁻``, ``gamma``, ``chi`` (the published defaults).
    sigmoid_center, sigmoid_steepness : float
        ``nu`` and ``lambda`` of the sigmoid mapping ``U`` to win weights.
    random_state : None, int or numpy.random.Generator
        Seeds the input subsets and the winner sampling.

    Attributes
    ----------
    n_stored_ : int
        Items stored.
    saturation_ : float
        Fraction of reachable weights set to 1, averaged over macrocolumns.

    References
    ----------
    G. J. Rinkus, "Sparsey: event recognition via deep hierarchical sparse distributed codes",
    Front. Comput. Neurosci. 8:160 (2014), Table 1 (code selection algorithm).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.zeros(64, dtype=np.int8); x[:8] = 1
    >>> mem = SparseyMemory(64, n_cms=8, cells_per_cm=8, random_state=0)
    >>> mem.store(x)
    0
    >>> mem.recall(x), mem.familiarity(x)
    (0, 1.0)
    """

    def __init__(
        self,
        n_inputs: int,
        *,
        n_cms: int = 32,
        cells_per_cm: int = 16,
        n_macrocolumns: int = 1,
        inputs_per_macrocolumn: int | None = None,
        receptive_fields: Sequence[Sequence[int]] | None = None,
        g_minus: float = 0.1,
        gamma: float = 2.0,
        chi: float = 100.0,
        sigmoid_center: float = 0.7,
        sigmoid_steepness: float = 28.0,
        random_state: RandomState = None,
    ) -> None:
        for name, v in (("n_inputs", n_inputs), ("n_cms", n_cms),
                        ("cells_per_cm", cells_per_cm), ("n_macrocolumns", n_macrocolumns)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name}: expected a positive integer, got {v!r}")
        per = n_inputs if inputs_per_macrocolumn is None else inputs_per_macrocolumn
        if isinstance(per, bool) or not isinstance(per, (int, np.integer)) \
                or not 1 <= per <= n_inputs:
            raise ValueError(
                f"inputs_per_macrocolumn: expected an integer in [1, n_inputs={n_inputs}], "
                f"got {inputs_per_macrocolumn!r}"
            )
        if not 0.0 <= g_minus < 1.0:
            raise ValueError(f"g_minus: expected a value in [0, 1), got {g_minus!r}")
        if receptive_fields is not None:
            if n_macrocolumns != 1 or inputs_per_macrocolumn is not None:
                raise ValueError(
                    "receptive_fields: gives the macrocolumns and their inputs; leave "
                    "n_macrocolumns and inputs_per_macrocolumn at their defaults"
                )
            fields = [np.asarray(f) for f in receptive_fields]
            if not fields or any(
                f.ndim != 1 or f.size == 0 or f.dtype.kind not in "iu" or f.min() < 0
                or f.max() >= n_inputs for f in fields
            ):
                raise ValueError(
                    "receptive_fields: expected a non-empty list of non-empty integer index "
                    f"arrays in [0, n_inputs={n_inputs})"
                )
            n_macrocolumns = len(fields)
        self.n_inputs = int(n_inputs)
        self.n_cms = int(n_cms)
        self.cells_per_cm = int(cells_per_cm)
        self.n_macrocolumns = int(n_macrocolumns)
        self.inputs_per_macrocolumn = int(per)
        self.receptive_fields = receptive_fields
        self.g_minus = float(g_minus)
        self.gamma = float(gamma)
        self.chi = float(chi)
        self.sigmoid_center = float(sigmoid_center)
        self.sigmoid_steepness = float(sigmoid_steepness)
        self.random_state = random_state
        self._rng = check_generator(random_state)
        m, q, k = self.n_macrocolumns, self.n_cms, self.cells_per_cm
        self._sees = np.zeros((m, self.n_inputs), dtype=bool)
        for i in range(m):
            field = fields[i] if receptive_fields is not None \
                else self._rng.choice(self.n_inputs, per, replace=False)
            self._sees[i, field] = True
        # Dense binary weights, one row per (macrocolumn, seen input): store and recall read
        # only the rows of active inputs. ``_row`` maps (macrocolumn, input) to its row.
        self._row = np.full((m, self.n_inputs), -1, dtype=np.int64)
        self._row[self._sees] = np.arange(int(self._sees.sum()))
        self._w = np.zeros((int(self._sees.sum()), q * k), dtype=np.uint8)
        self._codes = np.zeros((16, m, q), dtype=np.int32)
        n_bands = -(-q // _BAND)
        self._tables: list[list[dict[bytes, list[int]]]] = [
            [{} for _ in range(n_bands)] for _ in range(m)
        ]
        self._n_set = np.zeros(m, dtype=np.int64)
        self.n_stored_ = 0

    # -- input handling -------------------------------------------------------------------
    def _check_rows(self, X: Any, name: str) -> np.ndarray:
        if isinstance(X, SparseTensor):
            X = X.to_dense().numpy()
        X = np.asarray(X)
        if X.ndim == 1:
            X = X[None, :]
        if X.ndim != 2 or X.shape[1] != self.n_inputs:
            raise ValueError(
                f"{name}: expected binary vectors of length n_inputs={self.n_inputs}, "
                f"got shape {np.shape(X)}"
            )
        if X.dtype.kind not in "biuf" or not np.all((X == 0) | (X == 1)):
            raise ValueError(f"{name}: inputs must be binary (0/1); threshold them first")
        X = X.astype(bool)
        if X.shape[0] and not X.any(axis=1).all():
            raise ValueError(f"{name}: every input needs at least one active bit")
        return X

    # -- code selection -------------------------------------------------------------------
    def _normalized_input(self, active: np.ndarray) -> np.ndarray:
        """``U`` of every macrocolumn's cells, shape ``n_macrocolumns x Q x K``."""
        m, q, k = self.n_macrocolumns, self.n_cms, self.cells_per_cm
        mac, pos = np.nonzero(self._sees[:, active])  # sorted by macrocolumn
        seen = np.bincount(mac, minlength=m)
        u = np.zeros((m, q * k), dtype=np.int64)
        has = seen > 0
        if has.any():
            starts = np.concatenate([[0], np.cumsum(seen)[:-1]])[has]
            u[has] = np.add.reduceat(self._w[self._row[mac, active[pos]]], starts, axis=0,
                                     dtype=np.int64)
        return u.reshape(m, q, k) / np.maximum(seen, 1)[:, None, None]

    def _select(self, U: np.ndarray) -> np.ndarray:
        """Learning-mode winners ``n_macrocolumns x Q`` (steps 3-6 of the algorithm)."""
        G = U.max(axis=2).mean(axis=1)
        eta = 1.0 + np.maximum(0.0, (G - self.g_minus) / (1.0 - self.g_minus)) ** self.gamma \
            * self.chi * self.cells_per_cm
        psi = 1.0 + (eta[:, None, None] - 1.0) / (
            1.0 + np.exp(-self.sigmoid_steepness * (U - self.sigmoid_center))
        )
        cdf = np.cumsum(psi, axis=2)
        draw = self._rng.random(U.shape[:2])[..., None] * cdf[..., -1:]
        return np.minimum((cdf < draw).sum(axis=2), self.cells_per_cm - 1).astype(np.int32)

    def familiarity(self, x: Any) -> float:
        """Familiarity ``G`` of one input: mean over CMs (and macrocolumns) of the max ``U``.

        Parameters
        ----------
        x : array-like of 0/1, length ``n_inputs``

        Returns
        -------
        float
        """
        active = np.flatnonzero(self._check_rows(x, "x")[0])
        return float(self._normalized_input(active).max(axis=2).mean())

    def encode(self, x: Any) -> SparseTensor:
        """The code learning mode would assign to ``x`` (sampled; the memory is not changed).

        Parameters
        ----------
        x : array-like of 0/1, length ``n_inputs``

        Returns
        -------
        SparseTensor
            ``1 x (n_macrocolumns Q K)`` pattern with one active cell per CM.
        """
        active = np.flatnonzero(self._check_rows(x, "x")[0])
        return self._as_codes(self._select(self._normalized_input(active))[None])

    def _as_codes(self, winners: np.ndarray) -> SparseTensor:
        k = self.cells_per_cm
        offsets = np.arange(self.n_macrocolumns * self.n_cms) * k
        cols = winners.reshape(winners.shape[0], -1) + offsets
        return SparseTensor.from_rows(list(cols), self.n_macrocolumns * self.n_cms * k)

    @property
    def codes_(self) -> SparseTensor:
        """Stored codes, one row per item (``n_stored_ x n_macrocolumns Q K`` pattern)."""
        return self._as_codes(self._codes[: self.n_stored_])

    # -- storage --------------------------------------------------------------------------
    def store(self, x: Any) -> int:
        """Store one input in a single trial; returns its item index.

        Parameters
        ----------
        x : array-like of 0/1, length ``n_inputs``

        Returns
        -------
        int
        """
        active = np.flatnonzero(self._check_rows(x, "x")[0])
        winners = self._select(self._normalized_input(active))
        k = self.cells_per_cm
        cells = winners + np.arange(self.n_cms)[None, :] * k
        mac, pos = np.nonzero(self._sees[:, active])
        where = (self._row[mac, active[pos]][:, None], cells[mac])
        new = self.n_cms - self._w[where].sum(axis=1, dtype=np.int64)
        self._n_set += np.bincount(mac, weights=new, minlength=self.n_macrocolumns).astype(np.int64)
        self._w[where] = 1
        for i in range(self.n_macrocolumns):
            for b, table in enumerate(self._tables[i]):
                key = winners[i, b * _BAND:(b + 1) * _BAND].tobytes()
                table.setdefault(key, []).append(self.n_stored_)
        if self.n_stored_ == self._codes.shape[0]:
            self._codes = np.concatenate([self._codes, np.zeros_like(self._codes)])
        self._codes[self.n_stored_] = winners
        self.n_stored_ += 1
        return self.n_stored_ - 1

    def store_batch(self, X: Any) -> SparseyMemory:
        """Store each row of ``X`` in order (one trial each); returns ``self``.

        Parameters
        ----------
        X : array-like or SparseTensor, ``n_items x n_inputs`` of 0/1
        """
        for row in self._check_rows(X, "X"):
            self.store(row)
        return self

    # -- recall ---------------------------------------------------------------------------
    def _candidates(self, winners: np.ndarray) -> np.ndarray:
        """Stored items sharing at least one whole band of CMs with ``winners``."""
        found: list[int] = []
        for i in range(self.n_macrocolumns):
            for b, table in enumerate(self._tables[i]):
                hit = table.get(winners[i, b * _BAND:(b + 1) * _BAND].tobytes())
                if hit is not None:
                    found.extend(hit)
        return np.unique(np.asarray(found, dtype=np.int64))

    def _best(self, U: np.ndarray) -> int:
        winners = U.argmax(axis=2).astype(np.int32)
        # A CM supports a stored code when the code's cell ties for the CM's largest U, so a
        # crosstalk cell tying with the stored one (argmax takes the lower index) costs nothing.
        top = U.max(axis=2)[None]
        cand = self._candidates(winners)
        if cand.size == 0:
            # No stored code shares a band with the recognized code (a novel input): the best
            # match needs every stored code, so this path costs O(n_stored).
            cand = np.arange(self.n_stored_)
        codes = self._codes[cand]
        support = np.take_along_axis(U[None], codes[..., None], axis=3)[..., 0] >= top - 1e-12
        return int(cand[np.argmax(support.sum(axis=(1, 2)))])

    def recall(self, x: Any) -> int:
        """Index of the stored item whose code best matches ``x``'s recognized code.

        Recognition takes the argmax of ``U`` per CM, so recall is deterministic.

        Parameters
        ----------
        x : array-like of 0/1, length ``n_inputs``

        Returns
        -------
        int
        """
        if self.n_stored_ == 0:
            raise ValueError("x: nothing is stored yet; call store or store_batch first")
        active = np.flatnonzero(self._check_rows(x, "x")[0])
        return self._best(self._normalized_input(active))

    def recall_batch(self, X: Any) -> np.ndarray:
        """:meth:`recall` for each row of ``X``.

        Parameters
        ----------
        X : array-like or SparseTensor, ``n_items x n_inputs`` of 0/1

        Returns
        -------
        numpy.ndarray of int
        """
        if self.n_stored_ == 0:
            raise ValueError("X: nothing is stored yet; call store or store_batch first")
        X = self._check_rows(X, "X")
        return np.array([self._best(self._normalized_input(np.flatnonzero(r))) for r in X],
                        dtype=np.int64)

    # -- capacity -------------------------------------------------------------------------
    @property
    def saturation_(self) -> float:
        """Fraction of reachable weights (seen inputs x cells) set to 1."""
        reachable = self._sees.sum(axis=1) * self.n_cms * self.cells_per_cm
        return float(np.mean(self._n_set / reachable))

    def expected_saturation(self, n_items: int | np.ndarray, density: float) -> np.ndarray:
        """Expected saturation after ``n_items`` random inputs of the given density.

        ``1 - (1 - density / K)^n_items``: each item sets the weights from its active inputs
        to one of ``K`` cells per CM, so a given weight is set by an item with probability
        ``density / K``.

        Parameters
        ----------
        n_items : int or array of int
        density : float
            Fraction of active input bits.

        Returns
        -------
        numpy.ndarray
        """
        if not 0.0 < density <= 1.0:
            raise ValueError(f"density: expected a value in (0, 1], got {density!r}")
        return 1.0 - (1.0 - density / self.cells_per_cm) ** np.asarray(n_items, dtype=float)

    def capacity_estimate(self, density: float, max_saturation: float = 0.5) -> int:
        """Items storable before the expected saturation reaches ``max_saturation``.

        Parameters
        ----------
        density : float
            Fraction of active input bits.
        max_saturation : float
            Saturation taken as the capacity limit.

        Returns
        -------
        int
        """
        if not 0.0 < max_saturation < 1.0:
            raise ValueError(f"max_saturation: expected a value in (0, 1), got {max_saturation!r}")
        self.expected_saturation(1, density)
        return int(np.log1p(-max_saturation) / np.log1p(-density / self.cells_per_cm))
