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

The windows a check reads (`recorded_windows`: as many buckets before the tested one as can
change its verdict) are cut here, from the cache or the event log.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd

from .cadence import BUCKET_STEP, PARTITION_FORMAT
from .catalog import TableFacts
from .config import TableConfig
from .detection import DetectionPolicy
from .detection.models import history_reach
from .detection.seasonality import resolve_periods
from .feedback import policy_for
from .measures import ROW_COUNT, value_key
from .naming import entry_key
from .storage import CACHE_FILE, Store

_SCHEMA = """
CREATE TABLE IF NOT EXISTS {counts} (
    asset TEXT NOT NULL, bucket BIGINT NOT NULL, row_count DOUBLE PRECISION NOT NULL, PRIMARY KEY (asset, bucket));
CREATE TABLE IF NOT EXISTS {complete} (asset TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS {states} (asset TEXT PRIMARY KEY, state BYTEA NOT NULL);
"""
# assets per statement of a read (SQLite's limit on parameters is 999 in old builds)
_CHUNK = 500


def _seconds(ts: pd.Timestamp) -> int:
    return pd.Timestamp(ts).value // 1_000_000_000  # a naive timestamp's nanoseconds since 1970


class HistoryCache(Store):
    """asset (its user string, e.g. demo/raw/orders) -> bucket start -> rows (a metric
    monitor's value). `complete` lists the assets whose cached history is known to hold
    everything the event log does; `states` holds each asset's carried detection state
    (detection.evaluate_carried), which a check resumes from."""

    TABLES, SCHEMA, VERSIONS, FILE = ("counts", "complete", "states"), _SCHEMA, {"history": 2}, CACHE_FILE
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

    def states(self, assets: list[str]) -> dict[str, bytes | None]:
        """Each asset's carried detection state (None where it has none), in one query per 500."""
        found: dict[str, bytes | None] = dict.fromkeys(assets)
        with self.db.transaction(write=False) as conn:
            for at in range(0, len(assets), _CHUNK):
                args = {f"a{i}": a for i, a in enumerate(assets[at : at + _CHUNK])}
                names = ", ".join(f":{name}" for name in args)
                for asset, state in conn.execute(
                    f"SELECT asset, state FROM {{states}} WHERE asset IN ({names})", args
                ).fetchall():
                    found[asset] = bytes(state)
        return found

    def keep_states(self, states: dict[str, bytes | None]) -> None:
        """Replace the assets' carried states (those given as None keep theirs), in one transaction."""
        rows = [{"asset": a, "state": s} for a, s in states.items() if s is not None]
        if not rows:
            return
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT INTO {states} VALUES (:asset, :state) ON CONFLICT (asset) DO UPDATE SET state = excluded.state",
                rows,
            )


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
        value = record.asset_materialization.metadata.get(ROW_COUNT)
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
