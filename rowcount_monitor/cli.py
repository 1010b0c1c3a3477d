"""rowcount-monitor: one command line, subcommands for set-up and operation."""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
DEMO_FILE = PROJECT / "data" / "shop.duckdb"


def _dagster_home() -> Path:
    """DAGSTER_HOME, or .dagster_home in the project (git-ignored) so history survives restarts."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(PROJECT / ".dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if not settings.exists():  # an explicit (default) instance config: local SQLite storage
        settings.write_text("# Dagster instance settings; empty = local SQLite storage in this folder.\n")
    return home


def cmd_demo_warehouse(args) -> int:
    from . import demo_warehouse

    path = Path(args.path)
    if not args.force and demo_warehouse.is_fresh(path):
        print(f"demo warehouse {path} is up to date (use --force to rebuild)")
        return 0
    print(f"building the demo warehouse {path} ({demo_warehouse.HISTORY_DAYS} days of history)")
    demo_warehouse.build(path)
    print(f"demo warehouse written: {path}")
    return 0


def cmd_backfill(args) -> int:
    from .backfill import run

    home = _dagster_home()
    print(f"Dagster instance: {home}")
    run(workers=args.workers, judge_days=args.judge_days)
    return 0


def cmd_demo(args) -> int:
    """Build the demo warehouse, backfill its history, then start `dagster dev`."""
    cmd_demo_warehouse(argparse.Namespace(path=str(DEMO_FILE), force=False))
    cmd_backfill(argparse.Namespace(workers=None, judge_days=5))
    from .backfill import build_models

    build_models()
    dagster = shutil.which("dagster", path=str(Path(sys.executable).parent)) or "dagster"
    url = f"http://{args.host}:{args.port}"
    print(f"\nstarting the Dagster UI at {url}  (Ctrl-C stops it; history stays in {os.environ['DAGSTER_HOME']})\n",
          flush=True)
    os.chdir(PROJECT)
    os.execv(dagster, [dagster, "dev", "-w", "workspace.yaml", "-h", args.host, "-p", str(args.port)])


def _alerting():
    """The config's alert settings, its outbox and the SNS publisher, as the sensor has them."""
    from .alerting.sns import TOPIC_ENV, SNSPublisher
    from .config import load_config
    from .defs import config_path
    from .defs.alert_sensors import outbox_for

    config = load_config(config_path())
    publisher = SNSPublisher(topic_arn=os.environ.get(TOPIC_ENV, ""))
    return config.alerts, outbox_for(config.alerts, str(_dagster_home())), publisher


def cmd_alerts_test(args) -> int:
    import time
    import uuid

    from .alerting.messages import Alert

    _, _, publisher = _alerting()
    alert = Alert(f"test:{uuid.uuid4()}", "test", args.table, args.owner, "INFO",
                  "rowcount-monitor test message: if you read this, your subscription works")
    message_id = publisher.publish(alert)
    print(f"published a test message to {publisher.topic_arn} (MessageId {message_id}) at {time.ctime()}")
    return 0


def cmd_alerts_replay(args) -> int:
    import time

    from .alerting.deliver import deliver

    alerts, outbox, publisher = _alerting()
    now = time.time()
    count = outbox.replay(args.ids or None, now)
    client = publisher.client()
    report = deliver(outbox, lambda a: publisher.publish(a, client), now, alerts.max_attempts,
                     alerts.retry_backoff_seconds)
    print(f"replayed {count} dead-lettered alerts: {report.line()}")
    for error in report.errors[:5]:
        print(f"  {error}")
    return 0 if not report.failed and not report.dead else 1


