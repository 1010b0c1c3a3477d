"""Sensors that tell people: failed row-count checks and failed counting runs go to SNS.

`row_count_alerts` reads new check evaluations (Dagster's asset-check execution records: one
query for the latest execution of every check, one more for the new records of the checks that
have any), turns them into alerts in the outbox (one transaction for the whole pass, together
with every check's read position) and delivers what is due.

A check's state is the verdict of its newest bucket judged, and a table that keeps failing sends
one "started failing" alert and one "recovered" when its newest bucket passes again, unless
`alerts.notify: every_failure`. An evaluation of an older bucket (a backfill judging the past
after a newer failure, late rows judged again by recount.py) is that bucket's news, not the
check's state: "recovered" where that bucket's alert was sent and it now passes, an alert where
none was sent and it fails. A "recovered" only ever follows a failure that was paged.

Failures along one line of descent page once (a raw table and the dbt models or metrics below
it), from the top-most failing table, whose alert lists the others; they are grouped only where
their buckets overlap (or, for a table without buckets, where they were judged within
LINEAGE_WINDOW of each other), and only if that alert is actually queued in the same pass:
otherwise each pages on its own. `operational_alerts` queues a message for every failed run
(warehouse down, permission denied): never a row-count anomaly, always its own kind.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import dagster as dg
import pandas as pd

from ..alerting.deliver import deliver
from ..alerting.messages import Alert
from ..alerting.outbox import CheckState, outbox_for
from ..alerting.sns import TOPIC_ENV, SNSPublisher
from ..cadence import bucket_span
from ..config import AlertsConfig, TableConfig
from ..dagster_records import Status, evaluation_of, latest_executions, unread_executions
from ..measures import label
from ..naming import CHECK_NAME, entry_key
from .checks import REJUDGED
from .counting import FAILED_ASSETS
from .existing_assets import WatchedAsset

# A check execution still "planned" this long after it was created belongs to a run that died
# without being marked finished; the reader stops waiting for its verdict. One planned by a run
# that finished (a range of partitions plans a check it never runs) is passed at once.
PLANNED_TIMEOUT = 3600.0
# Failures of a table without buckets (an unpartitioned dbt model) and of a table above it are
# one incident when they were judged this close together (one daily run of the model).
LINEAGE_WINDOW = 24 * 3600.0


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
    created: float = 0.0  # when the evaluation was recorded (epoch seconds)

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
        ev = evaluation_of(record)
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
            record.create_timestamp,
        )


def new_evaluations(records, after: int, now: float, finished: frozenset = frozenset()) -> tuple[list[CheckEvent], int]:
    """From a check's execution records with id > `after`: its evaluations, oldest first, and
    the position to resume from. It stops before an execution that is still running (planned,
    by a run not in `finished`), so none is skipped."""
    events, position = [], after
    for record in sorted(records, key=lambda r: r.id):
        if record.status == Status.PLANNED:
            if record.run_id not in finished and now - record.create_timestamp < PLANNED_TIMEOUT:
                break
        elif record.event is not None:
            events.append(CheckEvent.from_record(record))
        position = record.id
    return events, position


def finished_runs(instance: dg.DagsterInstance, unread: dict[dg.AssetCheckKey, list]) -> frozenset:
    """Of the runs that planned an unread execution still planned, those that finished (or are
    gone), in one query: their planned checks will never run."""
    planned = {r.run_id for records in unread.values() for r in records if r.status == Status.PLANNED}
    if not planned:
        return frozenset()
    alive = {
        r.dagster_run.run_id
        for r in instance.get_run_records(dg.RunsFilter(run_ids=sorted(planned)))
        if not r.dagster_run.is_finished
    }
    return frozenset(planned - alive)


def is_newest(event: CheckEvent, state: CheckState) -> bool:
    """Whether `event` judges the check's newest bucket so far (partition keys of one table sort
    as their buckets do); an evaluation without a bucket always is."""
    return event.partition is None or state.bucket is None or event.partition >= state.bucket


def alerts_for(
    event: CheckEvent,
    state: CheckState,
    said,
    entry: TableConfig,
    alerts: AlertsConfig,
    cause: CheckEvent | None = None,
    affected: tuple[TableConfig, ...] = (),
    paged: set[int] | None = None,
) -> tuple[list[Alert], CheckState]:
    """The alerts one evaluation causes, and the check's new state. `said(prefix)` is the kind
    of the newest alert queued about a bucket (None: none). A failure with a `cause` (a failing
    evaluation above it, in an overlapping bucket) pages with the cause's alert when that alert
    was queued (its storage id is in `paged`, which this fills with the failures that paged),
    which lists the `affected` tables below it and carries their owners as an attribute."""
    paged = set() if paged is None else paged
    url = f"{alerts.ui_base_url.rstrip('/')}/assets/{'/'.join(event.asset_key.path)}?view=checks"
    details = {k: event.metadata[k] for k in ("observed", "expected", "lower", "upper", "score") if k in event.metadata}
    details.update(partition=event.partition, run_id=event.run_id, url=url, check=CHECK_NAME)
    base = f"{event.check_key}:{event.partition or '-'}:{event.storage_id}"
    owner = entry.owner or ""

    def alert(kind: str, severity: str, summary: str) -> Alert:
        return Alert(f"{base}:{kind}", kind, label(entry), owner, severity, summary, details)

    if event.rejudged or not is_newest(event, state):  # news about that bucket, not the check's state
        before = said(event.bucket_prefix)
        if event.passed and before == "anomaly":
            summary = f"late rows made it normal: {event.description}" if event.rejudged else event.description
            return [alert("recovered", "INFO", f"bucket {event.partition} passes now: {summary}")], state
        if not event.passed and before != "anomaly":
            paged.add(event.storage_id)
            return [alert("anomaly", event.severity, event.description)], state
        return [], state
    if not event.passed:
        if cause is not None and cause.storage_id in paged:
            return [], CheckState(True, event.partition)
        if state.failing and alerts.notify == "state_changes":
            return [], CheckState(True, event.partition)
        summary = event.description
        if affected:
            details.update(
                downstream=[label(a) for a in affected],
                downstream_owners=sorted({a.owner for a in affected if a.owner}),
            )
            summary += f"; failing below it in the same bucket: {', '.join(label(a) for a in affected)}"
        paged.add(event.storage_id)
        return [alert("anomaly", event.severity, summary)], CheckState(True, event.partition)
    if state.failing:
        return [alert("recovered", "INFO", f"passes again: {event.description}")], CheckState(False, event.partition)
    return [], CheckState(False, event.partition)


def bucket_window(event: CheckEvent, entry: TableConfig) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The UTC span of the bucket an evaluation judged; None where it has no bucket."""
    return bucket_span(event.partition, entry)


