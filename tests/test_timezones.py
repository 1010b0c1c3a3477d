"""Time zones: a daily table of a New York business is counted by its local days (23 and 25
hours long on daylight-saving days, neither an error nor an alert); an hourly table keeps UTC
partitions and is named in its local time."""

import dagster as dg
import duckdb
import numpy as np
import pandas as pd

from rowcount_monitor.defs import build_definitions
from rowcount_monitor.defs.schedules import last_complete_bucket
from rowcount_monitor.naming import CHECK_NAME

from .conftest import table_entry, write_config
from .test_alerting import backfill_until

ROWS_PER_HOUR = 100
ZONE = "America/New_York"
# (table, first day, last day loaded (UTC), the daylight-saving day, its hours)
SEASONS = [
    ("spring", "2026-01-25", "2026-03-11", "2026-03-08", 23),
    ("autumn", "2026-09-20", "2026-11-04", "2026-11-01", 25),
]


def steady_warehouse(path) -> None:
    """Tables loading exactly ROWS_PER_HOUR rows every UTC hour."""
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE SCHEMA raw")
        for name, first, last, _, _ in SEASONS:
            conn.execute(
                f"CREATE TABLE raw.{name} AS SELECT range AS loaded_at FROM range(TIMESTAMP '{first}', "
                f"TIMESTAMP '{last}', INTERVAL {3600 // ROWS_PER_HOUR} SECOND)"
            )


def test_a_daily_table_in_a_time_zone_counts_local_days_and_its_dst_days_pass(tmp_path):
    (tmp_path / "wh").mkdir()
    db = tmp_path / "wh" / "shop.duckdb"
    steady_warehouse(db)
    entries = [table_entry(name, "daily", timezone=ZONE) for name, *_ in SEASONS]
    defs = build_definitions(write_config(tmp_path, db, entries))
    schedule = defs.resolve_schedule_def("daily_row_counts_america_new_york")
    assert schedule.execution_timezone == ZONE and schedule.cron_schedule == "15 0 * * *"
    assert {s.name for s in defs.schedules} == {"daily_row_counts_america_new_york"}
    with dg.instance_for_test() as instance:
        for name, _, last, dst_day, hours in SEASONS:
            key = dg.AssetKey(["demo", "raw", name])
            pdef = defs.resolve_assets_def(key).partitions_def
            assert pdef.timezone == ZONE
            window = pdef.time_window_for_partition_key(dst_day)
            assert (pd.Timestamp(window.end) - pd.Timestamp(window.start)).total_seconds() == hours * 3600
            # at 00:15 New York time, the day that ended is the newest complete bucket
            after = (pd.Timestamp(dst_day) + pd.Timedelta(days=1, minutes=15)).tz_localize(ZONE)
            assert last_complete_bucket(pdef, "daily", after, pd.Timedelta(0)) == dst_day
            backfill_until(defs, instance, f"{last} 00:00", judge_days=5)
            counts = {
                r.partition_key: r.asset_materialization.metadata["dagster/row_count"].value
                for r in instance.fetch_materializations(key, limit=1000).records
            }
            assert counts[dst_day] == hours * ROWS_PER_HOUR
            day_before = (pd.Timestamp(dst_day) - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
            assert counts[day_before] == 24 * ROWS_PER_HOUR
            judged = {
                r.partition: r.event.dagster_event.event_specific_data
                for r in instance.event_log_storage.get_asset_check_execution_history(
                    dg.AssetCheckKey(key, CHECK_NAME), limit=20
                )
            }
            assert dst_day in judged and all(v.passed for v in judged.values()), judged[dst_day].description
            assert "a Sunday load" in judged[dst_day].description


def test_an_hourly_verdict_names_the_local_hour():
    from rowcount_monitor.detection import DetectionPolicy, evaluate_latest

    index = pd.date_range("2026-01-05", periods=24 * 28, freq="h")  # UTC hours
    history = pd.Series(1000.0 + (index.hour == 14) * 10, index=index)
    utc = evaluate_latest(history)
    local = evaluate_latest(history, DetectionPolicy(timezone=ZONE))
    assert "a Sunday 23:00 load" in utc.reason  # the last bucket: Sunday 1 February, 23:00 UTC
    assert "a Sunday 18:00 EST load" in local.reason


def sydney_hours(seed: int) -> pd.Series:
    """An hourly table loading on Sydney's clock (peak at 15:00 local), six weeks around its
    daylight-saving end on Sunday 5 April 2026 (03:00 AEDT becomes 02:00 AEST): in UTC, its
    rhythm moves an hour later at a change neither the US nor the EU has."""
    rng = np.random.default_rng(seed)
    utc = pd.date_range("2026-02-20", "2026-04-08", freq="h")
    hour = utc.tz_localize("UTC").tz_convert("Australia/Sydney").hour.to_numpy()
    return pd.Series(
        np.round(2000 * (1 + 0.8 * np.sin(2 * np.pi * (hour - 9) / 24)) * rng.lognormal(0, 0.05, len(utc))), index=utc
    )


def test_an_hourly_table_expects_its_own_zones_clock_change():
    from rowcount_monitor.detection import DetectionPolicy, score_series

    around = pd.Timestamp("2026-04-03")
    alerts = {
        zone: sum(
            int(score_series(sydney_hours(seed), DetectionPolicy(timezone=zone), since=around)["is_anomaly"].sum())
            for seed in range(3)
        )
        for zone in (None, "Australia/Sydney")
    }
    assert alerts["Australia/Sydney"] == 0
    assert alerts[None] >= 5  # without the zone, the change is taken for incidents


def test_zones_whose_names_differ_only_by_a_sign_load_side_by_side(tmp_path, demo_db):
    """Etc/GMT+3 (three hours behind UTC) and Etc/GMT-3 (ahead) are two zones: two schedules
    and two counting assets, and the code location loads."""
    tables = [
        table_entry("customers", "daily", timezone="Etc/GMT+3"),
        table_entry("refunds", "daily", timezone="Etc/GMT-3"),
    ]
    defs = build_definitions(write_config(tmp_path, demo_db, tables))
    names = {s.name for s in defs.schedules}
    assert {"daily_row_counts_etc_gmt_plus_3", "daily_row_counts_etc_gmt_minus_3"} <= names
    assert len(defs.get_repository_def().get_all_jobs()) > 0  # the definitions resolve
