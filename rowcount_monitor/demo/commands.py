"""The demo's commands: the shop warehouse, `demo` (warehouse, backfill, dbt, UI), and a local SNS topic and queue (moto) to watch alerts arrive."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import threading
import time
from itertools import pairwise
from pathlib import Path

from ..cli.common import (
    PROJECT,
    _dagster_home,
)

DEMO_FILE = PROJECT / "data" / "shop.duckdb"
# The demo's backfill judges the buckets of the last JUDGE_DAYS days (the injected incidents).
JUDGE_DAYS = 5


def cmd_demo_warehouse(args) -> int:
    from . import warehouse as demo_warehouse

    path = Path(args.path)
    if not args.force and demo_warehouse.is_fresh(path):
        print(f"demo warehouse {path} is up to date (use --force to rebuild)")
        return 0
    print(f"building the demo warehouse {path} ({demo_warehouse.HISTORY_DAYS} days of history)")
    demo_warehouse.build(path)
    print(f"demo warehouse written: {path}")
    return 0


def _port_holder(port: int) -> str:
    """'pid 123 (dagster dev ...)' listening on `port`, from /proc (Linux); '' if unknown."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if any(os.readlink(fd) in inodes for fd in (proc / "fd").iterdir()):
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                return f"pid {proc.name} ({cmdline[:80]})"
        except OSError:
            continue
    return ""


def _port_free(host: str, port: int) -> bool:
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the UI server binds: TIME_WAIT is free
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def cmd_demo(args) -> int:
    """Build the demo warehouse, backfill its history, then start `dg dev` (Dagster's `dagster dev`
    without its supersession warning)."""
    if not _port_free(args.host, args.port):  # before any work: not a UI that dies in a log later
        holder = _port_holder(args.port)
        print(
            f"rowcount-monitor: port {args.port} on {args.host} is in use{' by ' + holder if holder else ''} "
            f"(a demo already running?): stop it with Ctrl-C in its terminal"
            f"{' or kill ' + holder.split()[1] if holder else ''}, or use another port: --port {args.port + 1} "
            f"(make demo PORT={args.port + 1})",
            file=sys.stderr,
        )
        return 1
    from ..supervise import until_ctrl_c

    return until_ctrl_c(lambda: _demo(args))


def _demo(args) -> int:
    """The warehouse, then the buckets the checks judge (recorded and judged), then the UI, with
    the rest of the history and the dbt models recorded beside it (`demo-history`): the failed
    checks are in the UI within a minute, the 90 days of history fill in as the UI runs."""
    from ..progress import duration

    marks = [("", time.perf_counter())]
    cmd_demo_warehouse(argparse.Namespace(path=str(DEMO_FILE), force=False))
    marks.append(("warehouse", time.perf_counter()))
    late = _hold_back_late_rows()
    from ..cli.loading import cmd_backfill

    cmd_backfill(argparse.Namespace(workers=None, judge_days=JUDGE_DAYS, seed_cache=False, judged_only=True))
    marks.append((f"the last {JUDGE_DAYS} days recorded and judged", time.perf_counter()))
    if late is not None:
        from .warehouse import LATE_TABLE, land_late_rows

        print(
            f"late rows: {land_late_rows(DEMO_FILE):,} rows of {LATE_TABLE} for {late:%Y-%m-%d %H:00} arrived after "
            "that hour was counted; the next hourly tick re-counts it (recount: 3) and judges it again",
            flush=True,
        )
    phases = ", ".join(f"{name} {duration(t - before)}" for (_, before), (name, t) in pairwise(marks))
    print(f"\nready in {duration(marks[-1][1] - marks[0][1])} ({phases})", flush=True)
    dg_cli = shutil.which("dg", path=str(Path(sys.executable).parent)) or "dg"
    url = f"http://{args.host}:{args.port}"
    print(
        f"starting the Dagster UI at {url}  (Ctrl-C stops it; history stays in {os.environ['DAGSTER_HOME']});\n"
        "beside it, the dbt models and the rest of the 90 days' history are recorded (the UI shows them as "
        "they land; an interrupted demo records what is left the next time)\n",
        flush=True,
    )
    os.chdir(PROJECT)
    from ..supervise import run_supervised

    def announce() -> None:
        if _answering(url):
            took = duration(time.perf_counter() - marks[0][1])
            print(f"the Dagster UI answers at {url}, {took} after the demo started", flush=True)

    threading.Thread(target=announce, daemon=True).start()
    # the UI's and the daemon's own INFO lines (a sensor check every 30 s) stay out of the
    # terminal: warnings and errors only; every tick is in the UI
    quiet = ["--log-level", "warning"]
    return run_supervised(
        [dg_cli, "dev", *quiet, "-w", "workspace.yaml", "-h", args.host, "-p", str(args.port)],
        beside=[[sys.executable, "-m", "rowcount_monitor.cli", "demo-history", "--after", url]],
    )


