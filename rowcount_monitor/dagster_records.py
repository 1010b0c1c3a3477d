"""Every read of Dagster's records that Dagster's public API does not offer, in one place.

Dagster 1.13 has no public method for a check's execution history (only the latest evaluation
per check), and its status enum lives in `dagster._core`. The alert sensor, the recount sensor,
`status` and `anomalies` read them through this module only, and tests/test_dagster_records.py
exercises each function against a real instance: a Dagster upgrade that moves any of them
fails there, by name, instead of deep inside a sensor."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from .naming import CHECK_NAME

Status = AssetCheckExecutionRecordStatus  # PLANNED, SUCCEEDED, FAILED, SKIPPED


def check_executions(
    instance: dg.DagsterInstance,
    key: dg.AssetCheckKey,
    status: set[AssetCheckExecutionRecordStatus] | None = None,
    first_page: int = 500,
) -> Iterator[Any]:
    """A check's execution records, newest first, read from the event log a page at a time.
    Pages start at `first_page` records and double up to 500: a reader that wants only the
    newest few (the alert sensor, each pass) does not decode a check's whole history."""
    storage = instance.event_log_storage
    cursor, page = None, first_page
    while True:
        records = storage.get_asset_check_execution_history(key, limit=page, cursor=cursor, status=status)
        yield from records
        if len(records) < page:
            return
        cursor, page = records[-1].id, min(2 * page, 500)


# Most execution records one sensor pass reads in its single query (see unread_executions).
BULK_LIMIT = 20_000


def latest_executions(instance: dg.DagsterInstance, keys: list[dg.AssetCheckKey]) -> dict[dg.AssetCheckKey, object]:
    """The newest execution record of each check that has one."""
    return instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)


def evaluation_of(record) -> dg.AssetCheckEvaluation | None:
    """The evaluation an execution record holds (None while the check is only planned)."""
    return None if record.event is None else record.event.dagster_event.event_specific_data


def partition_of(record) -> str | None:
    """The bucket (partition key) an execution record's evaluation judged; None for a check
    without buckets or a record without an evaluation yet."""
    evaluation = evaluation_of(record)
    return None if evaluation is None else evaluation.partition


def unread_executions(instance: dg.DagsterInstance, after: dict[dg.AssetCheckKey, int]) -> dict[dg.AssetCheckKey, list]:
    """Each check's execution records with id > its read position.

    One query for all of them on Dagster's asset_check_executions table where the storage is
    SQL-backed (it always is for `dagster dev` and Postgres): asked check by check, a pass over
    1,000 checks costs 1,000 connections. A check far behind the others (one that has not run
    for weeks) would make that one query read everybody's records since then, so past
    BULK_LIMIT rows the checks are read one by one instead."""
    import sqlalchemy as sa
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecord
    from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable as T
    from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage
    from dagster._core.storage.sqlalchemy_compat import db_fetch_mappings, db_select

    storage = instance.event_log_storage
    known = {k: p for k, p in after.items() if p > 0}  # never read: its whole history is due anyway
    out = {k: [] for k in after}
    if isinstance(storage, SqlEventLogStorage) and known:
        by_name = {k.asset_key.to_string(): k for k in known}
        query = (
            db_select(
                [
                    T.c.id,
                    T.c.run_id,
                    T.c.execution_status,
                    T.c.evaluation_event,
                    T.c.create_timestamp,
                    T.c.partition,
                    T.c.asset_key,
                ]
            )
            .where(
                sa.and_(T.c.asset_key.in_(list(by_name)), T.c.check_name == CHECK_NAME, T.c.id > min(known.values()))
            )
            .order_by(T.c.id.asc())
            .limit(BULK_LIMIT + 1)
        )
        with storage.index_connection() as conn:
            rows = db_fetch_mappings(conn, query)
        if len(rows) <= BULK_LIMIT:
            for row in rows:
                key = by_name[row["asset_key"]]
                if row["id"] > known[key]:
                    out[key].append(AssetCheckExecutionRecord.from_db_row(row, key=key))
            after = {k: p for k, p in after.items() if k not in known}
    for key, position in after.items():
        out[key] = list(
            itertools.takewhile(
                lambda r, position=position: r.id > position, check_executions(instance, key, first_page=4)
            )
        )
    return out


