"""The operating commands on a real instance: status, anomalies, explain, backtest (+ plot)."""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from rowcount_monitor.cli import main
from rowcount_monitor.config import ConfigError
from rowcount_monitor.defs import build_definitions
from rowcount_monitor.detection import score_series

from .conftest import table_entry, write_config


def _orders_and_payments(folder: Path, db: Path) -> Path:
    config = folder / "rowcount_monitor.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "warehouses": {"demo": {"type": "duckdb", "path": str(db)}},
                "tables": [
                    {
                        "table": f"shop.raw.{t}",
                        "warehouse": "demo",
                        "cadence": "hourly",
                        "timestamp_column": "loaded_at",
                    }
                    for t in ("orders", "payments")
                ],
            }
        )
    )
    return config


@pytest.fixture(scope="module")
def backfilled(tmp_path_factory, demo_db) -> Path:
    """A folder with a warehouse (wh/) whose orders load of 2026-02-28 09:00 is missing, and an
    instance (home/) on which orders and payments were backfilled, the last day judged. Built once:
    the backfill is the slow part, and each test gets a copy (`monitored`)."""
    root = tmp_path_factory.mktemp("monitored")
    (root / "wh").mkdir()
    db = root / "wh" / "shop.duckdb"
    shutil.copy(demo_db, db)
    with duckdb.connect(str(db)) as conn:
        conn.execute("DELETE FROM shop.raw.orders WHERE date_trunc('hour', loaded_at) = TIMESTAMP '2026-02-28 09:00'")
    (root / "home").mkdir()
    run_config = {"ops": {"fill_missing_buckets": {"config": {"until": "2026-02-28 12:00", "judge_days": 1}}}}
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DAGSTER_HOME", str(root / "home"))
        job = build_definitions(_orders_and_payments(root, db)).resolve_job_def("backfill_row_counts")
        with dg.DagsterInstance.get() as instance:
            assert job.execute_in_process(instance=instance, run_config=run_config).success
    return root


@pytest.fixture
def monitored(backfilled, tmp_path, monkeypatch) -> Path:
    """A copy of `backfilled` this test may change, found by the commands as a user's would be
    (DAGSTER_HOME, ROWCOUNT_MONITOR_CONFIG); returns the warehouse's path."""
    for folder in ("wh", "home"):
        shutil.copytree(backfilled / folder, tmp_path / folder)
    db = tmp_path / "wh" / "shop.duckdb"
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ROWCOUNT_MONITOR_CONFIG", str(_orders_and_payments(tmp_path, db)))
    return db


