"""Closed-form theory and Monte Carlo checks: sparse distributed representations."""

from bayesparse.theory.sdr import (
    false_match_probability,
    log_n_codes_with_overlap,
    noise_miss_probability,
    union_false_match_probability,
    union_size_distribution,
)
from bayesparse.theory.sdr_simulation import simulate_false_match, simulate_union_false_match

__all__ = [
    "log_n_codes_with_overlap",
    "false_match_probability",
    "noise_miss_probability",
    "union_size_distribution",
    "union_false_match_probability",
    "simulate_false_match",
    "simulate_union_false_match",
]
