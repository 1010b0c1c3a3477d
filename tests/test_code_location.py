"""The code location loads, with one asset per configured table, schedules and the backfill job."""

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg

from rowcount_monitor.defs import build_definitions
from rowcount_monitor.defs.schedules import CRON

from .conftest import ANCHOR, table_entry, write_config


def test_code_location_loads_one_asset_per_table(shop_config):
    defs = build_definitions(shop_config)
    repo = defs.get_repository_def()
    keys = {k for a in defs.assets for k in a.keys}
    assert keys == {dg.AssetKey(["demo", "raw", t]) for t in ("orders", "payments", "customers")}
    orders = repo.asset_graph.get(dg.AssetKey(["demo", "raw", "orders"]))
    assert orders.group_name == "raw"
    assert orders.owners == ["team:team-data"]  # the spelling of the config and of the SNS attribute
    assert "duckdb" in orders.kinds
    assert orders.metadata["dagster/table_name"] == "shop.raw.orders"
    columns = [c.name for c in orders.metadata["dagster/column_schema"].columns]
    assert columns[:2] == ["id", "loaded_at"]
    assert isinstance(orders.partitions_def, dg.HourlyPartitionsDefinition)
    assert (
        orders.partitions_def.start.replace(tzinfo=None)
        == (ANCHOR - __import__("pandas").Timedelta(days=14)).to_pydatetime()
    )
    payments = repo.asset_graph.get(dg.AssetKey(["demo", "raw", "payments"]))
    assert payments.owners == ["payments@shop.example"]
    customers = repo.asset_graph.get(dg.AssetKey(["demo", "raw", "customers"]))
    assert isinstance(customers.partitions_def, dg.DailyPartitionsDefinition)
    assert {s.name: s.cron_schedule for s in defs.schedules} == {
        "hourly_row_counts": CRON["hourly"],
        "daily_row_counts": CRON["daily"],
    }
    assert defs.resolve_job_def("backfill_row_counts") is not None


