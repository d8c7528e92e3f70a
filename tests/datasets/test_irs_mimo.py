"""IRS-MIMO generator: the grid model reproduces the physical channel, SNR and structure."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bayesparse.datasets.irs_mimo import (
    irs_mimo_draw,
    irs_mimo_setup,
    kronecker_problem,
    ula_dictionary,
)
from bayesparse.sparse import Kronecker


def test_paper_sizes_and_pilots():
    setup = irs_mimo_setup(random_state=0)
    assert [A.shape for A in setup.factors] == [(6, 18), (3, 18), (16, 18)]
    np.testing.assert_allclose(np.abs(setup.pilots), 1 / np.sqrt(6))  # QPSK / sqrt(6)
    np.testing.assert_allclose(np.abs(setup.patterns), 1 / 16)  # ±1 / sqrt(256)
    U = ula_dictionary(16, 18)
    np.testing.assert_allclose(np.linalg.norm(U, axis=0), 1.0)
    np.testing.assert_allclose(U[1, 0], np.exp(-1j * np.pi) / 4)  # θ_0 = −1


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 2**16), snr=st.floats(-5, 40))
def test_grid_model_matches_physical_channel(seed, snr):
    setup = irs_mimo_setup(random_state=seed % 7)
    draw = irs_mimo_draw(setup, snr, random_state=seed)
    # the physically built channels equal those implied by the sparse grid coefficients
    np.testing.assert_allclose(setup.cascaded_channels(draw.x), draw.channels, atol=1e-10)
    # received signal = (A_1 ⊗ A_2 ⊗ A_3) x: rebuild it from the channels and pilots
    y_clean = Kronecker(setup.factors) @ draw.x
    ref = np.einsum("pbm,mt->ptb", draw.channels, setup.pilots).ravel()
    np.testing.assert_allclose(y_clean, ref, atol=1e-10)
    # per-draw SNR from the noiseless received power
    assert np.mean(np.abs(y_clean) ** 2) / draw.noise_variance == pytest.approx(
        10 ** (snr / 10), rel=1e-9)
    assert setup.channel_nmse(draw.x, draw) < 1e-20
    # structure: one mobile bin, 3 adjacent BS bins, 3 IRS bins (possibly wrapped)
    nz = np.array(np.unravel_index(np.flatnonzero(draw.x), (18, 18, 18)))
    assert nz.shape[1] == 9 and len(set(nz[1])) == 1
    bs = np.unique(nz[2])
    assert bs.size == 3 and bs[-1] - bs[0] == 2
    irs = np.unique(nz[0])
    assert any({(k + t) % 18 for t in range(3)} == set(irs) for k in range(18))


def test_noise_level_and_nmse_metric():
    setup = irs_mimo_setup(random_state=1)
    draw = irs_mimo_draw(setup, 10.0, random_state=2)
    noise = draw.y - Kronecker(setup.factors) @ draw.x
    assert np.mean(np.abs(noise) ** 2) == pytest.approx(draw.noise_variance, rel=0.3)
    # NMSE of the zero estimate is 1 for every pattern
    assert setup.channel_nmse(np.zeros_like(draw.x), draw) == pytest.approx(1.0)


def test_pilots_and_patterns_drawn_once():
    setup = irs_mimo_setup(random_state=3)
    a, b = irs_mimo_draw(setup, 20, random_state=4), irs_mimo_draw(setup, 20, random_state=5)
    assert not np.allclose(a.x, b.x)
    again = irs_mimo_draw(setup, 20, random_state=4)
    np.testing.assert_array_equal(a.y, again.y)


def test_kronecker_problem_and_bad_inputs():
    p = kronecker_problem((8, 6, 4), (4, 3, 2), (2, 2, 1), 15.0, complex_valued=False,
                          random_state=0)
    assert p.y.shape == (24,) and p.x.dtype == np.float64
    assert np.count_nonzero(p.x) == 4
    with pytest.raises(ValueError, match="support"):
        kronecker_problem((8, 8), (4, 4), (9, 1))
    with pytest.raises(ValueError, match="one entry per factor"):
        kronecker_problem((8, 8), (4,), (1, 1))
    with pytest.raises(ValueError, match="n_bs"):
        irs_mimo_setup(n_bs=0)
    with pytest.raises(ValueError, match="angle_spread"):
        irs_mimo_setup(angle_spread=30)
    with pytest.raises(ValueError, match="snr_db"):
        irs_mimo_draw(irs_mimo_setup(random_state=0), float("nan"))
