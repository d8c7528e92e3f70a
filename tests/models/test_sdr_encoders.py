"""SDR encoders: overlaps vs their closed forms, bad input named."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bayesparse.models.sdr_encoders import binary_image_encode, category_encode, scalar_encode
from bayesparse.sparse import overlap


@settings(max_examples=30, deadline=None)
@given(st.lists(st.floats(0, 1), min_size=2, max_size=6), st.integers(1, 10))
def test_scalar_overlap_falls_linearly(values, w):
    n_bits = 40
    codes = scalar_encode(np.array(values), n_bits, w, low=0.0, high=1.0)
    start = np.rint(np.array(values) * (n_bits - w))
    expected = np.maximum(0, w - np.abs(start[:, None] - start[None, :]))
    np.testing.assert_array_equal(overlap(codes), expected)


def test_category_and_image_codes():
    c = category_encode(np.array([0, 1, 1]), 3, 4)
    assert overlap(c).tolist() == [[4, 0, 0], [0, 4, 4], [0, 4, 4]]
    img = np.zeros((2, 3, 3))
    img[0, 1, 1] = img[1, 1, 1] = img[1, 0, 2] = 1.0
    assert overlap(binary_image_encode(img)).tolist() == [[1, 1], [1, 2]]
    both = binary_image_encode(img, off_bits=True)
    assert both.shape == (2, 18)
    assert both.sum(dim=1).tolist() == [9, 9]
    # Two images agree on the pixels where both are on or both off: 8 of 9 here.
    assert overlap(both).tolist() == [[9, 8], [8, 9]]


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="w:"):
        scalar_encode([0.0, 1.0], 10, 11)
    with pytest.raises(ValueError, match="X:"):
        scalar_encode([0.0, np.nan], 10, 2)
    with pytest.raises(ValueError, match="labels:"):
        category_encode([3], 3, 2)
