"""What is fitted: sparse Bayesian layers and networks, SBL models, BO surrogates, PFNs."""

from bayesparse.models.kronecker_sbl import KroneckerSBL as KroneckerSBL
from bayesparse.models.sbl import SBLRegression as SBLRegression