def test_status_lists_every_table_with_its_latest_verdict(monitored, capsys):
    assert main(["status", "--json"]) == 0
    rows = {r["table"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"demo/raw/orders", "demo/raw/payments"}
    assert rows["demo/raw/orders"]["bucket"] == "2026-02-28-11:00" and rows["demo/raw/orders"]["verdict"] == "ok"
    with duckdb.connect(str(monitored)) as conn:
        n = conn.execute(
            "SELECT count(*) FROM shop.raw.orders WHERE date_trunc('hour', loaded_at) = TIMESTAMP '2026-02-28 11:00'"
        ).fetchone()[0]
    assert rows["demo/raw/orders"]["observed"] == n
    assert main(["status"]) == 0
    assert "demo/raw/payments" in capsys.readouterr().out


def test_anomalies_and_explain(monitored, capsys):
    assert main(["anomalies", "--since", "5200w", "--json"]) == 0  # the buckets of 2026-02-28 on
    rows = json.loads(capsys.readouterr().out)
    assert rows == sorted(rows, key=lambda r: (r["bucket"], r["table"]))
    # (8 days of history are too few to learn this Saturday's mornings: those may be flagged too)
    broken = [r for r in rows if r["bucket"] == "2026-02-28-09:00"]
    assert [(r["table"], r["observed"], r["verdict"]) for r in broken] == [("demo/raw/orders", 0, "failing")]
    assert broken[0]["reason"].startswith("0 rows")
    assert all(r["bucket"] >= "2026-02-27-12:00" for r in rows)  # judged: the last day only
    # judged minutes ago by the backfill, but buckets of 2026-02-28: no failure of the last hours
    assert main(["anomalies", "--since", "12h", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    assert main(["anomalies", "--since", "12h"]) == 0
    assert capsys.readouterr().out.endswith("0 failed row-count checks in the last 12h\n")
    assert main(["anomalies", "--since", "5200w"]) == 0
    last_line = capsys.readouterr().out.splitlines()[-1]
    assert last_line == f"{len(rows)} failed row-count check{'s' if len(rows) != 1 else ''} in the last 5200w"
    assert main(["anomalies", "--since", "soon"]) == 2
    err = capsys.readouterr().err
    assert err == (
        "rowcount-monitor: anomalies: argument --since: expected a duration like 2w, 7d, 12h or 30m, "
        "not 'soon' (see --help)\n"
    )
    assert main(["explain", "orders"]) == 0
    out = capsys.readouterr().out
    assert "demo/raw/orders, bucket 2026-02-28-11:00: OK" in out and "within the expected band" in out


def test_backtest_equals_score_series_and_draws_the_band(monitored, capsys, tmp_path):
    png = tmp_path / "orders.png"
    assert main(["backtest", "orders", "--sensitivity", "3", "--json", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    current, proposed = json.loads(out[: out.rindex("]") + 1])
    with duckdb.connect(str(monitored)) as conn:
        counts = conn.execute("""SELECT date_trunc('hour', loaded_at), count(*) FROM shop.raw.orders
                                 WHERE loaded_at < TIMESTAMP '2026-02-28 12:00' GROUP BY 1""").fetchall()
    history = pd.Series({pd.Timestamp(t): float(n) for t, n in counts}).sort_index()
    history = history.reindex(pd.date_range(history.index[0], "2026-02-28 11:00", freq="h"), fill_value=0.0)
    from rowcount_monitor.detection import DetectionPolicy

    for result, policy in (
        (current, DetectionPolicy(value_type="count")),
        (proposed, DetectionPolicy(value_type="count", sensitivity=3)),
    ):
        flags = score_series(history, policy)["is_anomaly"]
        starts = flags & ~flags.shift(1, fill_value=False)
        assert result["alert_buckets"] == [str(t) for t in history.index[starts.to_numpy()]]
    assert "2026-02-28 09:00:00" in current["alert_buckets"]
    from PIL import Image

    pixels = np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3).astype(int)
    band = np.all(np.abs(pixels - [0xB5, 0xD9, 0xEB]) < 40, axis=1)  # the light blue band
    alert = np.all(np.abs(pixels - [0xE3, 0x1A, 0x1C]) < 40, axis=1)  # red anomaly markers
    assert band.mean() > 0.02 and alert.sum() > 20


def test_backtest_replays_a_table_at_another_false_alert_budget(monitored, capsys):
    assert main(["backtest", "orders", "--false-alerts-per-1000", "20", "--json"]) == 0
    current, proposed = json.loads(capsys.readouterr().out)
    assert proposed["policy"] == "proposed policy" and proposed["alerts"] > current["alerts"], (current, proposed)
    assert main(["backtest", "orders", "--false-alerts-per-1000", "0"]) == 2
    assert "expected false alerts per 1,000 buckets above 0, such as 0.25, not '0'" in capsys.readouterr().err


def test_backtest_offers_the_models_the_detection_has():
    from rowcount_monitor.cli import parser
    from rowcount_monitor.detection.policy import MODEL_NAMES

    commands = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    model = next(a for a in commands.choices["backtest"]._actions if a.dest == "model")
    assert tuple(model.choices) == MODEL_NAMES


@pytest.mark.parametrize("name", ["shop.raw.orders", "raw.orders", "orders", "demo/raw/orders"])
def test_explain_and_backtest_accept_every_spelling_of_a_table(monitored, capsys, name):
    assert main(["explain", name]) == 0
    assert capsys.readouterr().out.startswith("demo/raw/orders, bucket ")
    assert main(["backtest", name, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["policy"] == "current policy"


def test_seed_cache_fills_the_checks_history_from_the_warehouse(tmp_path, demo_db, monkeypatch, capsys):
    from rowcount_monitor.history import CACHE_FILE, HistoryCache

    config = tmp_path / "rowcount_monitor.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "warehouses": {"demo": {"type": "duckdb", "path": str(demo_db)}},
                "tables": [
                    {
                        "table": "shop.raw.orders",
                        "warehouse": "demo",
                        "cadence": "hourly",
                        "timestamp_column": "loaded_at",
                    }
                ],
            }
        )
    )
    home = tmp_path / "home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("ROWCOUNT_MONITOR_CONFIG", str(config))
    assert main(["backfill", "--seed-cache", "--until", "2026-02-28 12:00"]) == 0
    assert "history cache seeded from the warehouse" in capsys.readouterr().out
    cache = HistoryCache.at(home / CACHE_FILE)
    seeded = cache.read(["demo/raw/orders"], pd.Timestamp("2026-01-01"), pd.Timestamp("2026-03-01"))["demo/raw/orders"]
    with duckdb.connect(str(demo_db), read_only=True) as conn:
        rows = conn.execute(
            "SELECT date_trunc('hour', loaded_at), count(*) FROM shop.raw.orders "
            "WHERE loaded_at < TIMESTAMP '2026-02-28 12:00' GROUP BY 1"
        ).fetchall()
    assert seeded.to_dict() == {pd.Timestamp(b): n for b, n in rows}  # every hour has loads in the demo
    assert cache.complete(["demo/raw/orders"]) == {"demo/raw/orders"}
    defs = build_definitions(config)
    with dg.DagsterInstance.get() as instance:
        assert instance.fetch_materializations(dg.AssetKey(["demo", "raw", "orders"]), limit=1).records == []
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance,
            partition_key="2026-02-28-12:00",
            asset_selection=[dg.AssetKey(["demo", "raw", "orders"])],
        )
    verdict = result.get_asset_check_evaluations()[0]
    assert verdict.metadata["n_history"].value == len(seeded)  # judged on all the seeded history


def test_feedback_is_stored_shown_used_and_replayed(monitored, capsys):
    orders = dg.AssetKey(["demo", "raw", "orders"])
    assert main(["feedback", "orders", "2026-02-28T09:00", "expected", "--note", "planned source migration"]) == 0
    assert "recorded as normal" in capsys.readouterr().out
    assert (
        main(["feedback", "shop.raw.orders", "2026-02-28T09:00", "expected", "--note", "planned source migration"]) == 0
    )
    assert "already recorded as expected, nothing changed" in capsys.readouterr().out  # idempotent
    assert main(["explain", "orders"]) == 0
    assert "feedback: marked expected 2026-02-28 09:00 (planned source migration)" in capsys.readouterr().out
    # used: the check of that bucket, run again, passes and says why
    defs = build_definitions()
    with dg.DagsterInstance.get() as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, partition_key="2026-02-28-09:00", asset_selection=[orders]
        )
        observed = instance.fetch_observations(orders, limit=5).records
    verdict = result.get_asset_check_evaluations()[0]
    assert verdict.passed and "marked expected by feedback" in verdict.description
    assert [r.event_log_entry.asset_observation.metadata["feedback"].value for r in observed] == ["expected"]
    # replayed: the backtest's current policy no longer alerts on it
    assert main(["backtest", "orders", "--json"]) == 0
    current = json.loads(capsys.readouterr().out)[0]
    assert "2026-02-28 09:00:00" not in current["alert_buckets"]
    # saying "incident" replaces "expected"; accept stores a level change
    assert main(["feedback", "orders", "2026-02-28T09:00", "incident"]) == 0
    assert main(["accept", "orders", "--from", "2026-02-28T10:00"]) == 0
    capsys.readouterr()
    assert main(["explain", "orders"]) == 0
    out = capsys.readouterr().out
    assert "feedback: marked an incident 2026-02-28 09:00" in out and "feedback: marked expected" not in out
    assert "new normal level from 2026-02-28 10:00" in out


BAD_FEEDBACK = [
    (["feedback", "no_such_table", "2026-02-28T09:00", "expected"], "no monitored bucket table 'no_such_table'"),
    (
        ["feedback", "ordrs", "2026-02-28T09:00", "expected"],
        "no monitored bucket table 'ordrs' (did you mean 'orders'?)",
    ),
    (
        ["feedback", "orders", "2026-02-28T09:30", "expected"],
        "is not a bucket of shop.raw.orders: hourly buckets start on the hour",
    ),
    (["feedback", "orders", "2020-01-01T00:00", "incident"], "is not a bucket of shop.raw.orders: its first bucket is"),
    (
        ["feedback", "orders", "yesterday-ish", "expected"],
        "feedback: argument bucket: not a timestamp: 'yesterday-ish'",
    ),
    (["accept", "orders", "--from", "2099-01-01T00:00"], "is not a bucket of shop.raw.orders: it is in the future"),
]


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["backfill", "--workers", "0"],
            "backfill: argument --workers: expected a whole number of at least 1, not '0'",
        ),
        (["backfill", "--until", "tomorrow"], "backfill: argument --until: not a timestamp: 'tomorrow'"),
        (["backtest", "orders", "--last", "-3"], "backtest: argument --last: expected a whole number"),
        (["backtest", "orders", "--plot", "nodir/x.png"], "argument --plot: no folder"),
        (["backtest", "orders", "--sensitivity", "-1"], "argument --sensitivity: expected a positive number"),
        (["backtest", "orders", "--sensitivity", "nan"], "argument --sensitivity: expected a positive number"),
        (["backtest", "orders", "--seasonality", "abc"], "argument --seasonality: expected auto, none, or periods"),
        (["no-such-command"], "argument COMMAND: invalid choice: 'no-such-command'"),
    ],
)
def test_a_bad_argument_is_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("rowcount-monitor: ") and message in err and err.count("\n") == 1, err


