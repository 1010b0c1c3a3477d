"""Sensors that tell people: failed row-count checks and failed counting runs go to SNS.

`row_count_alerts` reads new check evaluations (Dagster's asset-check execution records: one
query for the latest execution of every check, one more for the new records of the checks that
have any), turns them into alerts in the outbox (one transaction for the whole pass, together
with every check's read position) and delivers what is due. A table that keeps failing sends
one "started failing" alert and one "recovered" when it passes again, unless
`alerts.notify: every_failure`. Tables failing in the same pass below a failing table (dbt
models under a raw table) page once, with the upstream table's alert, which lists them; each
still sends its own "recovered". A bucket judged again after late rows changed its count
(recount.py) is that bucket's news, not the check's state: "recovered" where its alert was sent
and the new count is normal, an alert where it was not sent and the new count fails.
`operational_alerts` queues a message for every failed run (warehouse down, permission
denied): never a row-count anomaly, always its own kind.
"""

from __future__ import annotations

import itertools
import os
import time
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

from ..alerting.deliver import deliver
from ..alerting.messages import Alert
from ..alerting.outbox import Outbox, PostgresOutbox
from ..alerting.sns import TOPIC_ENV, SNSPublisher
from ..config import AlertsConfig, TableConfig
from ..storage import postgres_url
from .checks import CHECK_NAME, REJUDGED, check_executions
from .counting import FAILED_ASSETS
from .measures import label
from .naming import entry_key

OUTBOX_FILE = "rowcount_monitor_alerts.sqlite"
# A check execution still "planned" this long after it was created belongs to a run that died
# without being marked finished; the reader stops waiting for its verdict. One planned by a run
# that finished (a range of partitions plans a check it never runs) is passed at once.
PLANNED_TIMEOUT = 3600.0
# Most execution records one sensor pass reads in its single query (see unread_executions).
BULK_LIMIT = 20_000


@dataclass(frozen=True)
class CheckEvent:
    """One check evaluation, as the outbox needs it."""

    storage_id: int
    run_id: str
    asset_key: dg.AssetKey
    check_name: str
    partition: str | None
    passed: bool
    severity: str
    description: str
    metadata: dict

    @property
    def check_key(self) -> str:
        return f"{self.asset_key.to_user_string()}:{CHECK_NAME}"

    @property
    def bucket_prefix(self) -> str:
        """The start of the ids of every alert about this check's bucket."""
        return f"{self.check_key}:{self.partition or '-'}:"

    @property
    def rejudged(self) -> bool:
        return bool(self.metadata.get(REJUDGED))

    @classmethod
    def from_record(cls, record) -> CheckEvent:
        """From an AssetCheckExecutionRecord that has its evaluation."""
        ev = record.event.dagster_event.event_specific_data
        numbers = {k: v.value for k, v in ev.metadata.items() if isinstance(v.value, (int, float))}
        return cls(
            record.id,
            record.run_id,
            ev.asset_key,
            ev.check_name,
            ev.partition,
            ev.passed,
            ev.severity.value,
            ev.description or "",
            numbers,
        )


def new_evaluations(records, after: int, now: float, finished: frozenset = frozenset()) -> tuple[list[CheckEvent], int]:
    """From a check's execution records with id > `after`: its evaluations, oldest first, and
    the position to resume from. It stops before an execution that is still running (planned,
    by a run not in `finished`), so none is skipped."""
    events, position = [], after
    for record in sorted(records, key=lambda r: r.id):
        if record.status == AssetCheckExecutionRecordStatus.PLANNED:
            if record.run_id not in finished and now - record.create_timestamp < PLANNED_TIMEOUT:
                break
        elif record.event is not None:
            events.append(CheckEvent.from_record(record))
        position = record.id
    return events, position


def finished_runs(instance: dg.DagsterInstance, unread: dict[dg.AssetCheckKey, list]) -> frozenset:
    """Of the runs that planned an unread execution still planned, those that finished (or are
    gone), in one query: their planned checks will never run."""
    planned = {
        r.run_id for records in unread.values() for r in records if r.status == AssetCheckExecutionRecordStatus.PLANNED
    }
    if not planned:
        return frozenset()
    alive = {
        r.dagster_run.run_id
        for r in instance.get_run_records(dg.RunsFilter(run_ids=sorted(planned)))
        if not r.dagster_run.is_finished
    }
    return frozenset(planned - alive)


