"""A durable outbox of alerts in a small SQLite file.

Check evaluations are turned into alerts and written here, together with the event-log
position read up to, in one transaction: a tick that dies before the transaction wrote
nothing; one that dies after it will not read those evaluations again. An alert leaves
`pending` only when SNS accepted it (`sent`), or after too many failed attempts (`dead`, kept
for `rowcount-monitor alerts replay`).
"""
from __future__ import annotations

import sqlite3
import time
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from .messages import Alert

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
    sent REAL
);
CREATE INDEX IF NOT EXISTS alerts_due ON alerts (status, next_attempt);
CREATE TABLE IF NOT EXISTS check_state (
    check_key TEXT PRIMARY KEY,
    failing INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS cursor (name TEXT PRIMARY KEY, position INTEGER NOT NULL);
"""


@dataclass(frozen=True)
class Pending:
    alert: Alert
    attempts: int
    interrupted: bool  # a previous publish of it never reported back (the process died)


class Outbox:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with closing(sqlite3.connect(self.path, timeout=30)) as conn:
            conn.executescript(_SCHEMA)

    @contextmanager
    def _tx(self):
        with closing(sqlite3.connect(self.path, timeout=30, isolation_level=None)) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    # --- reading the event log -------------------------------------------------------------

    def positions(self) -> dict[str, int]:
        """How far each source (a check) has been read."""
        with self._tx() as conn:
            return dict(conn.execute("SELECT name, position FROM cursor").fetchall())

    def ingest(self, reads) -> int:
        """Atomically, for every (cursor name, position, evaluations, to_alerts) in `reads`: turn
        the evaluations into alerts (via `to_alerts(evaluation, was_failing)`, which returns the
        alerts and whether the check now fails), update check states, and move the cursor to
        `position`. One transaction for all of them: a sensor pass over 1,000 checks commits
        once. Returns how many alerts were added."""
        added = 0
        now = time.time()
        with self._tx() as conn:
            for name, position, evaluations, to_alerts in reads:
                for ev in evaluations:
                    row = conn.execute("SELECT failing FROM check_state WHERE check_key = ?", (ev.check_key,)).fetchone()
                    was_failing = bool(row and row[0])
                    alerts, failing = to_alerts(ev, was_failing)
                    conn.execute(
                        "INSERT INTO check_state (check_key, failing) VALUES (?, ?) "
                        "ON CONFLICT(check_key) DO UPDATE SET failing = excluded.failing",
                        (ev.check_key, int(failing)))
                    for alert in alerts:
                        added += self._insert(conn, alert, now)
                conn.execute("INSERT INTO cursor (name, position) VALUES (?, ?) "
                             "ON CONFLICT(name) DO UPDATE SET position = max(position, excluded.position)",
                             (name, position))
        return added

    def add(self, alert: Alert) -> bool:
        """Queue one alert; False if an alert with its id was queued before."""
        with self._tx() as conn:
            return bool(self._insert(conn, alert, time.time()))

    @staticmethod
    def _insert(conn, alert: Alert, now: float) -> int:
        cur = conn.execute("INSERT OR IGNORE INTO alerts (id, payload, next_attempt, created) VALUES (?, ?, ?, ?)",
                           (alert.id, alert.to_json(), now, now))
        return cur.rowcount

    # --- delivering ------------------------------------------------------------------------

    def due(self, now: float, limit: int = 500) -> list[Pending]:
        with self._tx() as conn:
            rows = conn.execute(
                "SELECT payload, attempts, status FROM alerts WHERE status IN ('pending', 'sending') "
                "AND next_attempt <= ? ORDER BY created, id LIMIT ?", (now, limit)).fetchall()
        return [Pending(Alert.from_json(p), a, s == "sending") for p, a, s in rows]

    def claim(self, alert_id: str) -> None:
        """Mark an alert as being published: if the process dies before mark_sent, the next
        tick sees 'sending' and knows the outcome is unknown (FIFO topics deduplicate it)."""
        with self._tx() as conn:
            conn.execute("UPDATE alerts SET status = 'sending' WHERE id = ?", (alert_id,))

    def mark_sent(self, alert_id: str, message_id: str, now: float) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE alerts SET status = 'sent', message_id = ?, sent = ?, attempts = attempts + 1 "
                         "WHERE id = ?", (message_id, now, alert_id))

    def mark_failed(self, alert_id: str, error: str, retry_at: float, dead: bool) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE alerts SET status = ?, attempts = attempts + 1, next_attempt = ?, last_error = ? "
                         "WHERE id = ?", ("dead" if dead else "pending", retry_at, error[:500], alert_id))

    def replay(self, ids: list[str] | None, now: float) -> int:
        """Dead alerts (all, or the given ids) back to pending with a fresh attempt count."""
        with self._tx() as conn:
            if ids:
                marks = ",".join("?" * len(ids))
                cur = conn.execute(f"UPDATE alerts SET status = 'pending', attempts = 0, next_attempt = ? "
                                   f"WHERE status = 'dead' AND id IN ({marks})", (now, *ids))
            else:
                cur = conn.execute("UPDATE alerts SET status = 'pending', attempts = 0, next_attempt = ? "
                                   "WHERE status = 'dead'", (now,))
            return cur.rowcount

    def counts(self) -> dict[str, int]:
        with self._tx() as conn:
            return dict(conn.execute("SELECT status, count(*) FROM alerts GROUP BY status").fetchall())

    def listing(self, status: str) -> list[tuple[str, int, str | None]]:
        with self._tx() as conn:
            return conn.execute("SELECT id, attempts, last_error FROM alerts WHERE status = ? ORDER BY created",
                                (status,)).fetchall()
