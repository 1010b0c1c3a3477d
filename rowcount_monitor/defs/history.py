"""Recorded row counts, read fast enough for a thousand checks per tick.

The Dagster event log is the record: every count is a `dagster/row_count` materialization. But
reading a check's window (two to three weeks of hourly buckets) back from it costs one event-log
query per table and decoding hundreds of events; at 1,000 tables that alone would take most of
an hourly tick. So every count the counting step records is also written, in one transaction
per step, to a compact cache beside the instance (rowcount_monitor_history.sqlite in
DAGSTER_HOME: asset, bucket, rows), and checks read their windows from it in one query.

The cache never invents history: a table it has not seen is rebuilt from the event log on first
read (delete the file and every table is rebuilt), and `rowcount-monitor backfill --seed-cache`
may seed it from the warehouse's timestamp column, which is the same count the step records.
An instance without a directory (tests' ephemeral instances) has no cache: windows are read
from the event log directly.
"""
from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import dagster as dg
import pandas as pd

CACHE_FILE = "rowcount_monitor_history.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counts (
    asset TEXT NOT NULL, bucket INTEGER NOT NULL, row_count INTEGER NOT NULL,
    PRIMARY KEY (asset, bucket)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS complete (asset TEXT PRIMARY KEY);
"""
_EPOCH = pd.Timestamp("1970-01-01")
_SECOND = pd.Timedelta(seconds=1)


def _seconds(ts: pd.Timestamp) -> int:
    return int((ts - _EPOCH) // _SECOND)


class HistoryCache:
    """asset (its user string, e.g. demo/raw/orders) -> bucket start -> rows. `complete` lists
    the assets whose cached history is known to hold everything the event log does."""

    def __init__(self, path: Path):
        self.path = Path(path)
        with closing(self._connect()) as conn:
            conn.executescript(_SCHEMA)

    @classmethod
    def for_instance(cls, instance: dg.DagsterInstance) -> "HistoryCache | None":
        root = getattr(instance, "root_directory", None)
        return cls(Path(root) / CACHE_FILE) if root else None

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=60)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def record(self, rows: list[tuple[str, pd.Timestamp, int]], complete: list[str] = ()) -> None:
        """Upsert counts (the newest write of a bucket wins, as in the event log) and mark
        `complete` assets, in one transaction."""
        with closing(self._connect()) as conn, conn:
            conn.executemany("INSERT OR REPLACE INTO counts VALUES (?, ?, ?)",
                             [(a, _seconds(b), int(n)) for a, b, n in rows])
            conn.executemany("INSERT OR IGNORE INTO complete VALUES (?)", [(a,) for a in complete])

    def complete(self, assets: list[str]) -> set[str]:
        with closing(self._connect()) as conn:
            marks = conn.execute("SELECT asset FROM complete").fetchall()
        wanted = set(assets)
        return {a for (a,) in marks if a in wanted}

    def read(self, assets: list[str], first: pd.Timestamp, last: pd.Timestamp) -> dict[str, pd.Series]:
        """Each asset's counts with first <= bucket <= last, in one query; missing assets get
        an empty series."""
        with closing(self._connect()) as conn:
            conn.execute("CREATE TEMP TABLE wanted (asset TEXT PRIMARY KEY)")
            conn.executemany("INSERT OR IGNORE INTO wanted VALUES (?)", [(a,) for a in assets])
            frame = pd.read_sql_query(
                "SELECT c.asset, c.bucket, c.row_count FROM counts c JOIN wanted w ON c.asset = w.asset "
                "WHERE c.bucket BETWEEN ? AND ? ORDER BY c.asset, c.bucket",
                conn, params=(_seconds(first), _seconds(last)))
        frame["bucket"] = pd.to_datetime(frame["bucket"], unit="s")
        out = {a: pd.Series(dtype=float, index=pd.DatetimeIndex([])) for a in assets}
        for asset, part in frame.groupby("asset", sort=False):
            out[asset] = pd.Series(part["row_count"].to_numpy(dtype=float), index=pd.DatetimeIndex(part["bucket"]))
        return out