def unread_executions(storage, after: dict[dg.AssetCheckKey, int]) -> dict[dg.AssetCheckKey, list]:
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
                lambda r, position=position: r.id > position, check_executions(storage, key, first_page=4)
            )
        )
    return out


def outbox_for(alerts: AlertsConfig, instance: dg.DagsterInstance) -> Outbox:
    """The configured outbox file; else, on a PostgreSQL instance, tables in its database (the
    daemon and the CLI may run on different hosts: no file in DAGSTER_HOME), else
    rowcount_monitor_alerts.sqlite in DAGSTER_HOME."""
    if alerts.outbox:
        return Outbox(alerts.outbox)
    url = postgres_url(instance)
    if url:
        return PostgresOutbox(url)
    return Outbox(Path(instance.root_directory or os.environ.get("DAGSTER_HOME") or ".") / OUTBOX_FILE)


def alerts_for(
    event: CheckEvent,
    was_failing: bool,
    entry: TableConfig,
    alerts: AlertsConfig,
    cause: TableConfig | None = None,
    affected: tuple[TableConfig, ...] = (),
    earlier: dict[str, str] | None = None,
):
    """The alerts one evaluation causes, and whether the check now counts as failing. A failure
    with a `cause` (an upstream table failing in the same pass) pages with the cause's alert, which
    lists the `affected` tables below it and carries their owners as an attribute. A bucket judged
    again is weighed against `earlier` (bucket prefix -> kind of its newest alert), which it updates."""
    url = f"{alerts.ui_base_url.rstrip('/')}/assets/{'/'.join(event.asset_key.path)}?view=checks"
    details = {k: event.metadata[k] for k in ("observed", "expected", "lower", "upper", "score") if k in event.metadata}
    details.update(partition=event.partition, run_id=event.run_id, url=url, check=CHECK_NAME)
    base = f"{event.check_key}:{event.partition or '-'}:{event.storage_id}"
    owner = entry.owner or ""
    if event.rejudged:
        earlier = {} if earlier is None else earlier
        said = earlier.get(event.bucket_prefix)
        if event.passed and said == "anomaly":
            kind, severity, summary = "recovered", "INFO", f"late rows made it normal: {event.description}"
        elif not event.passed and said != "anomaly":
            kind, severity, summary = "anomaly", event.severity, event.description
        else:
            return [], was_failing
        earlier[event.bucket_prefix] = kind
        return [Alert(f"{base}:{kind}", kind, label(entry), owner, severity, summary, details)], was_failing
    if not event.passed:
        if cause is not None or (was_failing and alerts.notify == "state_changes"):
            return [], True
        summary = event.description
        if affected:
            details.update(
                downstream=[label(a) for a in affected],
                downstream_owners=sorted({a.owner for a in affected if a.owner}),
            )
            summary += f"; failing below it in the same pass: {', '.join(label(a) for a in affected)}"
        return [Alert(f"{base}:anomaly", "anomaly", label(entry), owner, event.severity, summary, details)], True
    if was_failing:
        return [
            Alert(
                f"{base}:recovered",
                "recovered",
                label(entry),
                owner,
                "INFO",
                f"passes again: {event.description}",
                details,
            )
        ], False
    return [], False


def along_lineage(
    failing: set[dg.AssetKey], repository: dg.RepositoryDefinition | None
) -> tuple[dict[dg.AssetKey, dg.AssetKey], dict[dg.AssetKey, list[dg.AssetKey]]]:
    """Failing tables that fail because a table above them does: (each such table -> the
    failing table its page goes with, each such cause -> the tables it carries). The cause is
    the top-most failing ancestor (the first by name where there are several), so a raw table,
    its staging model and the mart below it make one page, from the raw table."""
    if repository is None or len(failing) < 2:
        return {}, {}
    graph = repository.asset_graph
    ancestors = {k: graph.get_ancestor_asset_keys(k) & failing for k in failing if graph.has(k)}
    cause = {}
    for key, above in ancestors.items():
        roots = sorted((a for a in above if not ancestors.get(a)), key=dg.AssetKey.to_user_string)
        if roots:
            cause[key] = roots[0]
    affected: dict[dg.AssetKey, list[dg.AssetKey]] = {}
    for key in sorted(cause, key=dg.AssetKey.to_user_string):
        affected.setdefault(cause[key], []).append(key)
    return cause, affected


