"""Materializing table assets on a real Dagster instance against a real DuckDB file."""

import subprocess
import sys

import dagster as dg
import duckdb
import pandas as pd
import pytest

from rowcount_monitor.backfill import shards
from rowcount_monitor.defs import build_definitions
from rowcount_monitor.defs.backfill_job import JOB_NAME

from .conftest import ANCHOR, table_entry, write_config

RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
ORDERS = dg.AssetKey(["demo", "raw", "orders"])


def sql_counts(db, table, unit="hour"):
    with duckdb.connect(str(db), read_only=True) as conn:
        rows = conn.execute(
            f"SELECT date_trunc('{unit}', loaded_at), count(*) FROM shop.raw.{table} GROUP BY 1"
        ).fetchall()
    return {pd.Timestamp(b): n for b, n in rows}


def recorded(instance, key):
    records = instance.fetch_materializations(key, limit=10_000).records
    return {r.partition_key: r.asset_materialization.metadata["dagster/row_count"].value for r in records}


def test_a_partition_range_records_exact_counts_once_per_partition(shop_config, demo_db):
    defs = build_definitions(shop_config)
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance,
            asset_selection=[ORDERS],
            tags={RANGE_START: "2026-02-25-00:00", RANGE_END: "2026-02-26-23:00"},
        )
        assert result.success
        got = recorded(instance, ORDERS)
        assert len(instance.fetch_materializations(ORDERS, limit=1000).records) == 48
    expected = sql_counts(demo_db, "orders")
    assert len(got) == 48
    for key, count in got.items():
        assert count == expected[pd.Timestamp(pd.to_datetime(key, format="%Y-%m-%d-%H:%M"))]
    assert min(got.values()) > 0


def test_backfill_job_fills_missing_buckets_once(shop_config, demo_db):
    defs = build_definitions(shop_config)
    job = defs.resolve_job_def(JOB_NAME)
    until = str(ANCHOR)
    config = {
        "ops": {
            "fill_missing_buckets": {"config": {"tables": ["demo/raw/orders", "demo/raw/customers"], "until": until}}
        }
    }
    with dg.instance_for_test() as instance:
        assert (
            job.execute_in_process(instance=instance, run_config=config).output_for_node("fill_missing_buckets")
            == 14 * 24 + 14
        )
        orders = recorded(instance, ORDERS)
        customers = recorded(instance, dg.AssetKey(["demo", "raw", "customers"]))
        again = job.execute_in_process(instance=instance, run_config=config)
        assert again.output_for_node("fill_missing_buckets") == 0
        assert len(instance.fetch_materializations(ORDERS, limit=10_000).records) == 14 * 24
    hourly = sql_counts(demo_db, "orders")
    assert all(orders[k] == hourly[pd.to_datetime(k, format="%Y-%m-%d-%H:%M")] for k in orders)
    daily = sql_counts(demo_db, "customers", "day")
    assert all(customers[k] == daily[pd.Timestamp(k)] for k in customers)
    assert len(customers) == 14


def test_backfill_workers_split_the_buckets_evenly():
    parts = shards({"a": 2000, "b": 2000, "c": 90, "d": 90, "e": 2000}, 2)
    loads = sorted(sum({"a": 2000, "b": 2000, "c": 90, "d": 90, "e": 2000}[t] for t in p) for p in parts)
    assert loads == [2180, 4000]
    assert sorted(t for p in parts for t in p) == ["a", "b", "c", "d", "e"]


WORKERS = """
import os, sys, time
from multiprocessing.util import Finalize
from pathlib import Path
from rowcount_monitor.supervise import in_processes

def task(n, folder):
    # runs at the worker's own, orderly exit, never when a signal ends it
    Finalize(None, Path(folder, str(os.getpid())).touch, exitpriority=100)
    time.sleep(1)  # one shard per worker, as in a backfill
    return 2 * n, os.getpid()

if __name__ == "__main__":  # a signalled worker is a race: four rounds catch it nearly always
    print([in_processes(task, [(1, sys.argv[1]), (2, sys.argv[1])]) for _ in range(4)])
"""


