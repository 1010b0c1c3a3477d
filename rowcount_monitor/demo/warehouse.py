"""The demo warehouse: an imaginary shop's raw tables in a DuckDB file, 90 days of loads.

Each table's load size follows hour-of-day and weekday patterns, a growth trend and
multiplicative noise, all a deterministic function of the bucket's absolute time (so a rebuild
reproduces the same counts for the same hours). On top: a holiday and four incidents that the
row-count checks should catch, one that only a metric monitor sees, and rows of one table that
arrive late when the demo starts. The
tables also hold 14 days of future loads, so the hourly schedule keeps finding fresh rows after
the demo starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

# Bump when the generated tables change, so that existing demo files are rebuilt.
VERSION = 3
HISTORY_DAYS = 90
FUTURE_DAYS = 14
_EPOCH = pd.Timestamp("2026-01-01")
SCHEMA = "raw"


@dataclass(frozen=True)
class DemoTable:
    name: str
    cadence: str  # hourly | daily
    level: float  # rows per bucket at the epoch, before patterns
    daily_swing: float  # 0 = flat over the day, 0.8 = strong day/night rhythm
    weekend: float  # weekend load as a share of a weekday's
    growth: float  # relative growth per 90 days
    noise: float  # lognormal sigma
    extras: tuple[str, ...]  # more columns, each "name TYPE AS expression" over id


TABLES = (
    DemoTable(
        "orders",
        "hourly",
        100,
        0.7,
        0.6,
        0.15,
        0.08,
        ("amount DOUBLE AS (id % 9973) / 100.0", "customer_id INTEGER AS (id * 7919) % 5000"),
    ),
    DemoTable("order_items", "hourly", 250, 0.7, 0.6, 0.15, 0.08, ("quantity INTEGER AS 1 + id % 4",)),
    DemoTable(
        "payments", "hourly", 97, 0.7, 0.6, 0.15, 0.08, ("method VARCHAR AS ['card','paypal','invoice'][1 + id % 3]",)
    ),
    DemoTable(
        "events", "hourly", 800, 0.6, 0.8, 0.25, 0.06, ("event_type VARCHAR AS ['view','click','scroll'][1 + id % 3]",)
    ),
    DemoTable(
        "sessions", "hourly", 200, 0.6, 0.8, 0.2, 0.07, ("device VARCHAR AS ['web','ios','android'][1 + id % 3]",)
    ),
    DemoTable("page_views", "hourly", 600, 0.6, 0.8, 0.2, 0.06, ("path VARCHAR AS '/p/' || (id % 500)",)),
    DemoTable("cart_events", "hourly", 300, 0.7, 0.7, 0.15, 0.08, ("action VARCHAR AS ['add','remove'][1 + id % 2]",)),
    DemoTable("shipments", "hourly", 40, 0.9, 0.2, 0.1, 0.12, ("carrier VARCHAR AS ['dhl','ups'][1 + id % 2]",)),
    DemoTable("inventory_snapshots", "daily", 5000, 0.0, 1.0, 0.02, 0.01, ("sku_id INTEGER AS id % 5000",)),
    DemoTable(
        "customers", "daily", 350, 0.0, 0.7, 0.3, 0.08, ("country VARCHAR AS ['DE','FR','US','GB'][1 + id % 4]",)
    ),
    DemoTable(
        "refunds", "daily", 25, 0.0, 0.8, 0.1, 0.15, ("reason VARCHAR AS ['damaged','late','other'][1 + id % 3]",)
    ),
    DemoTable("marketing_spend", "daily", 48, 0.0, 1.0, 0.0, 0.02, ("channel VARCHAR AS 'channel_' || (id % 48)",)),
)


def anchor_day(now: pd.Timestamp | None = None) -> pd.Timestamp:
    """Midnight UTC of today: the demo's 'now' for placing history and incidents."""
    return (now or pd.Timestamp.now(tz="UTC").tz_localize(None)).floor("D")


def incidents(anchor: pd.Timestamp) -> dict[str, list[tuple[pd.Timestamp, pd.Timestamp, float]]]:
    """Injected incidents per table: (first bucket, last bucket, factor on the load)."""
    h = pd.Timedelta(hours=1)
    return {
        "orders": [(anchor - pd.Timedelta("4D") + 14 * h,) * 2 + (0.5,)],  # half load
        "payments": [(anchor - pd.Timedelta("3D") + 9 * h,) * 2 + (0.0,)],  # missing load
        "events": [(anchor - pd.Timedelta("2D") + 20 * h,) * 2 + (2.0,)],  # doubled load
        # a silent schema change: the loader writes nothing from here on
        "sessions": [(anchor - pd.Timedelta("1D") + 12 * h, anchor + pd.Timedelta(days=FUTURE_DAYS), 0.0)],
        "refunds": [(anchor - pd.Timedelta("4D"),) * 2 + (2.5,)],
    }


# The demo's table whose rows arrive late (it has `recount: 3` in rowcount_monitor.yaml): when
# the demo starts, this share of its newest complete hour is held back until that hour was counted.
LATE_TABLE = "page_views"
LATE_SHARE = 0.7
_HELD = "main.late_rows"


def hold_back_late_rows(path: Path, bucket: pd.Timestamp) -> int:
    """Take LATE_SHARE of LATE_TABLE's rows of the hour `bucket` out into a holding table, as
    if they had not arrived yet; returns how many. Nothing when rows are held already."""
    with duckdb.connect(str(path)) as conn:
        if _holding(conn):
            return 0
        where = f"date_trunc('hour', loaded_at) = TIMESTAMP '{bucket:%Y-%m-%d %H:%M}' AND id % 10 < {round(10 * LATE_SHARE)}"
        conn.execute(f"CREATE TABLE {_HELD} AS SELECT * FROM {SCHEMA}.{LATE_TABLE} WHERE {where}")
        conn.execute(f"DELETE FROM {SCHEMA}.{LATE_TABLE} WHERE {where}")
        return conn.execute(f"SELECT count(*) FROM {_HELD}").fetchone()[0]


