"""Variance-stabilising transforms: the detector works on transformed values.

Row counts behave like over-dispersed Poisson (negative-binomial) counts: at small counts the
noise is about sqrt(count), at large counts it is proportional to the count. The negative-binomial
variance-stabilising transform 2/sqrt(phi) * asinh(sqrt(phi * x)) is sqrt-like below ~1/phi rows
and log-like above it, so one robust standard deviation means "typical noise" at 5 rows and at
5 million rows alike: a 10 % band at 1M rows, not +-3 rows.
"""

from __future__ import annotations

import numpy as np

# Crossover between the Poisson (sqrt) and multiplicative (log) regimes, about 1/PHI = 33 rows.
PHI = 0.03
_ROOT = np.sqrt(PHI)


def to_model_space(values: np.ndarray, counts: bool) -> np.ndarray:
    """Forward transform; identity for signed series."""
    if not counts:
        return values.astype(float)
    return 2.0 / _ROOT * np.arcsinh(np.sqrt(PHI * values))


def from_model_space(z: np.ndarray | float, counts: bool) -> np.ndarray | float:
    """Inverse transform; counts below zero are clamped to zero rows."""
    if not counts:
        return z
    return np.sinh(np.maximum(z, 0.0) * _ROOT / 2.0) ** 2 / PHI
