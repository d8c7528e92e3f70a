"""Built-in data: generated or bundled with a dependency, never downloaded at run time."""

from bayesparse.datasets.irs_mimo import irs_mimo_draw as irs_mimo_draw
from bayesparse.datasets.irs_mimo import irs_mimo_setup as irs_mimo_setup
from bayesparse.datasets.irs_mimo import kronecker_problem as kronecker_problem
