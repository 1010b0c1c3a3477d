"""A durable outbox of alerts: an SQLite file for `dagster dev`, tables in the instance's
PostgreSQL database in production (`PostgresOutbox`: no file any service must share).

Check evaluations are turned into alerts and written here, together with the event-log
position read up to, in one transaction: a tick that dies before the transaction wrote
nothing; one that dies after it will not read those evaluations again, and evaluations at or
before a check's position are skipped inside the transaction, so two passes reading at once
ingest each evaluation once. An alert leaves `pending` only when SNS accepted it (`sent`), or
after too many failed attempts (`dead`, kept for `rowcount-monitor alerts replay`).

Concurrent passes (two daemons, `alerts replay` during a tick): a pass publishes an alert only
after claiming it (pending -> sending in one conditional update); a claim older than
CLAIM_LEASE belongs to a process that died mid-publish and may be taken over. The alerts of one
check go out in the order they were queued: one is not due while an earlier one of the same
check waits for a retry or is dead-lettered (a replay sends them in order).
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..storage import Database, Statements, libpq_url, postgres_transaction, postgres_url, sqlite_transaction
from .messages import Alert

if TYPE_CHECKING:
    import dagster as dg

    from ..config import AlertsConfig

SCHEMA_VERSION = 3
# A claim older than this belongs to a publish that never reported back (the publisher's
# timeouts and retries end within a minute).
CLAIM_LEASE = 300.0
LOG = logging.getLogger("rowcount_monitor")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',  -- pending | sending | sent | dead
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL,
    last_error TEXT,
    message_id TEXT,
    created REAL NOT NULL,
    sent REAL,
    stream TEXT,  -- the check whose alerts go out in order (NULL: no order)
    claimed REAL  -- when the current 'sending' claim was taken
);
CREATE INDEX IF NOT EXISTS alerts_due ON alerts (status, next_attempt);
CREATE TABLE IF NOT EXISTS check_state (
    check_key TEXT PRIMARY KEY,
    failing INTEGER NOT NULL,
    bucket TEXT  -- the newest bucket judged: the state is its verdict (NULL: unpartitioned)
);
CREATE TABLE IF NOT EXISTS cursor (name TEXT PRIMARY KEY, position INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
"""
# columns added since version 1, for outboxes written by an earlier release
_ADDED_COLUMNS = {"alerts": {"stream": "TEXT", "claimed": "REAL"}, "check_state": {"bucket": "TEXT"}}


_TAKEABLE = "status = 'pending' OR (status = 'sending' AND coalesce(claimed, 0) <= :stale)"


def stream_of(alert: Alert) -> str | None:
    """The alerts that go out in queue order: a table's anomalies and recoveries (None: no order)."""
    return alert.table if alert.kind in ("anomaly", "recovered") else None


_SQLITE_NAMES = {"alerts": "alerts", "check_state": "check_state", "cursor": "cursor", "seq": "rowid"}


@dataclass(frozen=True)
class CheckState:
    """What the outbox knows of a check: whether it is failing (its failure was paged), as of
    its newest bucket judged (None: none yet, or the check's asset has no buckets)."""

    failing: bool = False
    bucket: str | None = None


@dataclass(frozen=True)
class Pending:
    alert: Alert
    attempts: int
    interrupted: bool  # a previous publish of it never reported back (the process died)


