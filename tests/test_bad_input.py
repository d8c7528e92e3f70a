"""Bad input on every public entry point raises ValueError/TypeError naming the argument.

One table across the components, so a new entry point is checked the same way: NaN/inf data,
empty or wrongly shaped input, wrong types and out-of-range hyper-parameters. Each case gives
the call and a pattern the message must contain (the argument's name).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from bayesparse.datasets.transport import make_point_clouds
from bayesparse.models import (
    BCDElasticNet,
    BCDLasso,
    FastRP,
    KroneckerSBL,
    SBLRegression,
    SparseBNNClassifier,
    SparseBNNRegressor,
    SparseyMemory,
    VerySparseRandomProjection,
)
from bayesparse.optim import sinkhorn_newton_sparse, sinkhorn_newton_sparse2
from bayesparse.sparse import SparseTensor, random_pattern, row_mass_truncate

RNG = np.random.default_rng(0)
X = RNG.normal(size=(20, 4))
Y = X @ np.array([1.0, 0.0, -2.0, 0.0]) + 0.1 * RNG.normal(size=20)
LABELS = (X[:, 0] > 0).astype(int)
X_NAN = X.copy()
X_NAN[3, 1] = np.nan
X_INF = X.copy()
X_INF[0, 0] = np.inf
GRAPH = sp.random(30, 30, density=0.2, random_state=0, format="csr")
GRAPH = GRAPH + GRAPH.T
M = RNG.random((5, 6))
A5, B6 = np.full(5, 1 / 5), np.full(6, 1 / 6)
FACTORS = [RNG.normal(size=(4, 5)), RNG.normal(size=(3, 4))]


def _fit(est, *args):
    return lambda: est.fit(*args)


CASES = {
    # ---------------------------------------------------------------- estimators: data
    "sbl_nan_X": (_fit(SBLRegression(), X_NAN, Y), r"(?i)nan"),
    "sbl_inf_y": (_fit(SBLRegression(), X, np.where(np.arange(20) == 2, np.inf, Y)),
                  r"(?i)inf"),
    "sbl_empty": (_fit(SBLRegression(), X[:0], Y[:0]), r"(?i)0 sample"),
    "sbl_y_shape": (_fit(SBLRegression(), X, Y[:10]), r"(?i)inconsistent|samples"),
    "bcd_lasso_nan": (_fit(BCDLasso(alpha=0.1), X_NAN, Y), r"(?i)nan"),
    "bcd_lasso_3d": (_fit(BCDLasso(alpha=0.1), X[None], Y), r"(?i)dim|2d|2-d"),
    "bnn_clf_nan": (_fit(SparseBNNClassifier(n_epochs=1), X_NAN, LABELS), r"(?i)nan"),
    "bnn_reg_inf": (_fit(SparseBNNRegressor(n_epochs=1), X_INF, Y), r"(?i)inf"),
    "bnn_reg_strings": (_fit(SparseBNNRegressor(n_epochs=1), np.full(X.shape, "a", object), Y),
                        r"(?i)float|string|convert"),
    "vsrp_nan": (_fit(VerySparseRandomProjection(n_components=2), X_NAN), r"(?i)nan"),
    "kron_y_nan": (_fit(KroneckerSBL(), FACTORS, np.full(12, np.nan)),
                   r"(?i)\by\b.*nan|nan.*\by\b"),
    "kron_y_shape": (_fit(KroneckerSBL(), FACTORS, np.ones(11)), r"\by\b"),
    # ---------------------------------------------------------------- estimators: hyper-parameters
    "sbl_max_iter": (_fit(SBLRegression(max_iter=0), X, Y), r"max_iter"),
    "sbl_noise_inf": (_fit(SBLRegression(noise_variance=math.inf), X, Y), r"noise_variance"),
    "kron_noise_neg": (_fit(KroneckerSBL(noise_variance=-1.0), FACTORS, np.ones(12)),
                       r"noise_variance"),
    "bcd_alpha": (_fit(BCDLasso(alpha=-1.0), X, Y), r"alpha"),
    "bcd_l1_ratio": (_fit(BCDElasticNet(l1_ratio=2.0), X, Y), r"l1_ratio"),
    "bnn_density": (_fit(SparseBNNClassifier(density=0.0, n_epochs=1), X, LABELS), r"density"),
    "bnn_lr": (_fit(SparseBNNClassifier(lr=-1.0, n_epochs=1), X, LABELS), r"\blr\b"),
    "bnn_epochs": (_fit(SparseBNNRegressor(n_epochs=0), X, Y), r"n_epochs"),
    "vsrp_components": (_fit(VerySparseRandomProjection(n_components=0), X), r"n_components"),
    "vsrp_density": (_fit(VerySparseRandomProjection(n_components=2, density=2.0), X),
                     r"density"),
    "fastrp_components": (_fit(FastRP(n_components=0), GRAPH), r"n_components"),
    "fastrp_beta_nan": (_fit(FastRP(n_components=8, normalization_strength=math.nan), GRAPH),
                        r"normalization_strength"),
    "fastrp_nonsquare": (_fit(FastRP(n_components=8), GRAPH[:10]), r"(?i)square"),
    "fastrp_negative": (_fit(FastRP(n_components=8), -GRAPH), r"(?i)negative"),
    "sparsey_inputs": (lambda: SparseyMemory(0), r"n_inputs"),
    "sparsey_cms": (lambda: SparseyMemory(16, n_cms=0), r"n_cms"),
    "sparsey_store_width": (lambda: SparseyMemory(16, random_state=0).store(np.ones(15, bool)),
                            r"\bx\b|n_inputs|16"),
    # ---------------------------------------------------------------- optimal transport
    "sns_reg_zero": (lambda: sinkhorn_newton_sparse(A5, B6, M, 0.0), r"\breg\b"),
    "sns_reg_nan": (lambda: sinkhorn_newton_sparse2(A5, B6, M, math.nan), r"\breg\b"),
    "sns_M_nan": (lambda: sinkhorn_newton_sparse(A5, B6, np.where(M > 0.5, np.nan, M), 0.1),
                  r"\bM\b"),
    "sns_a_negative": (lambda: sinkhorn_newton_sparse(-A5, B6, M, 0.1), r"\ba\b"),
    "sns_b_shape": (lambda: sinkhorn_newton_sparse(A5, A5, M, 0.1), r"\bb\b"),
    "sns_mixed_backends": (lambda: sinkhorn_newton_sparse2(torch.tensor(A5), B6,
                                                           torch.tensor(M), 0.1), r"\bb\b"),
    "clouds_kind": (lambda: make_point_clouds("grid", 5), r"\bkind\b"),
    "clouds_n": (lambda: make_point_clouds("uniform", 0), r"\bn\b"),
    # ---------------------------------------------------------------- the sparse core
    "sparse_out_of_range": (lambda: SparseTensor([[0], [9]], [1.0], (2, 3)), r"(?i)col|indices"),
    "sparse_shape": (lambda: SparseTensor([[0], [0]], [1.0], (2, -1)), r"shape"),
    "pattern_density": (lambda: random_pattern((4, 4), 1.5), r"density"),
    "truncate_negative": (lambda: row_mass_truncate(-np.ones((2, 2)), 0.1), r"\bx\b|negative"),
    "matmul_inner": (lambda: SparseTensor([[0], [0]], [1.0], (2, 3)) @ torch.ones(4),
                     r"other"),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_input_raises_naming_the_argument(name):
    call, pattern = CASES[name]
    with pytest.raises((ValueError, TypeError), match=pattern):
        call()
