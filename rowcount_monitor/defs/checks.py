"""The row-count anomaly check of every monitored table: how a verdict is reached and recorded.

Bucket tables are judged inside their counting step (counting.py), right after the count, from
the history window of every table in the step read at once (history.py). Tables that a dbt
model fills have a check of their own (`model_check`), judged on the totals the model records.
"""

from __future__ import annotations

from dataclasses import replace

import dagster as dg
import pandas as pd

from ..config import TableConfig
from ..detection import DetectionPolicy, Verdict, evaluate_latest, required_history, score_series
from ..detection.models import history_reach
from ..detection.seasonality import resolve_periods
from ..plots import band_png, markdown_image
from .cadence import BUCKET_STEP, PARTITION_FORMAT, local_zone
from .catalog import TableFacts
from .feedback import Feedback, feedback_for
from .history import HistoryCache
from .measures import is_metric, value_key
from .naming import entry_key

CHECK_NAME = "row_count_anomaly"
# Check metadata of a verdict given again on a bucket judged before (its count was re-counted):
# the alert sensor treats it as that bucket's news, not the check's current state.
REJUDGED = "rejudged"
# The picture in a check result shows this much history, and the band the check expected over
# the last BAND_SPAN of it: each band point is a walk-forward verdict (about 2 ms), so a band
# over all four weeks would cost over a second per picture.
PLOT_SPAN = pd.Timedelta(days=28)
BAND_SPAN = pd.Timedelta(days=7)


def check_executions(storage, key: dg.AssetCheckKey, status=None, first_page: int = 500):
    """A check's execution records, newest first, read from the event log a page at a time.
    Pages start at `first_page` records and double up to 500: a reader that wants only the
    newest few (the alert sensor, each pass) does not decode a check's whole history."""
    cursor, page = None, first_page
    while True:
        records = storage.get_asset_check_execution_history(key, limit=page, cursor=cursor, status=status)
        yield from records
        if len(records) < page:
            return
        cursor, page = records[-1].id, min(2 * page, 500)


def policy_for(entry: TableConfig, feedback: Feedback | None = None) -> DetectionPolicy:
    """The table's configured policy, in its time zone, with what people said about its buckets
    (feedback.py)."""
    policy = entry.policy.to_policy(entry.value_type if is_metric(entry) else "count")
    if local_zone(entry.timezone):
        policy = replace(policy, timezone=entry.timezone)
    return feedback.apply(policy) if feedback is not None else policy


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


def judge(
    entry: TableConfig, policy: DetectionPolicy, history: pd.Series, plots: str = "never", rejudged: bool = False
) -> dg.AssetCheckResult:
    """The check's verdict on the last bucket of `history`; with a picture when `plots` says
    so ("all", or "failures" and the check fails). `rejudged`: the bucket was judged before."""
    if len(history) < 2:  # too short to tell the bucket spacing; the cadence says it
        needed = required_history(policy, BUCKET_STEP[entry.cadence])
        verdict = Verdict.unjudged(float(history.iloc[-1]), f"insufficient history (0 of {needed} buckets)")
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


def buckets_needed(entry: TableConfig, policy: DetectionPolicy) -> int:
    """How many buckets before the tested one can change its verdict."""
    periods = resolve_periods(policy.seasonality, BUCKET_STEP[entry.cadence])
    return history_reach(periods) + policy.window


def window_start(entry: TableConfig, last: pd.Timestamp, start: pd.Timestamp, n: int) -> pd.Timestamp:
    """The first of the `n` buckets ending at `last`, not before the table's first load."""
    return max(start, last - (n - 1) * BUCKET_STEP[entry.cadence])


def history_keys(entry: TableConfig, partition: str, start: pd.Timestamp, n: int) -> list[str]:
    fmt = PARTITION_FORMAT[entry.cadence]
    last = pd.Timestamp(pd.to_datetime(partition, format=fmt))
    return (
        pd.date_range(window_start(entry, last, start, n), last, freq=BUCKET_STEP[entry.cadence]).strftime(fmt).tolist()
    )


