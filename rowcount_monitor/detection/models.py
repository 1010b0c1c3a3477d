"""What every forecasting model shares (the history a check reads, robust medians, the Fit),
and the statsmodels models STL and SARIMAX. Each model takes the model-space history (the tested
bucket last, NaN for missing or excluded buckets) and returns the expected value and a robust
spread for the tested bucket. They never see Dagster, files or timestamps: only numbers on a
regular bucket grid.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

# A seasonal period is used once this many whole cycles of history exist.
MIN_CYCLES = 3
# Cycles of every period a check reads beyond the training window: each slot of the rhythm is
# seen this many more times (history_reach).
BASE_CYCLES = 5
# Training window, in cycles of the shortest period (14 days of hourly buckets).
TRAINING_CYCLES = 14
# Training window when a series has no seasonal period.
NONSEASONAL_WINDOW = 60
# A robust spread never falls below this (model-space units): a constant series has zero
# spread and would otherwise flag every change of one row.
MIN_SCALE = 0.02
# The shortest run of loads the run test judges together.
SHORT_RUN = 3
_MAD_TO_SD = 1.4826


@dataclass(frozen=True)
class Fit:
    """A one-step forecast in model space."""

    expected: float
    scale: float
    run_score: float  # joint deviation of the last `horizon` buckets, on the bucket score's scale
    horizon: int
    label: str
    upper_k: float | None = None  # the upper band's reach in sigmas, where it differs from sensitivity
    shift_at: int | None = None  # position (in the model's input) where an accepted level change began
    shift: float | None = None  # its size, as a factor of the rows expected before it
    bursty: bool = False  # the upper band was widened for the table's routine bursts


def training_window(periods: tuple[int, ...]) -> int:
    return TRAINING_CYCLES * min(periods) if periods else NONSEASONAL_WINDOW


def history_reach(periods: tuple[int, ...]) -> int:
    """How many buckets back any model looks: older history cannot change a verdict."""
    return training_window(periods) + run_horizon(periods) + BASE_CYCLES * sum(periods) + 2


def run_horizon(periods: tuple[int, ...]) -> int:
    """The longest run the run test looks at: a quarter of the shortest cycle, 3 to 6 buckets."""
    return min(max(min(periods) // 4, 3), 6) if periods else SHORT_RUN


def usable_periods(z: np.ndarray, periods: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(p for p in periods if len(z) - 1 >= MIN_CYCLES * p)


def robust_center_scale(x: np.ndarray) -> tuple[float, float]:
    """Median and MAD-based standard deviation, ignoring NaN."""
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return 0.0, MIN_SCALE
    med = _median(x)
    return med, max(_MAD_TO_SD * _median(np.abs(x - med)), MIN_SCALE)


def nan_median(x: np.ndarray) -> float:
    """The median ignoring NaN (NaN when there is nothing), without np.nanmedian's overhead."""
    x = x[~np.isnan(x)]
    return _median(x) if len(x) else float("nan")


def _median(x: np.ndarray) -> float:
    """np.median without its generality overhead (this runs thousands of times a second)."""
    half = len(x) // 2
    if len(x) % 2:
        return float(np.partition(x, half)[half])
    part = np.partition(x, (half - 1, half))
    return float(part[half - 1] + part[half]) / 2.0


def _interpolated(z: np.ndarray) -> np.ndarray:
    """Linear interpolation over NaN (STL and SARIMAX need a gap-free series)."""
    good = ~np.isnan(z)
    if good.all():
        return z
    idx = np.arange(len(z))
    return np.interp(idx, idx[good], z[good])


def fit_stl(z: np.ndarray, periods: tuple[int, ...]) -> Fit | None:
    """statsmodels STL (one period) or MSTL (several), robust fitting, on the training window.

    The forecast is the last trend value plus the seasonal component one cycle back; the spread
    is the MAD of STL's remainder.
    """
    from statsmodels.tsa.seasonal import MSTL, STL

    usable = usable_periods(z, periods)
    if not usable:
        return None
    window = max(training_window(usable), 2 * max(usable) + 1)
    train = _interpolated(z[:-1][-window:])
    if len(usable) == 1:
        result = STL(train, period=usable[0], robust=True).fit()
        seasonal_next = result.seasonal[-usable[0]]
    else:
        result = MSTL(train, periods=list(usable), stl_kwargs={"robust": True}).fit()
        seasonal = np.asarray(result.seasonal).reshape(len(train), -1)
        seasonal_next = sum(seasonal[-p, i] for i, p in enumerate(usable))
    _, scale = robust_center_scale(np.asarray(result.resid))
    trend = np.asarray(result.trend)
    expected = float(trend[-1] + seasonal_next)
    return Fit(expected, scale, 0.0, 1, f"stl(periods={','.join(map(str, usable))})")


def fit_sarimax(z: np.ndarray, periods: tuple[int, ...]) -> Fit | None:
    """statsmodels SARIMAX(1,d,1)(1,0,0)[p] on the training window, p the shortest period.

    d (0 or 1) comes from an augmented Dickey-Fuller test: a unit root (p-value >= 0.05) means
    the level wanders and the series is differenced. The spread is the MAD of the one-step
    in-sample residuals (skipping the first cycle, where the filter is still settling).
    """
    from statsmodels.tsa.statespace.sarimax import SARIMAX
    from statsmodels.tsa.stattools import adfuller

    usable = usable_periods(z, periods)
    period = min(usable) if usable else 0
    window = training_window(usable)
    train = _interpolated(z[:-1][-window:])
    if len(train) < 20:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spread = np.ptp(train)
        d = 0 if spread == 0 or adfuller(train, autolag="AIC")[1] < 0.05 else 1
        seasonal_order = (1, 0, 0, period) if period else (0, 0, 0, 0)
        model = SARIMAX(train, order=(1, d, 1), seasonal_order=seasonal_order, trend="c" if d == 0 else "n")
        result = model.fit(disp=False, maxiter=50)
        expected = float(result.forecast(1)[0])
    _, scale = robust_center_scale(np.asarray(result.resid)[max(period, 1) :])
    return Fit(expected, scale, 0.0, 1, f"sarimax(d={d},period={period or 'none'})")
