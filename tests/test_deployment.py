"""The production topology on one machine: PostgreSQL (started by the tests), the code location
served by `dagster code-server start`, `dagster-daemon run` with the QueuedRunCoordinator
(runs launched as processes of their own), the webserver, and SNS on moto's server.

The hourly schedule's tick cannot be waited for (it fires on the hour), so the test submits,
through the webserver's GraphQL API, the run that tick requests (the hourly tables at the
newest complete bucket); everything after that is the deployment's own doing: the queued run
coordinator starts it, the run worker counts and judges the tables through the code server, and
the daemon's alert sensor forwards the failed check to SNS.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from .aws import aws_env, drain, moto_server, topic_with_queue
from .conftest import table_entry
from .test_alerting import cut_hour

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, check, timeout=180.0, every=1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(every)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def deployment(tmp_path, demo_db, postgres_url, monkeypatch):
    """(GraphQL client, SNS endpoint, SQS queue, folder with the services' logs) of a running
    deployment whose orders table lost 70 % of its 2026-02-27 14:00 load."""
    from dagster_graphql import DagsterGraphQLClient

    db = tmp_path / "shop.duckdb"
    shutil.copy(demo_db, db)
    cut_hour(db, "2026-02-27 14:00", keep=0.3)
    config = tmp_path / "rowcount_monitor.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "warehouses": {"demo": {"type": "duckdb", "path": str(db)}},
                "tables": [table_entry("orders", owner="team-orders"), table_entry("payments")],
                "alerts": {"notify": "every_failure", "retry_backoff_seconds": 0},
            }
        )
    )
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        yaml.safe_dump(
            {
                "storage": {"postgres": {"postgres_url": postgres_url}},
                "run_coordinator": {
                    "module": "dagster._core.run_coordinator",
                    "class": "QueuedRunCoordinator",
                    "config": {"max_concurrent_runs": 2},
                },
                "compute_logs": {
                    "module": "dagster._core.storage.noop_compute_log_manager",
                    "class": "NoOpComputeLogManager",
                },
                "telemetry": {"enabled": False},
            }
        )
    )
    code_port, web_port = free_port(), free_port()
    workspace = tmp_path / "workspace.yaml"
    workspace.write_text(
        yaml.safe_dump(
            {
                "load_from": [
                    {"grpc_server": {"host": "127.0.0.1", "port": code_port, "location_name": "rowcount_monitor"}}
                ]
            }
        )
    )
    with moto_server() as endpoint:
        aws_env(monkeypatch, endpoint)
        topic, queue = topic_with_queue(endpoint)
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "ROWCOUNT_MONITOR_CONFIG": str(config),
            "ROWCOUNT_MONITOR_SNS_TOPIC_ARN": topic,
        }
        logs = {}

        def start(name, *args, cwd):
            logs[name] = open(tmp_path / f"{name}.log", "w")
            return subprocess.Popen(
                [str(BIN / args[0]), *args[1:]],
                cwd=cwd,
                env=env,
                stdout=logs[name],
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        # each service in a working directory of its own: they share the database, no file
        for name in ("code", "daemon", "web"):
            (tmp_path / name).mkdir()
        processes = [
            start(
                "code",
                "dagster",
                "code-server",
                "start",
                "-h",
                "127.0.0.1",
                "-p",
                str(code_port),
                "-f",
                str(ROOT / "definitions.py"),
                "-d",
                str(ROOT),
                "--location-name",
                "rowcount_monitor",
                cwd=tmp_path / "code",
            ),
        ]
        try:
            wait_for("the code server", lambda: _listening(code_port), timeout=120)
            processes.append(start("daemon", "dagster-daemon", "run", "-w", str(workspace), cwd=tmp_path / "daemon"))
            processes.append(
                start(
                    "web",
                    "dagster-webserver",
                    "-w",
                    str(workspace),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(web_port),
                    cwd=tmp_path / "web",
                )
            )
            wait_for("the webserver", lambda: _http_ok(f"http://127.0.0.1:{web_port}/server_info"), timeout=120)
            yield DagsterGraphQLClient("127.0.0.1", port_number=web_port), endpoint, queue, tmp_path
        finally:
            for p in processes:
                p.terminate()
            for p in processes:
                try:
                    p.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, 9)
            for f in logs.values():
                f.close()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def _finished(client, run_id: str):
    from dagster import DagsterRunStatus

    status = client.get_run_status(run_id)
    if status in (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED):
        raise AssertionError(f"run {run_id} ended {status}")
    return status == DagsterRunStatus.SUCCESS


def test_a_schedule_tick_on_the_production_topology_counts_judges_and_pages(deployment):
    client, endpoint, queue, folder = deployment
    location = {"repository_location_name": "rowcount_monitor", "repository_name": "__repository__"}
    seed = client.submit_job_execution(
        "backfill_row_counts",
        **location,
        run_config={"ops": {"fill_missing_buckets": {"config": {"until": "2026-02-27 13:00", "judge_days": 0}}}},
    )
    wait_for("the history backfill run", lambda: _finished(client, seed), timeout=240)
    tick = client.submit_job_execution("__ASSET_JOB", **location, tags={"dagster/partition": "2026-02-27-14:00"})
    wait_for("the scheduled counting run", lambda: _finished(client, tick), timeout=240)
    messages = wait_for("the alert on SNS", lambda: drain(endpoint, queue), timeout=120, every=3)
    bodies = [json.loads(m["Message"]) for m in messages]
    assert [(b["kind"], b["table"]) for b in bodies] == [("anomaly", "shop.raw.orders")], bodies
    assert "below the expected" in bodies[0]["summary"] and bodies[0]["partition"] == "2026-02-27-14:00", bodies[0]
    daemon_log = (folder / "daemon.log").read_text()  # the queued run coordinator launched both runs
    assert "QueuedRunCoordinatorDaemon" in daemon_log and daemon_log.count("Launched 1 runs") >= 2
    ours = [p for p in folder.rglob("rowcount_monitor*") if p.name != "rowcount_monitor.yaml"]
    assert ours == [], "every service keeps rowcount-monitor's state in PostgreSQL, not in a file"