def load_history(instance: dg.DagsterInstance, key: dg.AssetKey, entry: TableConfig, keys: list[str]) -> pd.Series:
    """The recorded row counts of the given partitions, in one event-log query; the newest
    materialization of a partition wins. Buckets never recorded are absent (gaps)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=keys), limit=min(10_000, 4 * len(keys))
    ).records
    counts: dict[str, float] = {}
    for record in records:  # newest first
        value = record.asset_materialization.metadata.get(value_key(entry))
        if record.partition_key not in counts and value is not None:
            counts[record.partition_key] = float(value.value)
    fmt = PARTITION_FORMAT[entry.cadence]
    index = pd.DatetimeIndex([pd.to_datetime(k, format=fmt) for k in keys if k in counts])
    return pd.Series([counts[k] for k in keys if k in counts], index=index, dtype=float)


def load_snapshot_history(instance: dg.DagsterInstance, key: dg.AssetKey, entry: TableConfig, n: int) -> pd.Series:
    """Total row counts of the last `n` snapshots, one per cadence bucket (the newest wins)."""
    records = instance.fetch_materializations(key, limit=min(10_000, 2 * n)).records
    counts: dict[pd.Timestamp, float] = {}
    for record in records:  # newest first
        value = record.asset_materialization.metadata.get("dagster/row_count")
        bucket = pd.Timestamp(record.timestamp, unit="s").floor(BUCKET_STEP[entry.cadence])
        if value is not None and bucket not in counts:
            counts[bucket] = float(value.value)
    return pd.Series(counts, dtype=float).sort_index()


def recorded_windows(instance: dg.DagsterInstance, tables: list[TableFacts], partition: str) -> dict[str, pd.Series]:
    """Every table's recorded counts over the window its check of bucket `partition` reads,
    keyed by asset (user string). From the history cache in one query where the instance has
    one (tables it has not seen yet are rebuilt from the event log first), else from the event
    log, a query per table."""
    if not tables:
        return {}
    last = pd.to_datetime(partition, format=PARTITION_FORMAT[tables[0].entry.cadence])
    windows = {
        entry_key(f.entry).to_user_string(): (
            f,
            window_start(f.entry, last, f.start, buckets_needed(f.entry, policy_for(f.entry))),
        )
        for f in tables
    }
    cache = HistoryCache.for_instance(instance)
    unseen = set(windows) if cache is None else set(windows) - cache.complete(list(windows))
    from_log = {}
    for name in unseen:
        f, first = windows[name]
        keys = history_keys(f.entry, partition, first, 1 + int((last - first) / BUCKET_STEP[f.entry.cadence]))
        from_log[name] = load_history(instance, dg.AssetKey.from_user_string(name), f.entry, keys)
        if cache is not None:
            cache.record([(name, t, n) for t, n in from_log[name].items()], complete=[name])
    if cache is None:
        return from_log
    read = cache.read(list(windows), min(first for _, first in windows.values()), last)
    return {name: series.loc[windows[name][1] :] for name, series in read.items()}


def judge_partition(
    instance: dg.DagsterInstance,
    facts: TableFacts,
    partition: str,
    history: pd.Series | None = None,
    plots: str = "never",
    feedback: Feedback | None = None,
    rejudged: bool = False,
) -> dg.AssetCheckResult:
    """The check's verdict on one bucket of a table, from its recorded history and feedback
    (read here unless given)."""
    entry = facts.entry
    name = entry_key(entry).to_user_string()
    if history is None:
        history = recorded_windows(instance, [facts], partition)[name]
    if feedback is None:
        feedback = feedback_for(instance, [name]).get(name)
    if history.empty or history.index[-1] != pd.to_datetime(partition, format=PARTITION_FORMAT[entry.cadence]):
        raise dg.Failure(f"no recorded row count for {entry.ref} bucket {partition}")
    return judge(entry, policy_for(entry, feedback), history, plots, rejudged)


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
