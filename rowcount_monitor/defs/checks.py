"""The row-count anomaly check of every monitored table.

Each check runs in the same run as the table's materialization (Dagster includes an asset's
checks when the asset is selected), reads the table's recent `dagster/row_count` history from
the instance in one query, and judges the new bucket with rowcount_monitor.detection.
"""
from __future__ import annotations

import warnings

import dagster as dg
import pandas as pd

from ..config import TableConfig
from ..detection import DetectionPolicy, Verdict, evaluate_latest, required_history
from ..detection.models import history_reach
from ..detection.seasonality import resolve_periods
from .catalog import TableFacts
from .cadence import BUCKET_STEP, PARTITION_FORMAT
from .tables import asset_key, partitions_for

CHECK_NAME = "row_count_anomaly"


def check_executions(storage, key: dg.AssetCheckKey, status=None, page: int = 500):
    """A check's execution records, newest first, read from the event log a page at a time."""
    cursor = None
    while True:
        records = storage.get_asset_check_execution_history(key, limit=page, cursor=cursor, status=status)
        yield from records
        if len(records) < page:
            return
        cursor = records[-1].id


def policy_for(entry: TableConfig) -> DetectionPolicy:
    return entry.policy.to_policy("count")


def severity_for(entry: TableConfig, verdict: Verdict) -> dg.AssetCheckSeverity:
    """Configured severity, else ERROR for a load that dropped to zero and WARN otherwise."""
    if entry.severity:
        return dg.AssetCheckSeverity(entry.severity)
    if verdict.is_anomaly and verdict.observed == 0:
        return dg.AssetCheckSeverity.ERROR
    return dg.AssetCheckSeverity.WARN


def verdict_metadata(verdict: Verdict, policy: DetectionPolicy) -> dict:
    def num(x):
        return dg.MetadataValue.float(float(x)) if pd.notna(x) else dg.MetadataValue.text("n/a")

    return {
        "observed": num(verdict.observed), "expected": num(verdict.expected),
        "lower": num(verdict.lower), "upper": num(verdict.upper), "score": num(verdict.score),
        "model": dg.MetadataValue.text(verdict.model), "n_history": dg.MetadataValue.int(verdict.n_history),
        "sensitivity": dg.MetadataValue.float(policy.sensitivity),
    }


def judge(entry: TableConfig, policy: DetectionPolicy, history: pd.Series) -> dg.AssetCheckResult:
    """The check's verdict on the last bucket of `history`."""
    if len(history) < 2:  # too short to tell the bucket spacing; the cadence says it
        nan = float("nan")
        needed = required_history(policy, BUCKET_STEP[entry.cadence])
        verdict = Verdict(False, float(history.iloc[-1]), nan, nan, nan, nan, "none", 0,
                          f"insufficient history (0 of {needed} buckets)")
    else:
        verdict = evaluate_latest(history, policy)
    return check_result(entry, policy, verdict)


def check_result(entry: TableConfig, policy: DetectionPolicy, verdict: Verdict) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=not verdict.is_anomaly, severity=severity_for(entry, verdict),
        metadata=verdict_metadata(verdict, policy), description=verdict.reason)


def buckets_needed(entry: TableConfig, policy: DetectionPolicy) -> int:
    """How many buckets before the tested one can change its verdict."""
    periods = resolve_periods(policy.seasonality, BUCKET_STEP[entry.cadence])
    return history_reach(periods) + policy.window


def history_keys(entry: TableConfig, partition: str, start: pd.Timestamp, n: int) -> list[str]:
    fmt = PARTITION_FORMAT[entry.cadence]
    last = pd.Timestamp(pd.to_datetime(partition, format=fmt))
    first = max(start, last - (n - 1) * BUCKET_STEP[entry.cadence])
    return [t.strftime(fmt) for t in pd.date_range(first, last, freq=BUCKET_STEP[entry.cadence])]


def load_history(instance: dg.DagsterInstance, key: dg.AssetKey, entry: TableConfig,
                 keys: list[str]) -> pd.Series:
    """The recorded row counts of the given partitions, in one event-log query; the newest
    materialization of a partition wins. Buckets never recorded are absent (gaps)."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=keys), limit=min(10_000, 4 * len(keys))).records
    counts: dict[str, int] = {}
    for record in records:  # newest first
        value = record.asset_materialization.metadata.get("dagster/row_count")
        if record.partition_key not in counts and value is not None:
            counts[record.partition_key] = int(value.value)
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


def judge_partition(instance: dg.DagsterInstance, facts: TableFacts, partition: str) -> dg.AssetCheckResult:
    """The check's verdict on one bucket of a table, from the history recorded in `instance`."""
    entry = facts.entry
    policy = policy_for(entry)
    keys = history_keys(entry, partition, facts.start, buckets_needed(entry, policy))
    history = load_history(instance, asset_key(entry.warehouse, entry.ref), entry, keys)
    if history.empty or history.index[-1] != pd.to_datetime(partition, format=PARTITION_FORMAT[entry.cadence]):
        raise dg.Failure(f"no recorded row count for {entry.ref} bucket {partition}")
    return judge(entry, policy, history)


def table_check(facts: TableFacts) -> dg.AssetChecksDefinition:
    entry = facts.entry
    key = asset_key(entry.warehouse, entry.ref)
    if facts.start is None:
        return model_check(entry)

    def _check(context):
        return judge_partition(context.instance, facts, context.partition_key)

    # Partitioned asset checks (one verdict per load bucket) are a preview feature of Dagster
    # 1.13; they are exactly what this check needs, so the warning repeated per table is muted.
    # `blocking` is applied at the dbt boundary (dbt.py), model by model: Dagster's own blocking
    # would stop the whole dbt step, every model with it.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.asset_check(
            asset=key, name=CHECK_NAME, partitions_def=partitions_for(facts),
            description=(f"Is the newest {entry.cadence} row count of {entry.ref} normal for its hour, "
                         "weekday and trend? Judged against the table's own recorded history."),
        )(_check)


def model_check(entry: TableConfig) -> dg.AssetChecksDefinition:
    """The row-count check of a table that another asset (a dbt model) materializes: judged on
    the row counts that asset records, one per run, bucketed by the entry's cadence."""
    policy = policy_for(entry)
    key = asset_key(entry.warehouse, entry.ref)
    needed = buckets_needed(entry, policy)

    @dg.asset_check(
        asset=key, name=CHECK_NAME,
        description=f"Is the newest total row count of {entry.ref} normal for its {entry.cadence} pattern?",
    )
    def _check(context):
        history = load_snapshot_history(context.instance, key, entry, needed)
        if history.empty:
            raise dg.Failure(f"no recorded row count for {entry.ref}")
        return judge(entry, policy, history)

    return _check