def along_lineage(
    failures: list[CheckEvent], repository: dg.RepositoryDefinition | None, tables: dict[dg.AssetKey, TableConfig]
) -> tuple[dict[int, CheckEvent], dict[int, list[dg.AssetKey]]]:
    """Failures that fail because a table above them fails at the same time: (each such
    failure's storage id -> the failure its page goes with, each such cause's storage id -> the
    tables it carries). The cause is a top-most failing ancestor in an overlapping bucket (the
    first by name, then by bucket, where there are several), so a raw table, its staging model
    and the mart below it make one page, from the raw table, bucket by bucket."""
    if repository is None or len(failures) < 2:
        return {}, {}
    graph = repository.asset_graph
    by_key: dict[dg.AssetKey, list[CheckEvent]] = {}
    for ev in failures:
        by_key.setdefault(ev.asset_key, []).append(ev)
    ancestors = {k: graph.get_ancestor_asset_keys(k) & set(by_key) for k in by_key if graph.has(k)}
    windows = {ev.storage_id: bucket_window(ev, tables[ev.asset_key]) for ev in failures}

    def together(a: CheckEvent, b: CheckEvent) -> bool:
        """One incident in time: overlapping buckets, or (where one has no bucket) judged
        within LINEAGE_WINDOW of each other."""
        wa, wb = windows[a.storage_id], windows[b.storage_id]
        if wa is None or wb is None:
            return abs(a.created - b.created) <= LINEAGE_WINDOW
        return wa[0] < wb[1] and wb[0] < wa[1]

    above = {
        ev.storage_id: [u for k in ancestors.get(ev.asset_key, ()) for u in by_key[k] if together(u, ev)]
        for ev in failures
    }
    cause: dict[int, CheckEvent] = {}
    for ev in failures:
        roots = [u for u in above[ev.storage_id] if not above[u.storage_id]]
        if roots:
            cause[ev.storage_id] = min(
                roots, key=lambda u: (u.asset_key.to_user_string(), u.partition or "", u.storage_id)
            )
    affected: dict[int, list[dg.AssetKey]] = {}
    for ev in sorted(failures, key=lambda e: e.asset_key.to_user_string()):
        if ev.storage_id in cause:
            carried = affected.setdefault(cause[ev.storage_id].storage_id, [])
            if ev.asset_key not in carried:
                carried.append(ev.asset_key)
    return cause, affected


