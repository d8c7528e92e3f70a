"""Suite-wide settings: one torch and one BLAS thread per test process.

The suite's problems are small, so intra-op threads only add synchronization cost, and on a
busy two-core machine two BLAS threads made 1000x1000 products 20x slower; `make test`
runs two xdist workers, one per core. The environment variables cover BLAS libraries loaded
after the session starts (scipy's OpenBLAS, numba's threads), which ``threadpool_limits`` does
not reach.
"""

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(threads)
