"""Block coordinate descent with greedy rules (Nutini, Laradji & Schmidt, JMLR 2022)."""

from bayesparse.optim.bcd.logistic_working_set import (
    LogisticWorkingSetResult as LogisticWorkingSetResult,
)
from bayesparse.optim.bcd.logistic_working_set import (
    logistic_duality_gap as logistic_duality_gap,
)
from bayesparse.optim.bcd.logistic_working_set import (
    logistic_working_set as logistic_working_set,
)
from bayesparse.optim.bcd.logistic_working_set import softmax_newton as softmax_newton
from bayesparse.optim.bcd.problems import L1 as L1
from bayesparse.optim.bcd.problems import L2 as L2
from bayesparse.optim.bcd.problems import GraphQuadratic as GraphQuadratic
from bayesparse.optim.bcd.problems import LeastSquares as LeastSquares
from bayesparse.optim.bcd.problems import Logistic as Logistic
from bayesparse.optim.bcd.problems import NoPenalty as NoPenalty
from bayesparse.optim.bcd.problems import Softmax as Softmax
from bayesparse.optim.bcd.rules import SELECTION_RULES as SELECTION_RULES
from bayesparse.optim.bcd.solver import BCDResult as BCDResult
from bayesparse.optim.bcd.solver import bcd_least_squares as bcd_least_squares
from bayesparse.optim.bcd.solver import bcd_solve as bcd_solve
from bayesparse.optim.bcd.working_set import WorkingSetResult as WorkingSetResult
from bayesparse.optim.bcd.working_set import enet_duality_gap as enet_duality_gap
from bayesparse.optim.bcd.working_set import enet_working_set as enet_working_set
