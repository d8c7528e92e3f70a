"""What is fitted: Bayesian layers and networks, scikit-learn estimators, BO surrogates, PFNs."""

from bayesparse.models.bayesian_layers import BayesConv2d as BayesConv2d
from bayesparse.models.bayesian_layers import BayesLinear as BayesLinear
from bayesparse.models.bayesian_layers import SparseBayesConv2d as SparseBayesConv2d
from bayesparse.models.bayesian_layers import SparseBayesLinear as SparseBayesLinear
from bayesparse.models.bcd_classifiers import BCDLabelPropagation as BCDLabelPropagation
from bayesparse.models.bcd_classifiers import BCDLogisticRegression as BCDLogisticRegression
from bayesparse.models.bcd_estimators import BCDElasticNet as BCDElasticNet
from bayesparse.models.bcd_estimators import BCDLasso as BCDLasso
from bayesparse.models.bcd_estimators import bcd_lasso_path as bcd_lasso_path
from bayesparse.models.fastrp import FastRP as FastRP
from bayesparse.models.kronecker_sbl import KroneckerSBL as KroneckerSBL
from bayesparse.models.pfn import PFN as PFN
from bayesparse.models.pfn import PFNRegressor as PFNRegressor
from bayesparse.models.random_projection import (
    VerySparseRandomProjection as VerySparseRandomProjection,
)
from bayesparse.models.riemann import BarDistribution as BarDistribution
from bayesparse.models.sbl import SBLRegression as SBLRegression
from bayesparse.models.sparse_bnn import BayesCNN as BayesCNN
from bayesparse.models.sparse_bnn import BayesMLP as BayesMLP
from bayesparse.models.sparse_bnn_estimators import SparseBNNClassifier as SparseBNNClassifier
from bayesparse.models.sparse_bnn_estimators import SparseBNNRegressor as SparseBNNRegressor
from bayesparse.models.sparsey import SparseyMemory as SparseyMemory
from bayesparse.models.surrogates import HMCBNN as HMCBNN
from bayesparse.models.surrogates import SGHMCBNN as SGHMCBNN
from bayesparse.models.surrogates import DeepEnsemble as DeepEnsemble
from bayesparse.models.surrogates import DeepKernelGP as DeepKernelGP
from bayesparse.models.surrogates import InfiniteWidthBNN as InfiniteWidthBNN
from bayesparse.models.surrogates import LaplaceBNN as LaplaceBNN
from bayesparse.models.surrogates import SparseBNN as SparseBNN
