"""The spec's "Uncertainty and movement" rules: Wilson intervals and the pooled two-proportion z-test.

Vectorised over numpy arrays (a breakdown table scores every segment in one call). The statistics
come from statsmodels; this module only adds the spec's minimum-sample rule and NULL handling.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# No verdict when either side has fewer than this many in its denominator or numerator.
MIN_DENOMINATOR = 30
MIN_NUMERATOR = 5
MOVEMENT_LEVEL = 0.99


def wilson_interval(successes, trials, confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper Wilson score bounds; NaN where trials is 0."""
    from statsmodels.stats.proportion import proportion_confint  # ~1.5 s to import: only when used

    successes = np.asarray(successes, dtype=float)
    trials = np.asarray(trials, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        safe_trials = np.where(trials > 0, trials, 1.0)
        low, high = proportion_confint(successes, safe_trials, alpha=1 - confidence, method="wilson")
    low = np.where(trials > 0, low, np.nan)
    high = np.where(trials > 0, high, np.nan)
    return low, high


@dataclass(frozen=True)
class ProportionTest:
    """Result of comparing two proportions; arrays when called on arrays."""

    z: np.ndarray
    p_value: np.ndarray
    has_verdict: np.ndarray  # False where the minimum sample rule withholds a verdict
    significant: np.ndarray  # True only where has_verdict and p < 1 - level


def two_proportion_test(successes_a, trials_a, successes_b, trials_b, level: float = 0.95) -> ProportionTest:
    """Two-sided pooled two-proportion z-test with the spec's minimum-sample rule."""
    # The normal tail as scipy.stats.norm.sf computes it (ndtr(-z)), without importing scipy.stats
    # (~0.5 s: the brief step of every run paid it).
    from scipy.special import ndtr

    xa, na, xb, nb = (np.asarray(v, dtype=float) for v in (successes_a, trials_a, successes_b, trials_b))
    with np.errstate(invalid="ignore", divide="ignore"):
        pooled = (xa + xb) / (na + nb)
        standard_error = np.sqrt(pooled * (1 - pooled) * (1 / na + 1 / nb))
        z = (xa / na - xb / nb) / standard_error
        z = np.where(standard_error > 0, z, 0.0)
        p_value = 2 * ndtr(-np.abs(z))
    has_verdict = (na >= MIN_DENOMINATOR) & (nb >= MIN_DENOMINATOR) & (xa >= MIN_NUMERATOR) & (xb >= MIN_NUMERATOR)
    significant = has_verdict & (p_value < 1 - level)
    return ProportionTest(z=z, p_value=p_value, has_verdict=has_verdict, significant=significant)