class Outbox:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._create()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError):  # locked, read-only, no such directory
                raise
            aside = self.quarantine(exc)
            self._create()
            self.add(
                Alert(
                    f"outbox-corrupt:{aside.name}",
                    "operational",
                    "alert outbox",
                    "",
                    "ERROR",
                    f"the alert outbox was corrupt ({exc}) and was moved to {aside}; a new one "
                    "started from the sensor's cursor, alerts still pending in the old one are lost",
                    {"path": str(aside)},
                )
            )

    def _create(self) -> None:
        with closing(sqlite3.connect(self.path, timeout=30)) as conn:
            conn.executescript(_SCHEMA)
        with self._tx() as conn:
            for table, added in _ADDED_COLUMNS.items():
                columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
                for name, kind in added.items():
                    if name not in columns:
                        conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
            conn.execute("DELETE FROM schema_version")
            conn.execute("INSERT INTO schema_version VALUES (:v)", {"v": SCHEMA_VERSION})

    def __str__(self) -> str:
        return str(self.path)

    def quarantine(self, error: Exception) -> Path:
        """Move a corrupt outbox file aside (kept for inspection) so that a new one can start:
        a corrupt file must not block every alert, operational ones included."""
        aside = self.path.with_name(f"{self.path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
        for suffix in ("", "-wal", "-shm"):
            part = Path(f"{self.path}{suffix}")
            if part.exists():
                part.rename(Path(f"{aside}{suffix}"))
        LOG.error(
            "alert outbox %s is corrupt (%s): moved to %s, starting a new one; its read positions "
            "come back from the sensor's cursor, alerts that were still pending in it are lost",
            self.path,
            error,
            aside,
        )
        return aside

    def _tx(self) -> AbstractContextManager[Statements]:
        """One write transaction, serialized against every other (BEGIN IMMEDIATE)."""
        return sqlite_transaction(self.path, _SQLITE_NAMES, timeout=30)

    # --- reading the event log -------------------------------------------------------------

    def positions(self) -> dict[str, int]:
        """How far each source (a check) has been read."""
        with self._tx() as conn:
            return dict(conn.execute("SELECT name, position FROM {cursor}").fetchall())

    def ingest(self, reads: list[tuple[str, int, list[Any], Callable[..., Any]]]) -> int:
        """Atomically, for every (cursor name, position, evaluations, to_alerts) in `reads`: turn
        the evaluations into alerts (via `to_alerts(evaluation, state, said)`, which returns the
        alerts and the check's new CheckState; `said(prefix)` is the kind of the newest alert
        queued under an id prefix, or None), update check states, and move the cursor to
        `position`. One transaction for all of them: a sensor pass over 1,000 checks commits
        once. Returns how many alerts were added."""
        added = 0
        now = time.time()
        with self._tx() as conn:

            def said(prefix: str) -> str | None:
                row = conn.execute(
                    "SELECT id FROM {alerts} WHERE substr(id, 1, :n) = :prefix ORDER BY {seq} DESC LIMIT 1",
                    {"n": len(prefix), "prefix": prefix},
                ).fetchone()
                return row[0].rsplit(":", 1)[1] if row else None

            for name, position, evaluations, to_alerts in reads:
                row = conn.execute("SELECT position FROM {cursor} WHERE name = :name", {"name": name}).fetchone()
                read_up_to = row[0] if row else 0
                for ev in evaluations:
                    if ev.storage_id <= read_up_to:  # another pass ingested it meanwhile
                        continue
                    row = conn.execute(
                        "SELECT failing, bucket FROM {check_state} WHERE check_key = :key", {"key": ev.check_key}
                    ).fetchone()
                    state = CheckState(bool(row[0]), row[1]) if row else CheckState()
                    alerts, new = to_alerts(ev, state, said)
                    conn.execute(
                        "INSERT INTO {check_state} (check_key, failing, bucket) VALUES (:key, :failing, :bucket) "
                        "ON CONFLICT(check_key) DO UPDATE SET failing = excluded.failing, bucket = excluded.bucket",
                        {"key": ev.check_key, "failing": int(new.failing), "bucket": new.bucket},
                    )
                    for alert in alerts:
                        added += self._insert(conn, alert, now)
                if position > read_up_to:
                    conn.execute(
                        "INSERT INTO {cursor} (name, position) VALUES (:name, :position) "
                        "ON CONFLICT(name) DO UPDATE SET position = excluded.position",
                        {"name": name, "position": position},
                    )
        return added

    def add(self, alert: Alert) -> bool:
        """Queue one alert; False if an alert with its id was queued before."""
        with self._tx() as conn:
            return bool(self._insert(conn, alert, time.time()))

    @staticmethod
    def _insert(conn: Statements, alert: Alert, now: float) -> int:
        stream = stream_of(alert)
        cur = conn.execute(
            "INSERT INTO {alerts} (id, payload, next_attempt, created, stream) "
            "VALUES (:id, :payload, :now, :now, :stream) ON CONFLICT (id) DO NOTHING",
            {"id": alert.id, "payload": alert.to_json(), "now": now, "stream": stream},
        )
        return int(cur.rowcount)

    def snapshot(self) -> str:
        """Read positions and failing checks as JSON, for the sensor's cursor: if the outbox
        file is lost, a new one starts from there instead of re-sending the whole history."""
        with self._tx() as conn:
            positions = dict(conn.execute("SELECT name, position FROM {cursor}").fetchall())
            states = conn.execute("SELECT check_key, failing, bucket FROM {check_state}").fetchall()
        failing = sorted(k for k, f, _ in states if f)
        buckets = {k: b for k, _, b in states if b is not None}
        return json.dumps({"positions": positions, "failing": failing, "buckets": buckets}, separators=(",", ":"))

    def restore(self, snapshot: str) -> int:
        """Take read positions and failing checks from a snapshot, where this outbox has none
        (new or lost). Returns how many positions were restored; 0 for anything not a snapshot."""
        try:
            data = json.loads(snapshot)
            positions, failing = dict(data["positions"]), list(data["failing"])
            buckets = {str(k): str(v) for k, v in dict(data.get("buckets", {})).items()}
        except (TypeError, ValueError, KeyError):
            return 0
        with self._tx() as conn:
            if conn.execute("SELECT count(*) FROM {cursor}").fetchone()[0]:
                return 0
            conn.executemany(
                "INSERT INTO {cursor} (name, position) VALUES (:name, :position)",
                [{"name": str(k), "position": int(v)} for k, v in positions.items()],
            )
            conn.executemany(
                "INSERT INTO {check_state} (check_key, failing, bucket) VALUES (:key, :failing, :bucket) "
                "ON CONFLICT (check_key) DO NOTHING",
                [
                    {"key": k, "failing": int(k in set(map(str, failing))), "bucket": buckets.get(k)}
                    for k in sorted(set(map(str, failing)) | set(buckets))
                ],
            )
        return len(positions)

    # --- delivering ------------------------------------------------------------------------

    def due(self, now: float, limit: int = 500) -> list[Pending]:
        """Alerts to publish now, in the order they were queued: pending ones whose retry time
        has come, and claims past their lease; none behind an earlier alert of its check that
        waits or is dead."""
        with self._tx() as conn:
            rows = conn.execute(
                f"SELECT payload, attempts, status FROM {{alerts}} a WHERE ({_TAKEABLE}) AND next_attempt <= :now "
                "AND NOT EXISTS (SELECT 1 FROM {alerts} b WHERE a.stream IS NOT NULL AND b.stream = a.stream "
                "  AND b.{seq} < a.{seq} AND (b.status = 'dead' OR (b.status = 'pending' AND b.next_attempt > :now)"
                "  OR (b.status = 'sending' AND b.claimed > :stale))) "
                "ORDER BY a.{seq} LIMIT :limit",
                {"now": now, "stale": now - CLAIM_LEASE, "limit": limit},
            ).fetchall()
        return [Pending(Alert.from_json(p), a, s == "sending") for p, a, s in rows]

    def claim(self, alert_id: str, now: float) -> bool:
        """Take an alert for publishing; False if another pass holds it or sent it meanwhile.
        If the process dies before mark_sent, the claim runs out after CLAIM_LEASE and the next
        pass re-sends it, knowing the outcome is unknown (FIFO topics deduplicate it)."""
        with self._tx() as conn:
            cur = conn.execute(
                f"UPDATE {{alerts}} SET status = 'sending', claimed = :now WHERE id = :id AND ({_TAKEABLE})",
                {"id": alert_id, "now": now, "stale": now - CLAIM_LEASE},
            )
            return bool(cur.rowcount == 1)

    def mark_sent(self, alert_id: str, message_id: str, now: float) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE {alerts} SET status = 'sent', message_id = :message_id, sent = :now, "
                "attempts = attempts + 1 WHERE id = :id AND status = 'sending'",
                {"message_id": message_id, "now": now, "id": alert_id},
            )

    def mark_failed(self, alert_id: str, error: str, retry_at: float, dead: bool) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE {alerts} SET status = :status, attempts = attempts + 1, next_attempt = :retry_at, "
                "last_error = :error WHERE id = :id AND status = 'sending'",
                {"status": "dead" if dead else "pending", "retry_at": retry_at, "error": error[:500], "id": alert_id},
            )

    def replay(self, ids: list[str] | None, now: float) -> int:
        """Dead alerts (all, or the given ids) back to pending with a fresh attempt count."""
        with self._tx() as conn:
            replayed = 0
            for alert_id in ids or [""]:
                cur = conn.execute(
                    "UPDATE {alerts} SET status = 'pending', attempts = 0, next_attempt = :now "
                    "WHERE status = 'dead'" + (" AND id = :id" if alert_id else ""),
                    {"now": now, "id": alert_id},
                )
                replayed += int(cur.rowcount)
            return replayed

    def counts(self) -> dict[str, int]:
        with self._tx() as conn:
            return dict(conn.execute("SELECT status, count(*) FROM {alerts} GROUP BY status").fetchall())

    def listing(self, status: str) -> list[tuple[str, int, str | None]]:
        with self._tx() as conn:
            return [
                tuple(r)
                for r in conn.execute(
                    "SELECT id, attempts, last_error FROM {alerts} WHERE status = :status ORDER BY created",
                    {"status": status},
                ).fetchall()
            ]


