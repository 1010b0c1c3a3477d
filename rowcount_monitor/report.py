"""What the command line tells about the monitored tables, read from the Dagster instance:
`status` (the latest verdict of every table), `anomalies` (failed checks since a time) and
`explain` (one table's latest verdict in words)."""

from __future__ import annotations

import itertools
import time
from dataclasses import asdict, dataclass

import dagster as dg
import pandas as pd

from .cadence import bucket_span
from .dagster_records import (
    Status,
    check_executions,
    evaluation_of,
    latest_executions,
    newest_bucket_executions,
    partition_of,
)
from .naming import CHECK_NAME

_NUMBERS = ("observed", "expected", "lower", "upper", "score")


@dataclass
class Row:
    table: str
    bucket: str | None
    verdict: str  # ok | failing | no verdict
    observed: float | None = None
    expected: float | None = None
    lower: float | None = None
    upper: float | None = None
    score: float | None = None
    failing_since: str | None = None
    reason: str = ""
    checked_at: float | None = None
    severity: str | None = None  # of the verdict: WARN or ERROR

    def as_dict(self) -> dict:
        return asdict(self)


def _row(table: str, record) -> Row:
    ev = evaluation_of(record)
    numbers = {
        k: ev.metadata[k].value for k in _NUMBERS if k in ev.metadata and isinstance(ev.metadata[k].value, (int, float))
    }
    return Row(
        table,
        ev.partition,
        "ok" if ev.passed else "failing",
        reason=ev.description or "",
        checked_at=record.create_timestamp,
        severity=ev.severity.value,
        **numbers,
    )


def row_count_checks(defs: dg.Definitions) -> dict[dg.AssetCheckKey, str]:
    """Every row-count check of the code location, labelled by its asset key."""
    graph = defs.get_repository_def().asset_graph
    return {key: key.asset_key.to_user_string() for key in graph.asset_check_keys if key.name == CHECK_NAME}


def latest_verdicts(instance: dg.DagsterInstance, checks: dict[dg.AssetCheckKey, str]) -> dict[dg.AssetCheckKey, Row]:
    """The verdict of every check's newest bucket (`no verdict` where it never ran), in two
    queries for all checks: each check's latest evaluation, and for checks with buckets the
    newest evaluation of the newest bucket (the latest is not always of it: a backfill may judge
    older buckets after it, and late rows re-judge one)."""
    latest = latest_executions(instance, list(checks))
    bucketed = [k for k, r in latest.items() if r is not None and r.event is not None and partition_of(r) is not None]
    newest = newest_bucket_executions(instance, bucketed)
    rows = {}
    for key, table in checks.items():
        record = latest.get(key)
        if record is None or record.event is None:
            rows[key] = Row(table, None, "no verdict")
            continue
        rows[key] = _row(table, newest.get(key, record))
    return rows


def status(instance: dg.DagsterInstance, checks: dict[dg.AssetCheckKey, str]) -> list[Row]:
    """The latest verdict per table and, for failing ones, the first bucket of the failing run."""
    latest = latest_verdicts(instance, checks)
    for key, row in latest.items():
        if row.verdict == "failing":
            row.failing_since = _failing_since(instance, key, row.bucket)
    return sorted(latest.values(), key=lambda r: r.table)


def _failing_since(instance: dg.DagsterInstance, key: dg.AssetCheckKey, bucket: str | None) -> str | None:
    """The first bucket of the run of failed buckets that ends at `bucket` (each bucket's latest
    verdict; None for a check without buckets: its first failed evaluation in a row)."""
    since, verdicts = None, {}
    for record in check_executions(instance, key):
        if record.status not in (Status.SUCCEEDED, Status.FAILED):
            continue
        partition = partition_of(record)
        if bucket is not None and (partition is None or partition > bucket or partition in verdicts):
            continue
        verdicts[partition] = record.status == Status.FAILED
        if bucket is None:
            if not verdicts[partition]:
                break
            since = partition
    if bucket is None:
        return since
    for partition in sorted(verdicts, reverse=True):
        if not verdicts[partition]:
            break
        since = partition
    return since


def anomalies(
    instance: dg.DagsterInstance,
    checks: dict[dg.AssetCheckKey, str],
    since_seconds: float,
    entries: dict[dg.AssetCheckKey, object] | None = None,
) -> list[Row]:
    """Every failed row-count check of a bucket that ended in the last `since_seconds` (of an
    unpartitioned check, or one whose table `entries` does not name: evaluated in them), oldest
    bucket first: a bucket of three days ago judged a minute ago by a backfill is not a failure
    of the last hour. A bucket judged again since (late rows) counts by its newest verdict."""
    after = time.time() - since_seconds
    cutoff = pd.Timestamp(after, unit="s")
    rows = []
    for key, table in checks.items():
        # a bucket is judged after it ends: evaluations older than the window judged older buckets
        in_window = itertools.takewhile(
            lambda r: r.create_timestamp >= after, check_executions(instance, key, status={Status.FAILED})
        )
        failed = [r for r in in_window if r.event is not None]
        if not failed:
            continue
        newest: dict[str | None, int] = {}  # bucket -> its newest evaluation, back to the oldest failure
        for r in check_executions(instance, key):
            if r.id < failed[-1].id:
                break
            if r.event is not None:
                newest.setdefault(partition_of(r), r.id)
        entry = (entries or {}).get(key)
        for r in failed:
            bucket = partition_of(r)
            if bucket is not None and newest[bucket] != r.id:
                continue
            span = bucket_span(bucket, entry) if entry else None
            if span is None or span[1] > cutoff:
                rows.append(_row(table, r))
    return sorted(rows, key=lambda r: (r.bucket or "", r.table))
