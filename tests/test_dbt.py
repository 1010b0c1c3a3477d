"""dbt models as assets downstream of the monitored raw tables, on a real DuckDB file."""

import logging
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest
import yaml

from rowcount_monitor.defs import build_definitions
from rowcount_monitor.naming import CHECK_NAME

PROJECT = Path(__file__).resolve().parents[1] / "dbt_project"
RAW = ("orders", "sessions", "cart_events", "customers")


def key(schema, name):
    return dg.AssetKey(["demo", schema, name])


@pytest.fixture
def shop(tmp_path, writable_db):
    db = writable_db

    def make(blocking=False):
        path = tmp_path / "rowcount_monitor.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "warehouses": {"demo": {"type": "duckdb", "path": str(db)}},
                    "tables": [
                        {
                            "table": f"shop.raw.{t}",
                            "warehouse": "demo",
                            "timestamp_column": "loaded_at",
                            "cadence": "daily" if t == "customers" else "hourly",
                            "blocking": blocking and t == "orders",
                        }
                        for t in RAW
                    ]
                    + [{"table": "shop.marts.daily_revenue", "warehouse": "demo", "cadence": "daily"}],
                    "dbt": {"project_dir": str(PROJECT), "warehouse": "demo"},
                }
            )
        )
        return build_definitions(path)

    return db, make


def test_lineage_runs_from_raw_tables_through_staging_to_marts(shop):
    _, make = shop
    graph = make().get_repository_def().asset_graph
    for table in RAW:
        assert key("staging", f"stg_{table}") in graph.get(key("raw", table)).child_keys
    assert graph.get(key("marts", "sessions_funnel")).parent_keys == {
        key("staging", "stg_orders"),
        key("staging", "stg_sessions"),
        key("staging", "stg_cart_events"),
    }
    assert graph.get(key("marts", "daily_revenue")).group_name == "marts"
    # the dbt sources are the monitored raw assets themselves (no second node per table);
    # sources nobody monitors stay external assets
    assert all(graph.get(key("raw", t)).is_materializable for t in RAW)
    assert not graph.get(key("raw", "payments")).is_materializable
    checks = {(c.asset_key.path[-1], c.name) for c in graph.asset_check_keys}
    assert ("daily_revenue", "row_count_anomaly") in checks  # listed in the config
    assert ("daily_revenue", "unique_daily_revenue_day") in checks  # dbt's own test


def test_model_descriptions_are_the_models_docs_without_their_sql(shop):
    _, make = shop
    specs = {s.key: s for s in make().resolve_all_asset_specs()}
    assert specs[key("marts", "daily_revenue")].description == "Orders and revenue per day."
    assert specs[key("staging", "stg_orders")].description is None  # undocumented: no raw SQL instead


def test_models_materialize_with_exact_rows_and_row_counts(shop, capsys):
    db, make = shop
    defs = make()
    job = defs.resolve_implicit_global_asset_job_def()
    models = [key("staging", "stg_orders"), key("marts", "daily_revenue"), key("marts", "orders_per_customer")]
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance, asset_selection=models)
        assert result.success
        # dbt's own lines are in the run's debug log, not on the console of the process running it
        assert "Running with dbt=" not in capsys.readouterr().out
        logged = [r.user_message for r in instance.all_logs(result.run_id) if r.level == logging.DEBUG]
        assert any(m.startswith("Running with dbt=") for m in logged)
        counts = {
            k.path[-1]: instance.fetch_materializations(k, limit=1)
            .records[0]
            .asset_materialization.metadata["dagster/row_count"]
            .value
            for k in models[1:]
        }
        checks = {(e.asset_key.path[-1], e.check_name): e.passed for e in result.get_asset_check_evaluations()}
    with duckdb.connect(str(db)) as conn:  # dbt's adapter may still hold the file in this process
        mart = conn.execute("SELECT day, orders, round(revenue, 2) FROM shop.marts.daily_revenue ORDER BY 1").fetchall()
        expected = conn.execute("""SELECT date_trunc('day', loaded_at), count(*), round(sum(amount), 2)
                                   FROM shop.raw.orders WHERE loaded_at < now()::timestamp GROUP BY 1 ORDER BY 1""").fetchall()
        sizes = {
            t: conn.execute(f"SELECT count(*) FROM shop.marts.{t}").fetchone()[0]
            for t in ("daily_revenue", "orders_per_customer")
        }
    assert mart == expected and len(mart) > 10
    assert counts == sizes
    assert checks[("daily_revenue", "unique_daily_revenue_day")] is True
    assert checks[("daily_revenue", "row_count_anomaly")] is True  # first run: insufficient history


