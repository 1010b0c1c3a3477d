"""Recorded row counts, read fast enough for a thousand checks per tick.

The Dagster event log is the record: every count is a `dagster/row_count` materialization. But
reading a check's window (two to three weeks of hourly buckets) back from it costs one event-log
query per table and decoding hundreds of events; at 1,000 tables that alone would take most of
an hourly tick. So every count the counting step records is also written, in one transaction
per step, to a compact cache (asset, bucket, rows), and checks read their windows from it in
one query. The cache is rowcount_monitor_history.sqlite in DAGSTER_HOME for `dagster dev`, and
the rowcount_monitor_counts table of the instance's PostgreSQL database in production, where
run workers on different hosts write it at once (rowcount_monitor.storage).

The cache never invents history: a table it has not seen is rebuilt from the event log on first
read (delete the file and every table is rebuilt), and `rowcount-monitor backfill --seed-cache`
may seed it from the warehouse's timestamp column, which is the same count the step records.
An instance without a directory (tests' ephemeral instances) has no cache: windows are read
from the event log directly.
"""

from __future__ import annotations

import pandas as pd

from ..storage import Store

CACHE_FILE = "rowcount_monitor_history.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS {counts} (
    asset TEXT NOT NULL, bucket BIGINT NOT NULL, row_count DOUBLE PRECISION NOT NULL, PRIMARY KEY (asset, bucket));
CREATE TABLE IF NOT EXISTS {complete} (asset TEXT PRIMARY KEY);
"""
# assets per statement of a read (SQLite's limit on parameters is 999 in old builds)
_CHUNK = 500


def _seconds(ts: pd.Timestamp) -> int:
    return pd.Timestamp(ts).value // 1_000_000_000  # a naive timestamp's nanoseconds since 1970


class HistoryCache(Store):
    """asset (its user string, e.g. demo/raw/orders) -> bucket start -> rows (a metric
    monitor's value). `complete` lists the assets whose cached history is known to hold
    everything the event log does."""

    TABLES, SCHEMA, VERSIONS, FILE = ("counts", "complete"), _SCHEMA, {"history": 2}, CACHE_FILE
    # version 2: metric monitors' values are real numbers, not only row counts
    UPGRADES = {"history": {2: "ALTER TABLE {counts} ALTER COLUMN row_count TYPE DOUBLE PRECISION"}}

    def record(self, rows: list[tuple[str, pd.Timestamp, int]], complete: list[str] = ()) -> None:
        """Upsert counts (the newest write of a bucket wins, as in the event log) and mark
        `complete` assets, in one transaction."""
        # one write per bucket: a statement that updated a row twice would be refused by PostgreSQL
        newest = {(a, _seconds(b)): float(n) for a, b, n in rows}
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT INTO {counts} VALUES (:asset, :bucket, :rows) ON CONFLICT (asset, bucket) "
                "DO UPDATE SET row_count = excluded.row_count",
                [{"asset": a, "bucket": b, "rows": n} for (a, b), n in newest.items()],
            )
            conn.executemany(
                "INSERT INTO {complete} VALUES (:asset) ON CONFLICT (asset) DO NOTHING",
                [{"asset": a} for a in complete],
            )

    def complete(self, assets: list[str]) -> set[str]:
        with self.db.transaction(write=False) as conn:
            marks = conn.execute("SELECT asset FROM {complete}").fetchall()
        wanted = set(assets)
        return {a for (a,) in marks if a in wanted}

    def read(self, assets: list[str], first: pd.Timestamp, last: pd.Timestamp) -> dict[str, pd.Series]:
        """Each asset's counts with first <= bucket <= last, in one query (per 500 assets);
        missing assets get an empty series."""
        rows = []
        with self.db.transaction(write=False) as conn:
            for at in range(0, len(assets), _CHUNK):
                chunk = assets[at : at + _CHUNK]
                args = {f"a{i}": a for i, a in enumerate(chunk)} | {"first": _seconds(first), "last": _seconds(last)}
                names = ", ".join(f":{name}" for name in args if name.startswith("a"))
                rows += conn.execute(
                    f"SELECT asset, bucket, row_count FROM {{counts}} WHERE asset IN ({names}) "
                    "AND bucket BETWEEN :first AND :last ORDER BY asset, bucket",
                    args,
                ).fetchall()
        frame = pd.DataFrame(rows, columns=["asset", "bucket", "row_count"])
        frame["bucket"] = pd.to_datetime(frame["bucket"].astype("int64"), unit="s")
        out = {a: pd.Series(dtype=float, index=pd.DatetimeIndex([])) for a in assets}
        for asset, part in frame.groupby("asset", sort=False):
            out[asset] = pd.Series(part["row_count"].to_numpy(dtype=float), index=pd.DatetimeIndex(part["bucket"]))
        return out