def test_alert_commands_without_a_topic_a_region_or_an_endpoint_say_so_in_one_line(
    shop_config, monkeypatch, capsys, tmp_path
):
    monkeypatch.setenv("ROWCOUNT_MONITOR_CONFIG", str(shop_config))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTING")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    for var in ("ROWCOUNT_MONITOR_SNS_TOPIC_ARN", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    cases = [
        (["alerts", "test"], "no SNS topic configured (set ROWCOUNT_MONITOR_SNS_TOPIC_ARN)"),
        (["alerts", "local-topic", "--endpoint", "http://127.0.0.1:9"], "is the endpoint running?"),
    ]
    for argv, message in cases:
        assert main(argv) == 4
        err = capsys.readouterr().err
        assert err.startswith("rowcount-monitor: alert error: ") and message in err and err.count("\n") == 1, err
    monkeypatch.setenv("ROWCOUNT_MONITOR_SNS_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:alerts")
    # a process of its own: boto3's default session of this one may hold a region from other tests
    import os

    replay = subprocess.run(
        [sys.executable, "-m", "rowcount_monitor.cli", "alerts", "replay"],
        capture_output=True,
        text=True,
        env=os.environ,
    )
    assert replay.returncode == 4, replay.stderr
    assert replay.stderr == (
        "rowcount-monitor: alert error: NoRegionError: You must specify a region. (set AWS_DEFAULT_REGION or AWS_REGION)\n"
    )