def test_a_blocking_failed_check_holds_back_only_the_models_downstream(shop):
    db, make = shop
    defs = make(blocking=True)
    with duckdb.connect(str(db)) as conn:  # the 10:00 load of orders never arrived
        conn.execute("DELETE FROM shop.raw.orders WHERE date_trunc('hour', loaded_at) = TIMESTAMP '2026-02-28 10:00'")
    schedule = next(s for s in defs.schedules if s.name == "hourly_row_counts")
    with dg.instance_for_test() as instance:
        config = {"ops": {"fill_missing_buckets": {"config": {"until": "2026-02-28 10:00", "judge_days": 0}}}}
        assert (
            defs.resolve_job_def("backfill_row_counts").execute_in_process(instance=instance, run_config=config).success
        )
        import datetime as dt

        tick_time = dt.datetime(2026, 2, 28, 11, 5, tzinfo=dt.UTC)
        with dg.build_schedule_context(
            scheduled_execution_time=tick_time, instance=instance, repository_def=defs.get_repository_def()
        ) as context:
            (request,) = schedule.evaluate_tick(context).run_requests
        assert request.partition_key == "2026-02-28-10:00"
        job = defs.resolve_implicit_global_asset_job_def()
        result = job.execute_in_process(
            instance=instance, asset_selection=request.asset_selection, partition_key=request.partition_key
        )
        assert result.success
        done = {e.asset_key for e in result.get_asset_materialization_events()}
        failed = [
            e.asset_key
            for e in result.get_asset_check_evaluations()
            if e.check_name == "row_count_anomaly" and not e.passed
        ]
    assert failed == [key("raw", "orders")]
    assert {key("raw", t) for t in ("orders", "sessions", "cart_events")} <= done
    assert {key("staging", "stg_sessions"), key("staging", "stg_cart_events")} <= done
    held_back = {
        key("staging", "stg_orders"),
        key("marts", "daily_revenue"),
        key("marts", "orders_per_customer"),
        key("marts", "sessions_funnel"),
    }
    assert held_back <= set(request.asset_selection) and not held_back & done


def test_a_rerun_of_the_demo_steps_adds_no_runs_until_a_new_bucket_is_there(shop, tmp_path, monkeypatch):
    """`make demo` twice: the second backfill finds nothing missing and starts no run, and the
    models, built after the newest load, are not built again; one more hour loaded, both run.
    The demo's order: the judged buckets, the models, then the older buckets (which bring no
    new rows: the models stay current)."""
    from rowcount_monitor import backfill

    from .conftest import ANCHOR

    make = shop[1]
    make()  # writes the config
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("ROWCOUNT_MONITOR_CONFIG", str(tmp_path / "rowcount_monitor.yaml"))
    judged = backfill.run(workers=1, judge_days=1, until=str(ANCHOR), judged_only=True)
    assert backfill.build_models() > 0
    assert backfill.run(workers=1, judge_days=1, until=str(ANCHOR)) > judged > 0
    with dg.DagsterInstance.get() as instance:
        runs = instance.get_runs_count()
        checked = instance.event_log_storage.get_event_records(
            dg.EventRecordsFilter(dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        )
        evaluations = [r.event_log_entry.dagster_event.event_specific_data for r in checked]
        # the tables' buckets of the last day, each judged once (a model's check judges its run)
        assert sum(e.check_name == CHECK_NAME and e.partition is not None for e in evaluations) == judged
    assert backfill.run(workers=1, judge_days=0, until=str(ANCHOR)) == 0
    assert backfill.build_models() == 0
    with dg.DagsterInstance.get() as instance:
        assert instance.get_runs_count() == runs
    assert backfill.run(workers=1, judge_days=0, until=str(ANCHOR + pd.Timedelta(hours=1))) == 3  # three hourly tables
    assert backfill.build_models() > 0


def test_a_missing_manifest_is_parsed_whole_by_processes_loading_at_once(tmp_path):
    """The webserver and the daemon of a first `dagster dev` load the code location at once and
    both find no manifest: each parses into its own scratch target and renames the manifest into
    place, so neither reads the other's half-written file, and no scratch target is left."""
    import json
    import shutil
    import subprocess
    import sys

    project = tmp_path / "dbt_project"
    shutil.copytree(PROJECT, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    load = (
        "import sys; from dagster_dbt import DbtProject; from rowcount_monitor.defs.dbt import _parse; "
        "p = DbtProject(project_dir=sys.argv[1], profiles_dir=sys.argv[1]); _parse(p); print(p.manifest_path)"
    )
    procs = [subprocess.Popen([sys.executable, "-c", load, str(project)], stdout=subprocess.PIPE) for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    manifest = json.loads((project / "target" / "manifest.json").read_text())
    assert any(n["resource_type"] == "model" for n in manifest["nodes"].values())
    assert not list((project / "target").glob("parse-*"))