def _holding(conn) -> bool:
    """Whether late rows are held back (their holding table, _HELD, exists)."""
    name = _HELD.rsplit(".", 1)[-1]
    return bool(conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]).fetchone()[0])


def land_late_rows(path: Path) -> int:
    """Put the held rows back into LATE_TABLE (they arrived); returns how many."""
    with duckdb.connect(str(path)) as conn:
        if not _holding(conn):
            return 0
        landed = conn.execute(f"SELECT count(*) FROM {_HELD}").fetchone()[0]
        conn.execute(f"INSERT INTO {SCHEMA}.{LATE_TABLE} SELECT * FROM {_HELD}")
        conn.execute(f"DROP TABLE {_HELD}")
        return landed


def metric_incident(anchor: pd.Timestamp) -> tuple[str, str, pd.Timestamp]:
    """An incident only a metric monitor sees: for one hour every payment is made by invoice
    (the row count is normal; the demo's invoice_payments metric triples)."""
    return "payments", "method = 'invoice'", anchor - pd.Timedelta("2D") + pd.Timedelta(hours=15)


def holiday(anchor: pd.Timestamp) -> pd.Timestamp:
    """A shop holiday 40 days back: every table loads about 40 % of a normal day."""
    return anchor - pd.Timedelta(days=40)


def bucket_counts(table: DemoTable, anchor: pd.Timestamp, history_days: int = HISTORY_DAYS) -> pd.Series:
    freq = "h" if table.cadence == "hourly" else "D"
    seed = sum(map(ord, table.name))
    full = pd.date_range(_EPOCH, anchor + pd.Timedelta(days=FUTURE_DAYS), freq=freq, inclusive="left")
    rng = np.random.default_rng(seed)
    noise = rng.lognormal(0.0, table.noise, len(full))
    days = (full - _EPOCH) / pd.Timedelta(days=1)
    hour = full.hour.to_numpy()
    rhythm = 1 + table.daily_swing * np.sin(2 * np.pi * (hour - 9) / 24)
    weekend = np.where(full.day_of_week >= 5, table.weekend, 1.0)
    trend = 1 + table.growth * days / 90
    counts = pd.Series(table.level * rhythm * weekend * trend * noise, index=full)
    counts[full.normalize() == holiday(anchor)] *= 0.4
    for first, last, factor in incidents(anchor).get(table.name, []):
        counts[(full >= first) & (full <= last)] *= factor
    start = anchor - pd.Timedelta(days=history_days)
    return counts[counts.index >= start].round().astype(int)


def build(path: Path, anchor: pd.Timestamp | None = None, progress=print, history_days: int = HISTORY_DAYS) -> Path:
    """Write the demo DuckDB file (atomically: a half-written file never replaces a good one)."""
    anchor = anchor or anchor_day()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.duckdb")
    tmp.unlink(missing_ok=True)
    with duckdb.connect(str(tmp)) as conn:
        conn.execute(f"CREATE SCHEMA {SCHEMA}")
        for i, table in enumerate(TABLES, 1):
            counts = bucket_counts(table, anchor, history_days)
            frame = pd.DataFrame({"bucket": counts.index, "n": counts.to_numpy()})
            width = "3600" if table.cadence == "hourly" else "86400"
            conn.register("bucket_frame", frame)
            conn.execute(f"""
                CREATE TABLE {SCHEMA}.{table.name} AS
                SELECT CAST(row_number() OVER (ORDER BY b.bucket, r.range) AS BIGINT) AS id,
                       b.bucket + to_microseconds(CAST(r.range * {width} * 1000000 // b.n AS BIGINT)) AS loaded_at
                FROM bucket_frame b, range(b.n) r
            """)
            for extra in table.extras:
                column, expression = extra.split(" AS ", 1)
                name, ctype = column.split()
                conn.execute(f"ALTER TABLE {SCHEMA}.{table.name} ADD COLUMN {name} {ctype}")
                conn.execute(f"UPDATE {SCHEMA}.{table.name} SET {name} = {expression}")
            conn.unregister("bucket_frame")
            progress(f"  [{i:2d}/{len(TABLES)}] {SCHEMA}.{table.name:20s} {int(counts.sum()):>10,} rows")
        name, change, hour = metric_incident(anchor)
        conn.execute(f"UPDATE {SCHEMA}.{name} SET {change} WHERE date_trunc('hour', loaded_at) = ?", [hour])
        conn.execute("CREATE TABLE main.demo_info AS SELECT ? AS version", [VERSION])
        conn.execute("CHECKPOINT")
    os.replace(tmp, path)
    return path


def is_fresh(path: Path, now: pd.Timestamp | None = None) -> bool:
    """The file exists, was written by this version of the generator and still holds at
    least two days of future loads."""
    if not path.exists():
        return False
    now = now or pd.Timestamp.now(tz="UTC").tz_localize(None)
    try:
        with duckdb.connect(str(path), read_only=True) as conn:
            version = conn.execute("SELECT max(version) FROM main.demo_info").fetchone()[0]
            last = conn.execute(f"SELECT max(loaded_at) FROM {SCHEMA}.orders").fetchone()[0]
    except duckdb.Error:
        return False
    return version == VERSION and last is not None and pd.Timestamp(last) > now + pd.Timedelta(days=2)