def test_an_outbox_that_is_a_folder_is_a_config_error(tmp_path, demo_db, capsys):
    config = write_config(tmp_path, demo_db, [table_entry("orders")], alerts={"outbox": str(tmp_path)})
    with pytest.raises(ConfigError) as error:
        build_definitions(config)
    assert str(config) in str(error.value) and "field 'alerts.outbox'" in str(error.value), str(error.value)
    assert "is a folder" in str(error.value)


def test_demo_refuses_a_taken_port_at_once_naming_its_holder(capsys):
    import os
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["demo", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"port {port} on 127.0.0.1 is in use by pid {os.getpid()} (" in err, err
    assert f"kill {os.getpid()}, or use another port: --port {port + 1} (make demo PORT={port + 1})" in err


def test_a_pipe_closed_early_ends_quietly(tmp_path):
    """`rowcount-monitor ... --json | head -1` printed a BrokenPipeError traceback."""
    import subprocess
    import sys

    script = (
        "import sys; from rowcount_monitor import cli; from rowcount_monitor.demo import commands\n"
        "commands.cmd_demo_warehouse = lambda args: [print('x' * 100) for _ in range(100_000)] and 0\n"
        "sys.exit(cli.main(['demo-warehouse']))"
    )
    done = subprocess.run(
        f'{sys.executable} -c "{script}" | head -c 10', shell=True, capture_output=True, text=True, timeout=60
    )
    assert done.stdout == "x" * 10 and "Traceback" not in done.stderr and "Error" not in done.stderr, done.stderr


def test_bad_feedback_is_a_clear_error_and_stores_nothing(monitored, capsys):
    from rowcount_monitor.feedback import FeedbackStore

    for argv, message in BAD_FEEDBACK:
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("rowcount-monitor: ") and message in err and "Traceback" not in err
    with dg.DagsterInstance.get() as instance:
        assert FeedbackStore.for_instance(instance).entries("demo/raw/orders") == []


def test_backtest_replays_a_snapshot_table_from_its_recorded_snapshots(tmp_path, demo_db, monkeypatch, capsys):
    """A table counted whole has no bucket history in the warehouse: its recorded snapshots are it."""
    import time

    from dagster._core.events import DagsterEvent, DagsterEventType, StepMaterializationData
    from dagster._core.events.log import EventLogEntry

    config = tmp_path / "rowcount_monitor.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "warehouses": {"demo": {"type": "duckdb", "path": str(demo_db)}},
                "tables": [{"table": "shop.raw.customers", "warehouse": "demo", "cadence": "daily"}],
            }
        )
    )
    (tmp_path / "home").mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("ROWCOUNT_MONITOR_CONFIG", str(config))
    key = dg.AssetKey(["demo", "raw", "customers"])
    now = time.time()
    with dg.DagsterInstance.get() as instance:
        for day in range(40, 0, -1):  # one snapshot a day, growing, the last one halved
            rows = (1000 + 10 * (40 - day)) // (2 if day == 1 else 1)
            event = DagsterEvent(
                DagsterEventType.ASSET_MATERIALIZATION.value,
                "snapshot_job",
                event_specific_data=StepMaterializationData(
                    dg.AssetMaterialization(key, metadata={"dagster/row_count": dg.MetadataValue.int(rows)})
                ),
            )
            instance.store_event(
                EventLogEntry(
                    None, "INFO", "", f"run-{day}", now - day * 86400, job_name="snapshot_job", dagster_event=event
                )
            )
    assert main(["backtest", "customers"]) == 0
    out = capsys.readouterr().out
    assert "shop.raw.customers: 40 buckets" in out and "current policy: 1 alerts" in out, out
    assert re.search(r"2026-\d\d-\d\d 00:00  695 is \d+ % below the expected", out), out  # the halved snapshot
    assert main(["backtest", "customers", "--from-warehouse"]) == 2
    assert "counted as a snapshot" in capsys.readouterr().err