def lineage_depth(repository: dg.RepositoryDefinition | None, keys: list[dg.AssetKey]) -> dict[dg.AssetKey, int]:
    """How many assets lie above each one (an asset always has more than any asset above it)."""
    if repository is None:
        return {}
    graph = repository.asset_graph
    return {k: len(graph.get_ancestor_asset_keys(k)) for k in keys if graph.has(k)}


def sensor_definitions(entries: list[TableConfig | WatchedAsset], alerts: AlertsConfig) -> list:
    """The alert sensor of the given tables' checks (and of watched assets' checks), and the
    sensor that queues an operational alert for every failed run."""
    tables = {e.key if isinstance(e, WatchedAsset) else entry_key(e): e for e in entries}

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
        now = time.time()
        latest = latest_executions(context.instance, [dg.AssetCheckKey(k, CHECK_NAME) for k in tables])
        positions = outbox.positions()
        changed = {
            key: positions.get(key.to_user_string(), 0)
            for key, record in latest.items()
            if record.id > positions.get(key.to_user_string(), 0)
        }
        unread = unread_executions(context.instance, changed)
        finished = finished_runs(context.instance, unread)
        batch = {}
        for check_key, records in unread.items():
            events, position = new_evaluations(records, changed[check_key], now, finished)
            batch[check_key] = (position, events)
        failures = [e for _, events in batch.values() for e in events if not e.passed and not e.rejudged]
        cause, affected = along_lineage(failures, context.repository_def, tables)
        paged: set[int] = set()  # failures whose alert was queued in this pass

        def to_alerts(ev: CheckEvent, state: CheckState, said):
            return alerts_for(
                ev,
                state,
                said,
                tables[ev.asset_key],
                alerts,
                cause=cause.get(ev.storage_id),
                affected=tuple(tables[k] for k in affected.get(ev.storage_id, ())),
                paged=paged,
            )

        # tables above others first: a cause's alert is queued before the failures it carries
        depth = lineage_depth(context.repository_def, [k.asset_key for k in batch])
        reads = [
            (check_key.to_user_string(), position, events, to_alerts)
            for check_key, (position, events) in sorted(
                batch.items(), key=lambda item: (depth.get(item[0].asset_key, 0), item[0].to_user_string())
            )
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
            f"counting failed, no count or value recorded: {error}",
            {"run_id": run.run_id, "job": run.job_name, "url": f"{alerts.ui_base_url.rstrip('/')}/runs/{run.run_id}"},
        )
        outbox_for(alerts, context.instance).add(alert)

    return [row_count_alerts, operational_alerts]