def cmd_alerts_status(args) -> int:
    _, outbox, _ = _alerting()
    counts = outbox.counts()
    print(f"outbox {outbox.path}: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "empty"))
    for alert_id, attempts, error in outbox.listing("dead"):
        print(f"  dead  {alert_id}  after {attempts} attempts: {error}")
    return 0


def cmd_discover(args) -> int:
    import time

    from .defs import refresh_catalog

    t0 = time.perf_counter()
    count, path = refresh_catalog()
    print(f"{count} tables described in {path} ({time.perf_counter() - t0:.1f}s); "
          "the code location now loads from it until the config changes")
    return 0


LOCAL_QUEUE = "rowcount-monitor-inbox"


def cmd_alerts_local_topic(args) -> int:
    """Create a topic with a subscribed SQS queue on a local endpoint (moto) and print the
    environment that points rowcount-monitor at it, for `eval`."""
    import boto3

    env = {"AWS_ENDPOINT_URL": args.endpoint, "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
    os.environ.update(env)
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
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

    sqs = boto3.client("sqs", endpoint_url=args.endpoint, region_name="us-east-1",
                       aws_access_key_id="local", aws_secret_access_key="local")
    queue = sqs.get_queue_url(QueueName=LOCAL_QUEUE)["QueueUrl"]
    count = 0
    while batch := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            envelope = json.loads(message["Body"])
            attrs = {k: v["Value"] for k, v in envelope.get("MessageAttributes", {}).items()}
            print(f"{envelope.get('Subject')}\n    {attrs}\n    {json.loads(envelope['Message'])['summary']}")
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
            count += 1
    print(f"{count} message(s)")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="rowcount-monitor",
        description="Seasonal row-count anomaly checks for warehouse tables, on Dagster.",
        epilog="Configuration: rowcount_monitor.yaml at the project root, or ROWCOUNT_MONITOR_CONFIG.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = sub.add_parser("demo", help="build the demo warehouse, backfill 90 days, run dbt, start the Dagster UI")
    demo.add_argument("--host", default="127.0.0.1", help="address the UI binds to (default 127.0.0.1)")
    demo.add_argument("--port", type=int, default=3000, help="UI port (default 3000)")
    demo.set_defaults(func=cmd_demo)

    wh = sub.add_parser("demo-warehouse", help="write the demo shop's DuckDB file with 90 days of loads")
    wh.add_argument("--path", default=str(DEMO_FILE), help=f"output file (default {DEMO_FILE.relative_to(PROJECT)})")
    wh.add_argument("--force", action="store_true", help="rebuild even if the file is fresh")
    wh.set_defaults(func=cmd_demo_warehouse)

    bf = sub.add_parser("backfill", help="record every table's missing row-count buckets in the Dagster instance")
    bf.add_argument("--workers", type=int, default=None, help="worker processes (default: 2, or 1 on one core)")
    bf.add_argument("--judge-days", type=int, default=5,
                    help="run the row-count check on the filled buckets of the last N days (default 5)")
    bf.set_defaults(func=cmd_backfill)

    disc = sub.add_parser("discover", help="ask the warehouse about every configured table (schema globs "
                          "included) and store the answer, so the code location loads without queries")
    disc.set_defaults(func=cmd_discover)

    al = sub.add_parser("alerts", help="the SNS alert outbox: send a test message, replay dead letters, status")
    al_sub = al.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")
    test = al_sub.add_parser("test", help="publish one test message to $ROWCOUNT_MONITOR_SNS_TOPIC_ARN")
    test.add_argument("--table", default="rowcount-monitor.test", help="table attribute of the message")
    test.add_argument("--owner", default="", help="owner attribute, to test a subscription filter policy")
    test.set_defaults(func=cmd_alerts_test)
    replay = al_sub.add_parser("replay", help="re-send dead-lettered alerts (all, or the given ids)")
    replay.add_argument("ids", nargs="*", help="alert ids (see `alerts status`)")
    replay.set_defaults(func=cmd_alerts_replay)
    status = al_sub.add_parser("status", help="how many alerts are pending, sent, dead")
    status.set_defaults(func=cmd_alerts_status)
    local = al_sub.add_parser("local-topic", help="create a topic and queue on a local SNS (moto); print `export` lines")
    local.add_argument("--endpoint", default="http://127.0.0.1:5555", help="local endpoint (default %(default)s)")
    local.set_defaults(func=cmd_alerts_local_topic)
    read = al_sub.add_parser("read-queue", help="print the alerts that arrived in the local-topic queue")
    read.add_argument("--endpoint", default="http://127.0.0.1:5555", help="local endpoint (default %(default)s)")
    read.set_defaults(func=cmd_alerts_read_queue)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as exc:  # a clear one-line error for users, not a traceback
        from .config import ConfigError, WarehouseError

        if isinstance(exc, ConfigError):
            print(f"rowcount-monitor: config error: {exc}", file=sys.stderr)
            return 2
        if isinstance(exc, WarehouseError):
            print(f"rowcount-monitor: warehouse error: {exc}", file=sys.stderr)
            return 3
        raise


if __name__ == "__main__":
    sys.exit(main())
