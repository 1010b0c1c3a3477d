"""The row-count anomaly check of every monitored table: how a verdict is reached and recorded.

Bucket tables are judged inside their counting step (counting.py), right after the count, from
the history window of every table in the step read at once (rowcount_monitor/history.py). Tables that a dbt
model fills have a check of their own (`model_check`), judged on the totals the model records.
"""

from __future__ import annotations

import math

import dagster as dg
import pandas as pd

from ..cadence import BUCKET_STEP, PARTITION_FORMAT
from ..catalog import TableFacts
from ..config import TableConfig
from ..detection import DetectionPolicy, Verdict, evaluate_carried, evaluate_latest, required_history, score_series
from ..feedback import Feedback, feedback_for, policy_for
from ..history import buckets_needed, load_snapshot_history, recorded_windows
from ..naming import CHECK_NAME, entry_key
from ..plots import band_png, markdown_image

# Check metadata of a verdict given again on a bucket judged before (its count was re-counted):
# the alert sensor treats it as that bucket's news, not the check's current state.
REJUDGED = "rejudged"
# The picture in a check result shows this much history, and the band the check expected over
# the last BAND_SPAN of it: each band point is a walk-forward verdict (about 2 ms), so a band
# over all four weeks would cost over a second per picture.
PLOT_SPAN = pd.Timedelta(days=28)
BAND_SPAN = pd.Timedelta(days=7)


def severity_for(entry: TableConfig, verdict: Verdict) -> dg.AssetCheckSeverity:
    """Configured severity, else ERROR for a load that dropped to zero and WARN otherwise."""
    if entry.severity:
        return dg.AssetCheckSeverity(entry.severity)
    if verdict.is_anomaly and verdict.observed == 0:
        return dg.AssetCheckSeverity.ERROR
    return dg.AssetCheckSeverity.WARN


def readable(x: float) -> float:
    """Rounded for people: whole rows from 100 on, three significant digits below (a 0.3-row
    sparse table, a metric's share of 0.333)."""
    return float(round(x)) if abs(x) >= 100 else float(f"{float(x):.3g}")


def verdict_metadata(verdict: Verdict, policy: DetectionPolicy) -> dict:
    def num(x, digits=None):
        if not pd.notna(x):
            return dg.MetadataValue.text("n/a")
        if not math.isfinite(x):  # a band open on one side (a table whose bursts know no bound)
            return dg.MetadataValue.text("unbounded")
        return dg.MetadataValue.float(round(float(x), digits) if digits else readable(x))

    observed = (
        dg.MetadataValue.int(int(verdict.observed)) if float(verdict.observed).is_integer() else num(verdict.observed)
    )
    # what set the threshold: the false-alert budget, or a fixed sensitivity where one is set
    threshold = (
        {"false_alerts_per_1000": dg.MetadataValue.float(policy.false_alerts_per_1000)}
        if policy.model == "state" and policy.sensitivity is None
        else {"sensitivity": dg.MetadataValue.float(policy.k)}
    )
    return {
        "observed": observed,
        "expected": num(verdict.expected),
        "lower": num(verdict.lower),
        "upper": num(verdict.upper),
        "score": num(verdict.score, 2),
        "model": dg.MetadataValue.text(verdict.model),
        "n_history": dg.MetadataValue.int(verdict.n_history),
        **threshold,
    }


def band(result: dg.AssetCheckResult | None) -> dict:
    """What a verdict expected of its bucket (expected, lower, upper), as metadata of the
    bucket's materialization: Dagster plots an asset's metadata by partition, so the band reads
    by bucket time beside the count (a check's own metadata plots by when it ran)."""
    if result is None:
        return {}
    return {
        k: result.metadata[k]
        for k in ("expected", "lower", "upper")
        if isinstance(result.metadata.get(k), dg.FloatMetadataValue)
    }


