"""The knobs of a row-count anomaly test and the verdict it returns.

Every default is explained in docs/detection.md; they are meant to be good without tuning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, get_args

import pandas as pd

from .calendar import check_calendar, check_zone

ModelName = Literal["auto", "state", "stl", "sarimax"]
MODEL_NAMES: tuple[str, ...] = get_args(ModelName)
# The threshold of the STL and SARIMAX models where no sensitivity is set.
DEFAULT_SENSITIVITY = 4.0
Direction = Literal["both", "drop", "spike"]
ValueType = Literal["auto", "count", "signed"]


@dataclass(frozen=True)
class DetectionPolicy:
    """How one table's row counts are judged.

    model: "auto" (the default, the "state" model: level x seasonal profile on the count scale,
        carried from bucket to bucket by a filter, with a false-alert budget; docs/detection.md),
        "state", "stl" (statsmodels STL/MSTL) or "sarimax" (statsmodels SARIMAX, ADF-chosen
        differencing; slow, for backtests and small fleets).
    seasonality: "auto" (chosen from the bucket spacing and the data), None (no seasonal
        pattern) or periods in buckets, e.g. (24, 168) for hour-of-day and hour-of-week.
    sensitivity: how many robust standard deviations a count may stray before it is anomalous
        (None: the model's default; for "state", the threshold the false-alert budget gives).
    false_alerts_per_1000: the "state" model's false-alert budget: alerts on normal loads per
        1,000 buckets judged, which it calibrates its threshold to from each table's own
        forecast errors (`sensitivity`, where set, overrides it).
    direction: "both", "drop" (only too few rows) or "spike" (only too many).
    min_history: buckets needed before a band; None means two cycles of the shortest seasonal
        period and one of the longest (168 hourly buckets, 14 daily loads; three cycles for STL
        and SARIMAX: 21 daily loads), or 14 buckets without a season.
    min_relative_change: changes smaller than this fraction of the expected count never alert.
    exclude: (start, end) periods, inclusive, left out of training (holidays, known
        incidents); a bucket inside one is never flagged.
    fail_on_zero: a zero count in a series that is (almost) never zero is a drop anomaly.
    min_anomalies, window: the M-of-N rule: flag only when at least M of the last N buckets
        are anomalous on their own (default 1 of 1).
    value_type: "count" (non-negative; negatives are an error), "signed" (any real value,
        e.g. rows added between snapshots) or "auto" (count unless the series has negatives).
    holidays: holiday calendars, country codes with an optional subdivision ("US", "DE-BY"):
        buckets on their public holidays (and in the year-end week) leave training and are
        reported, not flagged.
    accepted_changes: bucket timestamps from which the user declared the level the new normal
        (`rowcount-monitor accept`): history before the latest one is re-levelled to it.
    expected: buckets the user called normal (`rowcount-monitor feedback ... expected`): never
        masked from training, never flagged.
    incidents: buckets the user called incidents: never used as training data.
    timezone: the IANA zone the table's business keeps time in (None: the series' own clock).
        Sub-daily buckets stay UTC instants: they are named in its local time ("a Monday 09:00
        EST load"), fall on holidays by its local date, and the daily rhythm is expected to move
        at its daylight-saving changes (without a zone: the United States' and the European
        Union's). Daily and coarser buckets are read as its local dates already.
    """

    model: ModelName = "auto"
    seasonality: Literal["auto"] | None | tuple[int, ...] = "auto"
    sensitivity: float | None = None
    false_alerts_per_1000: float = 0.25
    direction: Direction = "both"
    min_history: int | None = None
    min_relative_change: float = 0.1
    exclude: tuple[tuple[pd.Timestamp, pd.Timestamp], ...] = ()
    fail_on_zero: bool = True
    min_anomalies: int = 1
    window: int = 1
    value_type: ValueType = "auto"
    holidays: tuple[str, ...] = ()
    accepted_changes: tuple[pd.Timestamp, ...] = ()
    expected: tuple[pd.Timestamp, ...] = ()
    incidents: tuple[pd.Timestamp, ...] = ()
    timezone: str | None = None

    def __post_init__(self) -> None:
        self._check_choices()
        self._check_numbers()
        self._normalise_periods()
        if isinstance(self.holidays, str):
            object.__setattr__(self, "holidays", (self.holidays,))
        object.__setattr__(self, "holidays", tuple(self.holidays))
        for calendar in self.holidays:
            check_calendar(calendar)
        if self.timezone is not None:
            check_zone(self.timezone)
        for name in ("accepted_changes", "expected", "incidents"):
            object.__setattr__(self, name, tuple(sorted(pd.Timestamp(t) for t in getattr(self, name))))

    def _check_choices(self) -> None:
        if self.model not in MODEL_NAMES:
            names = ", ".join(MODEL_NAMES[:-1]) + f" or {MODEL_NAMES[-1]}"
            raise ValueError(f"model must be {names}, not {self.model!r}")
        if self.model == "auto":
            object.__setattr__(self, "model", "state")
        if self.direction not in ("both", "drop", "spike"):
            raise ValueError(f"direction must be both, drop or spike, not {self.direction!r}")
        if self.value_type not in ("auto", "count", "signed"):
            raise ValueError(f"value_type must be auto, count or signed, not {self.value_type!r}")

    def _check_numbers(self) -> None:
        if self.sensitivity is not None and not self.sensitivity > 0:
            raise ValueError(f"sensitivity must be positive, not {self.sensitivity!r}")
        if not 0 < self.false_alerts_per_1000 < 1000:
            raise ValueError(f"false_alerts_per_1000 must be in (0, 1000), not {self.false_alerts_per_1000!r}")
        if not 0 <= self.min_relative_change < 10:
            raise ValueError(f"min_relative_change must be in [0, 10), not {self.min_relative_change!r}")
        if self.min_history is not None and self.min_history < 3:
            raise ValueError(f"min_history must be at least 3 buckets, not {self.min_history!r}")
        if not 1 <= self.min_anomalies <= self.window:
            raise ValueError(f"M-of-N needs 1 <= min_anomalies <= window, got {self.min_anomalies} of {self.window}")

    def _normalise_periods(self) -> None:
        """Seasonality as a tuple of periods (or "auto", None), exclude as (start, end) Timestamps."""
        seasonality = self.seasonality
        if isinstance(seasonality, list):
            seasonality = tuple(seasonality)
            object.__setattr__(self, "seasonality", seasonality)
        if isinstance(seasonality, tuple):
            if not seasonality or any(not isinstance(p, int) or p < 2 for p in seasonality):
                raise ValueError(f"seasonality periods must be integers >= 2, not {seasonality!r}")
        elif seasonality not in ("auto", None):
            raise ValueError(f"seasonality must be 'auto', None or a list of periods, not {seasonality!r}")
        periods = []
        for item in self.exclude:
            start, end = (pd.Timestamp(t) for t in item)
            if end < start:
                raise ValueError(f"exclude period ends before it starts: {start} > {end}")
            periods.append((start, end))
        object.__setattr__(self, "exclude", tuple(periods))

    @property
    def k(self) -> float:
        """The fixed threshold, in standard deviations, of the models that have one."""
        return DEFAULT_SENSITIVITY if self.sensitivity is None else self.sensitivity


@dataclass(frozen=True)
class Verdict:
    """The judgement of the newest bucket. Bounds and expected are in rows (or the series' unit).

    `is_anomaly` applies the M-of-N rule (and a sparse table's hold: engine.SPARSE_HOLD);
    `raw_anomaly` says whether this bucket alone is anomalous. `span` is how many buckets the
    verdict judged together: a sparse table's cycle total, 1 otherwise (and 1 where the bucket
    was not judged: a holiday, an excluded period, feedback).
    """

    is_anomaly: bool
    observed: float
    expected: float
    lower: float
    upper: float
    score: float
    model: str
    n_history: int
    reason: str
    raw_anomaly: bool = field(default=False, repr=False)
    span: int = field(default=1, repr=False)

    @classmethod
    def unjudged(cls, observed: float, reason: str, model: str = "none", n_history: int = 0) -> Verdict:
        """No verdict on the bucket (too little history, no fit): no band, never an anomaly."""
        nan = float("nan")
        return cls(False, observed, nan, nan, nan, nan, model, n_history, reason)
