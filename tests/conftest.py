"""Suite-wide settings: one torch and one BLAS thread per test process.

The suite's problems are small, so intra-op threads only add synchronization cost, and on a
busy two-core machine two BLAS threads made 1000x1000 products 20x slower; `make test`
runs two xdist workers, one per core.
"""

import pytest
import torch
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(threads)