def test_backfill_workers_leave_by_themselves_when_done(tmp_path):
    """Workers are let go, not signalled: the demo's backfill once waited forever on a worker
    that had finished its shard, because SIGTERM did not end a process that had run a Dagster job."""
    script, exits = tmp_path / "workers.py", tmp_path / "exits"
    script.write_text(WORKERS)
    exits.mkdir()
    done = subprocess.run([sys.executable, str(script), str(exits)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rounds = eval(done.stdout)
    assert [[n for n, _ in results] for results in rounds] == [[2, 4]] * 4
    assert {p.name for p in exits.iterdir()} == {str(pid) for r in rounds for _, pid in r}  # each ended on its own


def test_a_warehouse_error_fails_the_step_and_records_nothing(tmp_path, writable_db):

    db = writable_db
    config = write_config(tmp_path, db, [table_entry("orders")])
    defs = build_definitions(config)  # loads while the table exists
    with duckdb.connect(str(db)) as conn:
        conn.execute("ALTER TABLE shop.raw.orders RENAME COLUMN loaded_at TO loaded_ts")
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance, asset_selection=[ORDERS], partition_key="2026-02-25-10:00", raise_on_error=False
        )
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        # DuckDB's own message, bounded, in the failure the run records
        assert "loaded_at" in failure.step_failure_data.user_failure_data.description
        assert instance.fetch_materializations(ORDERS, limit=10).records == []


def test_one_broken_table_does_not_cost_its_batch_their_counts(tmp_path, writable_db):
    """Tables are counted in one query batch; one failing table is found, the others are
    recorded and judged, and the step fails naming it."""

    db = writable_db
    defs = build_definitions(write_config(tmp_path, db, [table_entry("orders"), table_entry("payments")]))
    assert len(defs.assets) == 1  # one counting step for both
    with duckdb.connect(str(db)) as conn:
        conn.execute("ALTER TABLE shop.raw.orders RENAME COLUMN loaded_at TO loaded_ts")
    payments = dg.AssetKey(["demo", "raw", "payments"])
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance,
            asset_selection=[ORDERS, payments],
            partition_key="2026-02-25-10:00",
            raise_on_error=False,
        )
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        assert failure.step_failure_data.error.message.count("demo/raw/") == 1
        assert "demo/raw/orders" in failure.step_failure_data.error.message
        assert instance.fetch_materializations(ORDERS, limit=10).records == []
        recorded_payments = recorded(instance, payments)
        checked = [e.asset_key for e in result.get_asset_check_evaluations()]
    assert recorded_payments == {"2026-02-25-10:00": sql_counts(db, "payments")[pd.Timestamp("2026-02-25 10:00")]}
    assert checked == [payments]


def test_hostile_table_names_are_counted_not_executed(tmp_path):
    from dagster_duckdb import DuckDBResource

    from rowcount_monitor.warehouse import TableRef
    from rowcount_monitor.warehouse.duckdb import DuckDBWarehouse

    db = tmp_path / "hostile.duckdb"
    evil = 'x"; drop table raw.victim; --'
    with duckdb.connect(str(db)) as conn:
        conn.execute("CREATE SCHEMA raw")
        conn.execute("CREATE TABLE raw.victim AS SELECT 1 AS id")
        quoted = 'raw."' + evil.replace('"', '""') + '"'
        conn.execute(f"CREATE TABLE {quoted} (loaded_at TIMESTAMP)")
        conn.execute(f"INSERT INTO {quoted} VALUES (TIMESTAMP '2026-01-01 10:30'), (TIMESTAMP '2026-01-01 10:45')")
    warehouse = DuckDBWarehouse(DuckDBResource(database=str(db)).get_connection)
    ref = TableRef("hostile", "raw", evil)
    assert warehouse.total_count(ref) == 2
    assert warehouse.bucket_counts(
        ref, "loaded_at", "hour", pd.Timestamp("2026-01-01"), pd.Timestamp("2026-01-02")
    ) == {pd.Timestamp("2026-01-01 10:00"): 2}
    assert warehouse.column_schema(ref) == [("loaded_at", "TIMESTAMP")]
    assert evil in warehouse.list_tables("hostile", "raw")
    with pytest.raises(duckdb.Error):
        warehouse.bucket_counts(
            ref, 'loaded_at"; drop table raw.victim; --', "hour", pd.Timestamp("2026-01-01"), pd.Timestamp("2026-01-02")
        )
    with pytest.raises(LookupError):
        warehouse.column_schema(TableRef("hostile", "raw", "victim; drop table raw.victim"))
    assert warehouse.total_count(TableRef("hostile", "raw", "victim")) == 1  # still there