_POSTGRES_NAMES = {
    "alerts": "rowcount_monitor_alerts",
    "check_state": "rowcount_monitor_check_state",
    "cursor": "rowcount_monitor_cursor",
    "seq": "seq",
}
_POSTGRES_SCHEMA = """
CREATE TABLE IF NOT EXISTS {alerts} (
    seq BIGSERIAL,  -- the order alerts were queued in
    id TEXT PRIMARY KEY,
    payload TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt DOUBLE PRECISION NOT NULL,
    last_error TEXT,
    message_id TEXT,
    created DOUBLE PRECISION NOT NULL,
    sent DOUBLE PRECISION,
    stream TEXT,
    claimed DOUBLE PRECISION
);
CREATE INDEX IF NOT EXISTS rowcount_monitor_alerts_due ON {alerts} (status, next_attempt);
CREATE TABLE IF NOT EXISTS {check_state} (check_key TEXT PRIMARY KEY, failing INTEGER NOT NULL, bucket TEXT);
CREATE TABLE IF NOT EXISTS {cursor} (name TEXT PRIMARY KEY, position BIGINT NOT NULL);
"""
# pg_advisory_xact_lock key ('rowcount'): every outbox transaction holds it, as SQLite's BEGIN
# IMMEDIATE serializes writers, so the reasoning above holds for both.
_LOCK_KEY = 0x726F77636F756E74


class PostgresOutbox(Outbox):
    """The outbox as tables (prefixed rowcount_monitor_) in the Dagster instance's PostgreSQL
    database: the daemon, run workers and the CLI reach it from any host, and it lives as long
    as the instance does."""

    def __init__(self, url: str):
        self.url = libpq_url(url)
        Database(
            ("alerts", "check_state", "cursor"),
            _POSTGRES_SCHEMA,
            {"outbox": SCHEMA_VERSION},
            url=url,
            upgrades={"outbox": {3: "ALTER TABLE {check_state} ADD COLUMN IF NOT EXISTS bucket TEXT"}},
        )

    def __str__(self) -> str:
        return "the rowcount_monitor_* tables of the instance's PostgreSQL database"

    def _tx(self) -> AbstractContextManager[Statements]:
        return postgres_transaction(self.url, _POSTGRES_NAMES, lock=_LOCK_KEY)


OUTBOX_FILE = "rowcount_monitor_alerts.sqlite"


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
