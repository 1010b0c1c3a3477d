"""The example user project (examples/shop_dbt) as its README runs it: a dg project with dbt
models of its own on DuckDB that adds the component (watching the models tagged `monitored`: daily_orders) and the factory
(checking daily_customers). `dg check defs` passes; 17 days, one run each, and both
checks fail on the day that loaded a third of its orders and on no other; the component's
sensor pages that failure to SNS (moto's server on 127.0.0.1) once; `rowcount-monitor --project`
(status, anomalies) and the metrics endpoint read both checks as the project's own."""

import importlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg

from .aws import aws_env, drain, moto_server, topic_with_queue

EXAMPLE = Path(__file__).parents[1] / "examples" / "shop_dbt"
DG = str(Path(sys.executable).parent / "dg")


def test_the_example_project_fails_both_checks_on_the_bad_day_only_and_pages_it_once(tmp_path, monkeypatch, capsys):
    project = tmp_path / "shop_dbt"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("target", "logs", "*.duckdb*", "__pycache__"))
    monkeypatch.setenv("SHOP_DUCKDB", str(tmp_path / "shop.duckdb"))
    monkeypatch.syspath_prepend(str(project / "src"))
    warehouse = importlib.import_module("shop_dbt.warehouse")
    warehouse.write(warehouse.path())

    env = {**os.environ, "PYTHONPATH": str(project / "src")}
    checked = subprocess.run([DG, "check", "defs"], cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert checked.returncode == 0, checked.stderr + checked.stdout

    with moto_server() as endpoint:
        aws_env(monkeypatch, endpoint)
        topic, queue = topic_with_queue(endpoint)
        monkeypatch.setenv("ROWCOUNT_MONITOR_SNS_TOPIC_ARN", topic)
        defs = importlib.import_module("shop_dbt.definitions").defs()
        job = defs.resolve_implicit_global_asset_job_def()
        sensor = next(s for s in defs.sensors if s.name == "row_count_alerts")
        failed, judged, cursor = set(), set(), None
        with dg.instance_for_test() as instance:
            for day in warehouse.days():
                result = job.execute_in_process(instance=instance, partition_key=day, raise_on_error=False)
                assert result.success, day
                for evaluation in result.get_asset_check_evaluations():
                    if "insufficient history" not in (evaluation.description or ""):
                        judged.add((evaluation.asset_key.to_user_string(), day))
                    if not evaluation.passed:
                        failed.add((evaluation.asset_key.to_user_string(), day))
                if day in (warehouse.BAD_DAY, warehouse.days()[-1]):  # the sensor's ticks
                    with dg.build_sensor_context(
                        instance=instance, cursor=cursor, definitions=defs, resources={"sns": defs.resources["sns"]}
                    ) as context:  # the component's own SNS resource (its topic from the environment)
                        sensor(context)
                        cursor = context.cursor
            # the command line and the metrics endpoint read the project's checks as the project's own
            monkeypatch.setenv("DAGSTER_HOME", instance.root_directory)
            monkeypatch.setenv("ROWCOUNT_MONITOR_PROJECT", str(project))  # (what --project sets, undone after)
            status = _cli(capsys, "--project", str(project), "status", "--json")
            failures = _cli(capsys, "--project", str(project), "anomalies", "--since", "3650d", "--json")
            metrics = _scrape(instance)
        messages = drain(endpoint, queue)
    assert {day for _, day in judged} >= set(warehouse.days()[14:])  # judged once two weeks are known
    assert failed == {("daily_orders", warehouse.BAD_DAY), ("daily_customers", warehouse.BAD_DAY)}
    assert [m["MessageAttributes"]["kind"]["Value"] for m in messages] == ["anomaly", "recovered"]
    assert {json.loads(m["Message"])["table"] for m in messages} == {"daily_orders"}
    last = warehouse.days()[-1]
    assert [(r["table"], r["bucket"], r["verdict"]) for r in status] == [
        ("daily_customers", last, "ok"),
        ("daily_orders", last, "ok"),
    ]
    assert sorted((r["table"], r["bucket"]) for r in failures) == [
        ("daily_customers", warehouse.BAD_DAY),
        ("daily_orders", warehouse.BAD_DAY),
    ]
    state = 'rowcount_monitor_check_state{asset="daily_orders",metric="row_count",owner="team-orders",severity="auto",table="daily_orders"} 0.0'
    assert state in metrics
    assert 'rowcount_monitor_check_state{asset="daily_customers",metric="row_count",owner="",' in metrics


def _cli(capsys, *args: str) -> list[dict]:
    from rowcount_monitor.cli import main

    capsys.readouterr()
    assert main(list(args)) == 0
    return json.loads(capsys.readouterr().out)


def _scrape(instance: dg.DagsterInstance) -> str:
    """What serve-metrics answers a scrape with, for the project's checks."""
    from prometheus_client import CollectorRegistry, generate_latest

    from rowcount_monitor.cli.common import _check_entries
    from rowcount_monitor.prometheus_exporter import VerdictCollector

    registry = CollectorRegistry(auto_describe=False)
    registry.register(VerdictCollector(instance, _check_entries()))
    return generate_latest(registry).decode()
