"""Built-in data: generated or bundled with a dependency, never downloaded at run time."""

from bayesparse.datasets.bnn_classification import load_digits_split as load_digits_split
from bayesparse.datasets.bnn_classification import load_mnist1d as load_mnist1d
from bayesparse.datasets.graphs import make_planted_graph as make_planted_graph
from bayesparse.datasets.irs_mimo import irs_mimo_draw as irs_mimo_draw
from bayesparse.datasets.irs_mimo import irs_mimo_setup as irs_mimo_setup
from bayesparse.datasets.irs_mimo import kronecker_problem as kronecker_problem
from bayesparse.datasets.synthetic_regression import make_gap_regression as make_gap_regression