def judge(
    entry: TableConfig,
    policy: DetectionPolicy,
    history: pd.Series,
    plots: str = "never",
    rejudged: bool = False,
    carried: dict[str, bytes | None] | None = None,
) -> dg.AssetCheckResult:
    """The check's verdict on the last bucket of `history`; with a picture when `plots` says
    so ("all", or "failures" and the check fails). `rejudged`: the bucket was judged before.
    `carried`: the tables' detection states by asset (HistoryCache.states); the verdict resumes
    from this table's and leaves the next one in its place."""
    name = entry_key(entry).to_user_string()
    if len(history) < 2:  # too short to tell the bucket spacing; the cadence says it
        needed = required_history(policy, BUCKET_STEP[entry.cadence])
        verdict = Verdict.unjudged(float(history.iloc[-1]), f"insufficient history (0 of {needed} buckets)")
    elif carried is not None:
        verdict, carried[name] = evaluate_carried(history, policy, carried.get(name))
    else:
        verdict = evaluate_latest(history, policy)
    metadata = verdict_metadata(verdict, policy)
    if rejudged:
        metadata[REJUDGED] = dg.MetadataValue.bool(True)
    if len(history) >= 2 and (plots == "all" or (plots == "failures" and verdict.is_anomaly)):
        metadata["plot"] = dg.MetadataValue.md(check_picture(entry, policy, history, verdict))
    return dg.AssetCheckResult(
        asset_key=entry_key(entry),
        check_name=CHECK_NAME,
        passed=not verdict.is_anomaly,
        severity=severity_for(entry, verdict),
        metadata=metadata,
        description=f"judged again: {verdict.reason}" if rejudged else verdict.reason,
    )


def check_picture(entry: TableConfig, policy: DetectionPolicy, history: pd.Series, verdict: Verdict) -> str:
    """The last four weeks, the band the check expected over the last week, the tested bucket."""
    last = history.index[-1]
    scores = score_series(history, policy, since=last - BAND_SPAN).loc[last - BAND_SPAN :]
    title = f"{entry.table}: {verdict.observed:,.0f} rows, expected {verdict.expected:,.0f}"
    return markdown_image(band_png(history.loc[last - PLOT_SPAN :], scores, title, size=(7, 2.6), dpi=80), "row counts")


def judge_partition(
    instance: dg.DagsterInstance,
    facts: TableFacts,
    partition: str,
    history: pd.Series | None = None,
    plots: str = "never",
    feedback: Feedback | None = None,
    rejudged: bool = False,
    carried: dict[str, bytes | None] | None = None,
) -> dg.AssetCheckResult:
    """The check's verdict on one bucket of a table, from its recorded history and feedback
    (read here unless given); `carried` as judge's."""
    entry = facts.entry
    name = entry_key(entry).to_user_string()
    if history is None:
        history = recorded_windows(instance, [facts], partition)[name]
    if feedback is None:
        feedback = feedback_for(instance, [name]).get(name)
    if history.empty or history.index[-1] != pd.to_datetime(partition, format=PARTITION_FORMAT[entry.cadence]):
        raise dg.Failure(f"no recorded row count for {entry.ref} bucket {partition}")
    return judge(entry, policy_for(entry, feedback), history, plots, rejudged, carried)


def model_check(entry: TableConfig) -> dg.AssetChecksDefinition:
    """The row-count check of a table that another asset (a dbt model) materializes: judged on
    the row counts that asset records, one per run, bucketed by the entry's cadence."""
    policy = policy_for(entry)
    key = entry_key(entry)
    needed = buckets_needed(entry, policy)

    @dg.asset_check(
        asset=key,
        name=CHECK_NAME,
        description=f"Is the newest total row count of {entry.ref} normal for its {entry.cadence} pattern?",
    )
    def _check(context):
        history = load_snapshot_history(context.instance, key, entry, needed)
        if history.empty:
            raise dg.Failure(f"no recorded row count for {entry.ref}")
        return judge(entry, policy, history)

    return _check