STUBBORN = """
import signal, subprocess, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_IGN)
if sys.argv[1] == "parent":  # like `dagster dev`: children of its own, deaf to INT and TERM
    child = subprocess.Popen([sys.executable, __file__, "child"])
    print(child.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_demo_stops_every_process_it_started_on_ctrl_c_or_sigterm(tmp_path, signum):
    """The demo runs `dagster dev` under run_supervised, and the history it records beside it:
    two real process trees that ignore INT and TERM (as `dagster dev` started in the background
    does) are gone within seconds of the signal."""
    script = tmp_path / "stubborn.py"
    script.write_text(STUBBORN)
    pids = tmp_path / "pids"
    stubborn = f"[sys.executable, {str(script)!r}, 'parent']"
    supervisor = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from rowcount_monitor.supervise import run_supervised; "
            f"sys.exit(run_supervised({stubborn}, grace=2, beside=[{stubborn}]))",
        ],
        stdout=pids.open("w"),
    )
    deadline = time.monotonic() + 30
    while len(pids.read_text().split()) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    grandchildren = [int(p) for p in pids.read_text().split()]
    children = [int(p) for p in Path(f"/proc/{supervisor.pid}/task/{supervisor.pid}/children").read_text().split()]
    assert len(grandchildren) == len(children) == 2
    started = time.monotonic()
    supervisor.send_signal(signum)
    assert supervisor.wait(timeout=15) == 128 + signum
    assert time.monotonic() - started < 10
    time.sleep(0.5)
    for pid in children + grandchildren:
        assert not _alive(pid), f"process {pid} still runs"


QUIET_STOP = r"""
import sys
from rowcount_monitor.supervise import run_supervised, until_ctrl_c
print("ready", flush=True)
child = (
    "import signal, sys, time\n"
    "def stop(*_):\n"
    "    print('Traceback (most recent call last): a code server stopped while it loaded', flush=True)\n"
    "    sys.exit(1)\n"
    "signal.signal(signal.SIGINT, stop)\n"
    "print('serving', flush=True)\n"
    "time.sleep(600)"
)
progress = "print('history: 1 of 2', end='\\r', flush=True); print('history: 2 of 2', end='', flush=True)"
history = child.replace("print('serving', flush=True)", progress)
beside = [[sys.executable, "-c", history]]
sys.exit(until_ctrl_c(lambda: run_supervised([sys.executable, "-c", child], grace=2, beside=beside)))
"""


def test_ctrl_c_under_make_ends_the_demo_in_one_line_with_no_make_error(tmp_path):
    """`make demo` on a terminal: Ctrl-C (the terminal's ^C, through a pseudo-terminal) reaches
    the supervised command and not make, which would print 'make: *** [demo] Interrupt', and
    what the stopped processes print as they go (a traceback) is not shown. A progress line
    redrawn in place beside the UI (no newline yet) shows as it is drawn."""
    import pty
    import select

    (tmp_path / "stop.py").write_text(QUIET_STOP)
    (tmp_path / "Makefile").write_text(f"demo:\n\t{sys.executable} stop.py\n")
    pid, terminal = pty.fork()
    if pid == 0:  # the child: make on the pseudo-terminal, as a user's shell starts it
        os.chdir(tmp_path)
        os.execvp("make", ["make", "--no-print-directory", "demo"])
    out, sent = b"", False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not sent and b"serving" in out and b"history: 2 of 2" in out:
            time.sleep(0.5)
            os.write(terminal, b"\x03")
            sent = True
        if select.select([terminal], [], [], 0.2)[0]:
            try:
                data = os.read(terminal, 65536)
            except OSError:  # the terminal closed: everything on it exited
                break
            if not data:
                break
            out += data
    _, status = os.waitpid(pid, 0)
    text = out.decode(errors="replace")
    assert sent, text
    assert os.waitstatus_to_exitcode(status) == 0, text
    assert "serving" in text and "stopping the Dagster UI" in text, text  # its output until the stop
    assert "make:" not in text and "Traceback" not in text, text  # not its shutdown


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(") ")[-1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"  # a zombie has exited; its parent (init here) reaps it


def test_serve_metrics_exposes_every_checks_latest_verdict_over_http(monitored, capsys):
    """`serve-metrics` in its own process, scraped over HTTP on 127.0.0.1: the values are the
    checks' own (as `status` reads them), a failing check is a state, not a new series."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with duckdb.connect(str(monitored)) as conn:  # payments' next load is empty: its check fails
        conn.execute("DELETE FROM shop.raw.payments WHERE date_trunc('hour', loaded_at) = TIMESTAMP '2026-02-28 12:00'")
    run_config = {"ops": {"fill_missing_buckets": {"config": {"until": "2026-02-28 13:00", "judge_days": 1}}}}
    with dg.DagsterInstance.get() as instance:
        job = build_definitions().resolve_job_def("backfill_row_counts")
        assert job.execute_in_process(instance=instance, run_config=run_config).success
    assert main(["status", "--json"]) == 0
    status = {r["table"]: r for r in json.loads(capsys.readouterr().out)}
    assert status["demo/raw/payments"]["verdict"] == "failing"

    cli = Path(sys.executable).parent / "rowcount-monitor"
    server = subprocess.Popen([cli, "serve-metrics", "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        assert line.startswith("serving the verdicts of 2 checks at http://127.0.0.1:"), line
        url = line.split(" at ")[1].split()[0]
        with urllib.request.urlopen(url, timeout=30) as response:
            text = response.read().decode()
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, s.labels.get("asset"))] = s
    for table in ("demo/raw/orders", "demo/raw/payments"):
        row = status[table]
        for field in ("observed", "expected", "lower", "upper", "score"):
            assert samples[
                (f"rowcount_monitor_{'band_' if field in ('lower', 'upper') else ''}{field}", table)
            ].value == (pytest.approx(row[field]))
        bucket = samples[("rowcount_monitor_bucket_timestamp_seconds", table)].value
        assert pd.Timestamp(bucket, unit="s").strftime("%Y-%m-%d-%H:%M") == row["bucket"] == "2026-02-28-12:00"
    orders = samples[("rowcount_monitor_check_state", "demo/raw/orders")]
    payments = samples[("rowcount_monitor_check_state", "demo/raw/payments")]
    assert orders.value == 0 and payments.value == 2  # 0 rows: failing, ERROR
    assert payments.labels == {
        "table": "shop.raw.payments",
        "asset": "demo/raw/payments",
        "metric": "row_count",
        "owner": "",
        "severity": "auto",
    }
    assert samples[("rowcount_monitor_observed", "demo/raw/payments")].value == 0
    assert ("rowcount_monitor_scrape_duration_seconds", None) in samples


def test_a_new_instance_home_has_dagsters_telemetry_off(tmp_path, monkeypatch):
    """The demo's console showed Dagster's telemetry banner on every start: a home the CLI
    creates says telemetry: enabled: false (and one a user made is left alone)."""
    from rowcount_monitor.cli.common import _dagster_home

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "new_home"))
    home = _dagster_home()
    with dg.DagsterInstance.get() as instance:
        assert instance.get_settings("telemetry") == {"enabled": False}
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: true\n")
    _dagster_home()
    assert "enabled: true" in (home / "dagster.yaml").read_text()