def test_project_definitions_file_loads_the_demo_config(monkeypatch, shop_config):
    """definitions.py, as `dagster dev` loads it (ROWCOUNT_MONITOR_CONFIG selects the file)."""
    import importlib.util

    monkeypatch.setenv("ROWCOUNT_MONITOR_CONFIG", str(shop_config))
    spec = importlib.util.spec_from_file_location("definitions", Path(__file__).parents[1] / "definitions.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert sum(len(a.keys) for a in module.defs.assets) == 3


def test_dg_checks_and_lists_the_code_location(monkeypatch, shop_config):
    """Dagster's `dg` CLI finds the project from pyproject.toml ([tool.dg]) and loads definitions.py."""
    root = Path(__file__).parents[1]
    dg_cli = Path(sys.executable).parent / "dg"
    env = {**os.environ, "ROWCOUNT_MONITOR_CONFIG": str(shop_config)}
    check = subprocess.run([dg_cli, "check", "defs"], cwd=root, env=env, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "All definitions loaded successfully" in check.stdout
    listed = subprocess.run([dg_cli, "list", "defs", "--json"], cwd=root, env=env, capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    assets = {a["asset_key"] for a in json.loads(listed.stdout)["assets"]}
    assert assets == {"demo/raw/orders", "demo/raw/payments", "demo/raw/customers"}


# the hourly schedule's tick on the anchor day at 07:05 UTC
TICK = ANCHOR.tz_localize("UTC").to_pydatetime().replace(hour=7, minute=5)


def hourly_tick(defs: dg.Definitions) -> list[dg.RunRequest]:
    schedule = next(s for s in defs.schedules if s.name == "hourly_row_counts")
    with dg.build_schedule_context(scheduled_execution_time=TICK, repository_def=defs.get_repository_def()) as context:
        return list(schedule.evaluate_tick(context).run_requests)


def test_hourly_schedule_requests_the_last_complete_bucket(shop_config):
    requests = hourly_tick(build_definitions(shop_config))
    assert len(requests) == 1
    assert requests[0].partition_key == "2026-03-02-06:00"
    assert set(requests[0].asset_selection) == {
        dg.AssetKey(["demo", "raw", "orders"]),
        dg.AssetKey(["demo", "raw", "payments"]),
    }


def test_a_tick_spreads_the_counting_steps_over_runs_per_tick_runs_each_executed_in_one_process(tmp_path, demo_db):
    """Four tables in batches of one are four counting steps; runs_per_tick 2 asks for two runs
    of two steps each (runs_per_tick 1: one run of four), each with the in-process executor, and
    one such run records and judges both of its tables."""
    names = ["orders", "payments", "events", "sessions"]
    tables = [table_entry(n) for n in names]
    requests = {
        runs: hourly_tick(
            build_definitions(write_config(tmp_path, demo_db, tables, checks={"batch_size": 1, "runs_per_tick": runs}))
        )
        for runs in (1, 2)
    }
    assert [sorted(k.path[-1] for k in r.asset_selection) for r in requests[1]] == [sorted(names)]
    spread = [sorted(k.path[-1] for k in r.asset_selection) for r in requests[2]]
    assert sorted(map(len, spread)) == [2, 2] and sorted(sum(spread, [])) == sorted(names)
    assert len({r.run_key for r in requests[2]}) == 2
    defs = build_definitions(write_config(tmp_path, demo_db, tables, checks={"batch_size": 1, "runs_per_tick": 2}))
    job = defs.resolve_implicit_global_asset_job_def()
    request = requests[2][0]
    [executor] = dg.validate_run_config(job, request.run_config)["execution"].values()  # Dagster's default
    assert list(executor) == ["in_process"]
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(
            instance=instance,
            run_config=request.run_config,
            partition_key=request.partition_key,
            asset_selection=request.asset_selection,
        )
        assert result.success
        assert len(result.get_step_success_events()) == 2
        assert {e.asset_key for e in result.get_asset_materialization_events()} == set(request.asset_selection)
        assert {e.asset_key for e in result.get_asset_check_evaluations()} == set(request.asset_selection)


def test_a_table_with_a_settle_time_is_counted_that_long_after_its_bucket_ends(tmp_path, demo_db):
    """payments' rows keep arriving for two hours: the 07:05 tick counts its 04:00 bucket (ended
    05:00, settled 07:00) while orders gets 06:00; the backfill stops at the same bucket."""
    config = write_config(tmp_path, demo_db, [table_entry("orders"), table_entry("payments", settle="2h")])
    defs = build_definitions(config)
    payments = dg.AssetKey(["demo", "raw", "payments"])
    assert defs.resolve_assets_def(payments).metadata_by_key[payments]["settle"] == "2h"
    requested = {k.path[-1]: r.partition_key for r in hourly_tick(defs) for k in r.asset_selection}
    assert requested == {"orders": "2026-03-02-06:00", "payments": "2026-03-02-04:00"}
    run_config = {"ops": {"fill_missing_buckets": {"config": {"until": str(TICK), "judge_days": 0}}}}
    with dg.instance_for_test() as instance:
        assert (
            defs.resolve_job_def("backfill_row_counts")
            .execute_in_process(instance=instance, run_config=run_config)
            .success
        )
        newest = {k: max(instance.get_materialized_partitions(dg.AssetKey(["demo", "raw", k]))) for k in requested}
    assert newest == requested


def test_a_scheduled_run_prints_warnings_not_every_event_and_keeps_them_all_in_its_log(shop_config, capfd):
    defs = build_definitions(shop_config)
    request = hourly_tick(defs)[0]
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        capfd.readouterr()
        result = job.execute_in_process(
            instance=instance,
            run_config=request.run_config,
            partition_key=request.partition_key,
            asset_selection=request.asset_selection,
        )
        console = capfd.readouterr().err
        logged = instance.all_logs(result.run_id)
    assert result.success
    assert " - DEBUG - " not in console and "counted" not in console, console[:500]
    assert any("counted" in (e.user_message or "") for e in logged)  # the INFO line is in the run's log
