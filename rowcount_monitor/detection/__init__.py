"""Seasonal row-count anomaly tests on a pandas Series: pure statistics, no Dagster, no I/O.

    from rowcount_monitor.detection import DetectionPolicy, evaluate_latest, score_series

`evaluate_latest` judges the newest bucket of a history; `evaluate_carried` does so for a check
that runs on every new bucket, carrying the model's state from one call to the next;
`score_series` replays a whole history walk-forward with exactly the same judgement per row.
See docs/detection.md.
"""

from .engine import evaluate_carried, evaluate_latest, required_history, score_series
from .policy import DetectionPolicy, Verdict

__all__ = ["DetectionPolicy", "Verdict", "evaluate_carried", "evaluate_latest", "required_history", "score_series"]