def sensor_definitions(entries: list[TableConfig], alerts: AlertsConfig) -> list:
    tables = {entry_key(e): e for e in entries}

    @dg.sensor(
        name="row_count_alerts",
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Forwards failed row-count checks (and failed counting runs) to SNS, exactly once.",
    )
    def row_count_alerts(context: dg.SensorEvaluationContext, sns: SNSPublisher):
        outbox = outbox_for(alerts, context.instance)
        restored = bool(context.cursor) and outbox.restore(context.cursor) > 0
        if restored:
            context.log.warning(
                f"the alert outbox {outbox} had no read positions: they were restored "
                "from the sensor's cursor (alerts still pending in a lost outbox are gone)"
            )
        storage = context.instance.event_log_storage
        now = time.time()
        latest = storage.get_latest_asset_check_execution_by_key([dg.AssetCheckKey(k, CHECK_NAME) for k in tables])
        positions = outbox.positions()
        changed = {
            key: positions.get(key.to_user_string(), 0)
            for key, record in latest.items()
            if record.id > positions.get(key.to_user_string(), 0)
        }
        unread = unread_executions(storage, changed)
        finished = finished_runs(context.instance, unread)
        batch = {}
        for check_key, records in unread.items():
            events, position = new_evaluations(records, changed[check_key], now, finished)
            batch[check_key] = (position, events)
        failing = {
            k.asset_key for k, (_, events) in batch.items() if any(not e.passed and not e.rejudged for e in events)
        }
        cause, affected = along_lineage(failing, context.repository_def)
        earlier = outbox.last_kinds(
            sorted({e.bucket_prefix for _, events in batch.values() for e in events if e.rejudged})
        )
        reads = [
            (
                check_key.to_user_string(),
                position,
                events,
                lambda ev, was_failing, key=check_key.asset_key: alerts_for(
                    ev,
                    was_failing,
                    tables[key],
                    alerts,
                    cause=tables[cause[key]] if key in cause else None,
                    affected=tuple(tables[k] for k in affected.get(key, ())),
                    earlier=earlier,
                ),
            )
            for check_key, (position, events) in batch.items()
        ]
        added = outbox.ingest(reads)
        read = sum(len(events) for _, _, events, _ in reads)
        context.update_cursor(outbox.snapshot())
        summary = f"read {read} check evaluations, queued {added} alerts"
        if restored:
            summary = f"read positions restored from the sensor's cursor; {summary}"
        if not sns.topic_arn:
            return dg.SkipReason(f"{summary}; no SNS topic (set {TOPIC_ENV}): alerts wait in the outbox")
        client = sns.client()
        report = deliver(
            outbox, lambda a: sns.publish(a, client), time.time(), alerts.max_attempts, alerts.retry_backoff_seconds
        )
        for error in report.errors[:3]:
            context.log.warning(f"SNS publish failed: {error}")
        if report.resent_after_crash:
            context.log.warning(
                f"re-sent {len(report.resent_after_crash)} alerts whose earlier publish never "
                "reported back (the process died mid-publish)"
            )
        return dg.SkipReason(f"{summary}; {report.line()}")

    @dg.run_failure_sensor(
        name="operational_alerts",
        default_status=dg.DefaultSensorStatus.RUNNING,
        description="Queues an operational alert for every failed run (e.g. the warehouse is down).",
    )
    def operational_alerts(context: dg.RunFailureSensorContext):
        run = context.dagster_run
        keys = [k for k in (run.asset_selection or []) if k in tables]
        error = context.failure_event.message or "run failed"
        for step_event in context.get_step_failure_events():
            data = step_event.step_failure_data
            failed = (
                (data.user_failure_data.metadata or {}).get(FAILED_ASSETS) if data and data.user_failure_data else None
            )
            if failed is not None:  # counting names the tables it could not count: page only their owners
                keys = [k for k in map(dg.AssetKey.from_user_string, failed.value) if k in tables]
                error = data.user_failure_data.description or error
                break
            if data and data.error:
                error = (data.error.cause or data.error).message.strip().splitlines()[0]
                break
        names = ", ".join(sorted(label(tables[k]) for k in keys)) or run.job_name
        owners = ", ".join(sorted({tables[k].owner for k in keys if tables[k].owner}))
        alert = Alert(
            f"run-failure:{run.run_id}",
            "operational",
            names[:200],
            owners,
            "ERROR",
            f"counting failed, no row count recorded: {error}",
            {"run_id": run.run_id, "job": run.job_name, "url": f"{alerts.ui_base_url.rstrip('/')}/runs/{run.run_id}"},
        )
        outbox_for(alerts, context.instance).add(alert)

    return [row_count_alerts, operational_alerts]