def test_snapshot_tables_record_totals_and_rows_added(tmp_path, writable_db):

    db = writable_db
    entry = {**table_entry("marketing_spend", "daily"), "timestamp_column": None}
    defs = build_definitions(write_config(tmp_path, db, [entry]))
    key = dg.AssetKey(["demo", "raw", "marketing_spend"])
    assert defs.get_repository_def().asset_graph.get(key).partitions_def is None
    job = defs.resolve_implicit_global_asset_job_def()
    with duckdb.connect(str(db), read_only=True) as conn:
        total = conn.execute("SELECT count(*) FROM shop.raw.marketing_spend").fetchone()[0]
    with dg.instance_for_test() as instance:
        assert job.execute_in_process(instance=instance, asset_selection=[key]).success
        with duckdb.connect(str(db)) as conn:
            conn.execute("DELETE FROM shop.raw.marketing_spend WHERE id <= 10")
        assert job.execute_in_process(instance=instance, asset_selection=[key]).success
        first, second = reversed(instance.fetch_materializations(key, limit=10).records)
    assert first.asset_materialization.metadata["dagster/row_count"].value == total
    assert "rows_added" not in first.asset_materialization.metadata
    assert second.asset_materialization.metadata["dagster/row_count"].value == total - 10
    assert second.asset_materialization.metadata["rows_added"].value == -10


def test_a_locked_warehouse_fails_its_step_in_seconds_naming_the_lock_holder(tmp_path, writable_db):
    """dagster-duckdb's connect retries about 100 s, and the step used to retry every table
    alone after the batch failed: a 250-table batch waited for hours."""
    import subprocess
    import sys
    import time

    db = writable_db
    config = write_config(tmp_path, db, [table_entry("orders"), table_entry("payments"), table_entry("order_items")])
    defs = build_definitions(config)
    keys = [dg.AssetKey(["demo", "raw", t]) for t in ("orders", "payments", "order_items")]
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, time; c = duckdb.connect({str(db)!r}); print('locked', flush=True); time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with dg.instance_for_test() as instance:
            t0 = time.monotonic()
            result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
                instance=instance, asset_selection=keys, partition_key="2026-02-25-10:00", raise_on_error=False
            )
            took = time.monotonic() - t0
            assert not result.success
            failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
            message = failure.step_failure_data.error.to_string()
            assert "Conflicting lock" in message and f"PID {holder.pid}" in message
            assert all(k.to_user_string() in message for k in keys)
            assert all(instance.fetch_materializations(k, limit=1).records == [] for k in keys)
    finally:
        holder.kill()
    assert took < 30, f"the step took {took:.0f} s"  # bounded wait (15 s), not N x 100 s


def test_a_missing_duckdb_file_is_named_not_created(tmp_path, demo_db):
    from rowcount_monitor.config import WarehouseError

    config = write_config(tmp_path, tmp_path / "no_such.duckdb", [table_entry("orders")])
    with pytest.raises(WarehouseError, match="no_such.duckdb does not exist"):
        build_definitions(config)
    assert not (tmp_path / "no_such.duckdb").exists()