def newest_bucket_executions(instance: dg.DagsterInstance, keys: list[dg.AssetCheckKey]) -> dict[dg.AssetCheckKey, Any]:
    """Each check's newest evaluation of the newest bucket (partition) it judged, in one query
    for all of them: a backfill may judge older buckets after the newest one, and late rows
    re-judge one, so a check's latest evaluation is not always of its newest bucket. Partition
    keys of one check sort as their buckets do. Checks that never judged a bucket are absent."""
    import sqlalchemy as sa
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecord
    from dagster._core.storage.event_log.schema import AssetCheckExecutionsTable as T
    from dagster._core.storage.event_log.sql_event_log import SqlEventLogStorage
    from dagster._core.storage.sqlalchemy_compat import db_fetch_mappings, db_select

    storage = instance.event_log_storage
    if not keys:
        return {}
    if not isinstance(storage, SqlEventLogStorage):  # every storage Dagster 1.13 ships is
        raise TypeError(f"reading check records needs a SQL event log storage, not {type(storage).__name__}")
    by_name = {k.asset_key.to_string(): k for k in keys}
    judged = sa.and_(
        T.c.asset_key.in_(list(by_name)),
        T.c.check_name == CHECK_NAME,
        T.c.partition.isnot(None),
        T.c.execution_status.in_([Status.SUCCEEDED.value, Status.FAILED.value]),
    )
    newest = (
        sa.select(T.c.asset_key, sa.func.max(T.c.partition).label("partition"))
        .where(judged)
        .group_by(T.c.asset_key)
        .subquery()
    )
    ids = (
        sa.select(sa.func.max(T.c.id))
        .select_from(T.join(newest, sa.and_(T.c.asset_key == newest.c.asset_key, T.c.partition == newest.c.partition)))
        .where(judged)
        .group_by(T.c.asset_key)
    )
    columns = [T.c.id, T.c.run_id, T.c.execution_status, T.c.evaluation_event, T.c.create_timestamp, T.c.partition]
    query = db_select([*columns, T.c.asset_key]).where(T.c.id.in_(ids))
    with storage.index_connection() as conn:
        rows = db_fetch_mappings(conn, query)
    return {
        by_name[r["asset_key"]]: AssetCheckExecutionRecord.from_db_row(r, key=by_name[r["asset_key"]]) for r in rows
    }


def materializations_after(instance: dg.DagsterInstance, cursor: int, limit: int) -> list:
    """Materialization event records of every asset with a storage id above `cursor`, oldest first."""
    return list(
        instance.event_log_storage.get_event_records(
            dg.EventRecordsFilter(dg.DagsterEventType.ASSET_MATERIALIZATION, after_cursor=cursor),
            limit=limit,
            ascending=True,
        )
    )


def materialization_cursor_since(instance: dg.DagsterInstance, timestamp: float) -> int:
    """A cursor just before the first materialization at or after `timestamp` (the newest
    event's id where there is none)."""
    storage = instance.event_log_storage
    first = storage.get_event_records(
        dg.EventRecordsFilter(dg.DagsterEventType.ASSET_MATERIALIZATION, after_timestamp=float(timestamp)),
        limit=1,
        ascending=True,
    )
    return first[0].storage_id - 1 if first else storage.get_maximum_record_id() or 0


def materialization_targets(
    instance: dg.DagsterInstance, key: dg.AssetKey, partitions: list[str]
) -> dict[str, AssetCheckEvaluationTargetMaterializationData]:
    """The newest materialization of each of `partitions`, as the target a check evaluation
    logged outside a check's own step names: Dagster counts an evaluation in the check's
    partition status (passed, failed) only where it names the materialization it judged, and
    calls the partition missing otherwise. Its class is not public in Dagster 1.13."""
    wanted, targets = set(partitions), {}
    cursor = None
    while wanted - set(targets):
        page = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=key, asset_partitions=partitions), limit=1000, cursor=cursor
        )
        for record in page.records:  # newest first: the first of a partition is its target
            if record.partition_key in wanted and record.partition_key not in targets:
                targets[record.partition_key] = AssetCheckEvaluationTargetMaterializationData(
                    storage_id=record.storage_id, run_id=record.run_id, timestamp=record.timestamp
                )
        if not page.has_more:
            break
        cursor = page.cursor
    return targets
