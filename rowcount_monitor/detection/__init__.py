"""Seasonal row-count anomaly tests on a pandas Series: pure statistics, no Dagster, no I/O.

    from rowcount_monitor.detection import DetectionPolicy, evaluate_latest, score_series

`evaluate_latest` judges the newest bucket of a history; `score_series` replays a whole
history walk-forward with exactly the same judgement per row. See docs/detection.md.
"""

from .engine import evaluate_latest, required_history, score_series
from .policy import DetectionPolicy, Verdict

__all__ = ["DetectionPolicy", "Verdict", "evaluate_latest", "required_history", "score_series"]