def _answering(url: str, timeout: float = 180.0) -> bool:
    """Whether the Dagster UI at `url` answers within `timeout` seconds (asked every second)."""
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=2) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(1)
    return False


def cmd_demo_history(args) -> int:
    """What `demo` records beside the UI: the dbt models, then every bucket not recorded yet;
    `--after URL`: once the UI there answers (or a few minutes passed), so as not to slow its start."""
    from ..backfill import build_models, run
    from ..supervise import until_ctrl_c

    _dagster_home()

    def work() -> int:
        if args.after:
            _answering(args.after)
        build_models()
        run(judge_days=JUDGE_DAYS)
        return 0

    return until_ctrl_c(work)


def _hold_back_late_rows():
    """Make the demo's late table miss most rows of the hour the backfill will count last (unless
    that hour was counted by an earlier demo); returns that hour, or None."""
    import dagster as dg
    import pandas as pd

    from ..naming import asset_key
    from ..warehouse import TableRef
    from .warehouse import LATE_TABLE, SCHEMA, hold_back_late_rows, land_late_rows

    land_late_rows(DEMO_FILE)  # rows an interrupted demo still held
    bucket = pd.Timestamp.now(tz="UTC").tz_localize(None).floor("h") - pd.Timedelta(hours=1)
    key = asset_key("demo", TableRef.parse(f"shop.{SCHEMA}.{LATE_TABLE}"))
    _dagster_home()
    with dg.DagsterInstance.get() as instance:
        if f"{bucket:%Y-%m-%d-%H:%M}" in instance.get_materialized_partitions(key):
            return None
    return bucket if hold_back_late_rows(DEMO_FILE, bucket) else None


LOCAL_QUEUE = "rowcount-monitor-inbox"


def cmd_alerts_local_topic(args) -> int:
    """Create a topic with a subscribed SQS queue on a local endpoint (moto) and print the
    environment that points rowcount-monitor at it, for `eval`."""
    import boto3

    env = {
        "AWS_ENDPOINT_URL": args.endpoint,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
    }
    session = boto3.session.Session(
        aws_access_key_id="local", aws_secret_access_key="local", region_name=env["AWS_DEFAULT_REGION"]
    )
    sns, sqs = (session.client(name, endpoint_url=args.endpoint) for name in ("sns", "sqs"))
    topic = sns.create_topic(Name="rowcount-monitor-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName=LOCAL_QUEUE)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    for key, value in {**env, "ROWCOUNT_MONITOR_SNS_TOPIC_ARN": topic}.items():
        print(f"export {key}={value}")
    print(f"# topic {topic} delivers to queue {queue}", file=sys.stderr)
    return 0


def cmd_alerts_read_queue(args) -> int:
    """Print (and remove) the alerts that arrived in the local queue: subject and attributes."""
    import json

    import boto3

    sqs = boto3.client(
        "sqs",
        endpoint_url=args.endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    queue = sqs.get_queue_url(QueueName=LOCAL_QUEUE)["QueueUrl"]
    count = 0
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            envelope = json.loads(message["Body"])
            attrs = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
            print(f"{envelope.get('Subject')}\n    {attrs}\n    {json.loads(envelope['Message'])['summary']}")
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            count += 1
    print(f"{count} message(s) read and removed from {LOCAL_QUEUE}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    demo = sub.add_parser("demo", help="build the demo warehouse, backfill 90 days, run dbt, start the Dagster UI")
    demo.add_argument("--host", default="127.0.0.1", help="address the UI binds to (default 127.0.0.1)")
    demo.add_argument("--port", type=int, default=3000, help="UI port (default 3000)")
    demo.set_defaults(func=cmd_demo)

    history = sub.add_parser(
        "demo-history",
        help="build the demo's dbt models and record the history not recorded yet (what demo runs beside the UI)",
    )
    history.add_argument("--after", metavar="URL", help="start once the Dagster UI at URL answers")
    history.set_defaults(func=cmd_demo_history)

    wh = sub.add_parser("demo-warehouse", help="write the demo shop's DuckDB file with 90 days of loads")
    wh.add_argument("--path", default=str(DEMO_FILE), help=f"output file (default {DEMO_FILE.relative_to(PROJECT)})")
    wh.add_argument("--force", action="store_true", help="rebuild even if the file is fresh")
    wh.set_defaults(func=cmd_demo_warehouse)


def register_local_alerts(al_sub: argparse._SubParsersAction) -> None:
    local = al_sub.add_parser(
        "local-topic", help="create a topic and queue on a local SNS (moto); print `export` lines"
    )
    local.add_argument("--endpoint", default="http://127.0.0.1:5555", help="local endpoint (default %(default)s)")
    local.set_defaults(func=cmd_alerts_local_topic)
    read = al_sub.add_parser(
        "read-queue",
        help="print the alerts that arrived in the local-topic queue, and remove them from it (each is read once)",
    )
    read.add_argument("--endpoint", default="http://127.0.0.1:5555", help="local endpoint (default %(default)s)")
    read.set_defaults(func=cmd_alerts_read_queue)
