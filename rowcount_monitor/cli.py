"""rowcount-monitor: one command line, subcommands for set-up and operation."""

from __future__ import annotations

import argparse
import math
import os
import shutil
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
DEMO_FILE = PROJECT / "data" / "shop.duckdb"
# An explicit instance config: local SQLite storage in DAGSTER_HOME, and no telemetry (whose
# banner greeted every `make demo`).
_DEFAULT_SETTINGS = "# Dagster instance settings: local SQLite storage in this folder.\ntelemetry:\n  enabled: false\n"


def _dagster_home() -> Path:
    """DAGSTER_HOME, or .dagster_home in the project (git-ignored) so history survives restarts."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(PROJECT / ".dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if not settings.exists():
        settings.write_text(_DEFAULT_SETTINGS)
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
    import pandas as pd

    from .backfill import run, seed_cache

    home = _dagster_home()
    print(f"Dagster instance: {home}")
    until = getattr(args, "until", None)
    if getattr(args, "seed_cache", False):
        written = seed_cache(until=pd.Timestamp(until) if until else None)
        print(f"history cache seeded from the warehouse: {written:,} buckets (no Dagster events written)")
        return 0
    run(workers=args.workers, judge_days=args.judge_days, until=until)
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
    cmd_demo_warehouse(argparse.Namespace(path=str(DEMO_FILE), force=False))
    late = _hold_back_late_rows()
    cmd_backfill(argparse.Namespace(workers=None, judge_days=5, seed_cache=False))
    if late is not None:
        from .demo_warehouse import LATE_TABLE, land_late_rows

        print(
            f"late rows: {land_late_rows(DEMO_FILE):,} rows of {LATE_TABLE} for {late:%Y-%m-%d %H:00} arrived after "
            "that hour was counted; the next hourly tick re-counts it (recount: 3) and judges it again",
            flush=True,
        )
    from .backfill import build_models

    build_models()
    dg_cli = shutil.which("dg", path=str(Path(sys.executable).parent)) or "dg"
    url = f"http://{args.host}:{args.port}"
    print(
        f"\nstarting the Dagster UI at {url}  (Ctrl-C stops it; history stays in {os.environ['DAGSTER_HOME']})\n",
        flush=True,
    )
    os.chdir(PROJECT)
    from .supervise import run_supervised

    # the UI's and the daemon's own INFO lines (a sensor check every 30 s) stay out of the
    # terminal: warnings and errors only; every tick is in the UI
    quiet = ["--log-level", "warning"]
    return run_supervised([dg_cli, "dev", *quiet, "-w", "workspace.yaml", "-h", args.host, "-p", str(args.port)])


def _hold_back_late_rows():
    """Make the demo's late table miss most rows of the hour the backfill will count last (unless
    that hour was counted by an earlier demo); returns that hour, or None."""
    import dagster as dg
    import pandas as pd

    from .defs.naming import asset_key
    from .demo_warehouse import LATE_TABLE, SCHEMA, hold_back_late_rows, land_late_rows
    from .warehouse import TableRef

    land_late_rows(DEMO_FILE)  # rows an interrupted demo still held
    bucket = pd.Timestamp.now(tz="UTC").tz_localize(None).floor("h") - pd.Timedelta(hours=1)
    key = asset_key("demo", TableRef.parse(f"shop.{SCHEMA}.{LATE_TABLE}"))
    _dagster_home()
    with dg.DagsterInstance.get() as instance:
        if f"{bucket:%Y-%m-%d-%H:%M}" in instance.get_materialized_partitions(key):
            return None
    return bucket if hold_back_late_rows(DEMO_FILE, bucket) else None


def _alerting():
    """The config's alert settings, its outbox and the SNS publisher, as the sensor has them."""
    from .alerting.sns import TOPIC_ENV, SNSPublisher
    from .config import load_config
    from .defs import config_path
    from .defs.alert_sensors import outbox_for

    config = load_config(config_path())
    publisher = SNSPublisher(topic_arn=os.environ.get(TOPIC_ENV, ""))
    import dagster as dg

    _dagster_home()
    with dg.DagsterInstance.get() as instance:
        outbox = outbox_for(config.alerts, instance)
    return config.alerts, outbox, publisher


def cmd_alerts_test(args) -> int:
    import time
    import uuid

    from .alerting.messages import Alert

    _, _, publisher = _alerting()
    alert = Alert(
        f"test:{uuid.uuid4()}",
        "test",
        args.table,
        args.owner,
        "INFO",
        "rowcount-monitor test message: if you read this, your subscription works",
    )
    message_id = publisher.publish(alert)
    print(f"published a test message to {publisher.topic_arn} (MessageId {message_id}) at {time.ctime()}")
    return 0


def cmd_alerts_replay(args) -> int:
    import time

    from .alerting.deliver import deliver

    alerts, outbox, publisher = _alerting()
    now = time.time()
    dead = {alert_id for alert_id, _, _ in outbox.listing("dead")}
    unknown = [alert_id for alert_id in args.ids or [] if alert_id not in dead]
    if unknown:
        print(
            f"rowcount-monitor: no dead-lettered alert {', '.join(map(repr, unknown))}; nothing replayed "
            "(`rowcount-monitor alerts status` lists them)",
            file=sys.stderr,
        )
        return 2
    count = outbox.replay(args.ids or None, now)
    client = publisher.client()
    report = deliver(
        outbox, lambda a: publisher.publish(a, client), now, alerts.max_attempts, alerts.retry_backoff_seconds
    )
    print(f"replayed {count} dead-lettered alert{'' if count == 1 else 's'}; delivered the outbox: {report.line()}")
    for error in report.errors[:5]:
        print(f"  {error}")
    return 0 if not report.failed and not report.dead else 1


def cmd_alerts_status(args) -> int:
    _, outbox, _ = _alerting()
    counts = outbox.counts()
    print(f"outbox {outbox}: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "empty"))
    from .alerting.deliver import mask_credentials

    for alert_id, attempts, error in outbox.listing("dead"):
        print(f"  dead  {alert_id}  after {attempts} attempts: {mask_credentials(error or '')}")
    return 0


def cmd_discover(args) -> int:
    import time

    from .defs import refresh_catalog

    t0 = time.perf_counter()
    tables, metrics, path = refresh_catalog()
    monitors = f" and {metrics} metric monitor{'' if metrics == 1 else 's'}" if metrics else ""
    print(
        f"{tables} table{'' if tables == 1 else 's'}{monitors} described in {path} ({time.perf_counter() - t0:.1f}s); "
        "the code location now loads from it until the config changes"
    )
    return 0


def _instance_and_checks():
    import dagster as dg

    from .defs import build_definitions
    from .report import row_count_checks

    _dagster_home()
    return dg.DagsterInstance.get(), row_count_checks(build_definitions())


def _did_you_mean(text: str) -> str:
    """' (did you mean 'orders'?)' for a mistyped table name, from the configured ones; '' if none is close."""
    import difflib

    from .defs import monitored_entries

    names = {
        n for e in monitored_entries() for n in (e.table, e.table.rsplit(".", 1)[-1], getattr(e, "metric", None)) if n
    }
    close = difflib.get_close_matches(text, sorted(names), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _names(text: str, key) -> bool:
    """Does `text` name the table of asset `key`: demo/raw/orders, shop.raw.orders, raw.orders
    or orders?"""
    schema_table = ".".join(key.path[1:])
    return text in (key.to_user_string(), key.path[-1], schema_table) or text.endswith("." + schema_table)


def _fmt(x) -> str:
    """Whole numbers from 100 on (row counts), three significant digits below (a metric's share)."""
    if x is None:
        return "-"
    return f"{x:,.0f}" if abs(x) >= 100 or float(x).is_integer() else f"{x:.3g}"


def _print_rows(rows, as_json: bool, columns) -> None:
    import json

    if as_json:
        print(json.dumps([r.as_dict() for r in rows], indent=1))
        return
    widths = [max([width, *(len(str(get(r))) for r in rows)]) for _, width, get in columns]  # a metric's long name
    print("  ".join(f"{title:<{w}}" for (title, _, _), w in zip(columns, widths, strict=True)).rstrip())
    for row in rows:
        print("  ".join(f"{get(row):<{w}}" for (_, _, get), w in zip(columns, widths, strict=True)).rstrip())


def cmd_status(args) -> int:
    from .report import status

    instance, checks = _instance_and_checks()
    rows = status(instance, checks)
    _print_rows(
        rows,
        args.json,
        [
            ("table", 30, lambda r: r.table),
            ("bucket", 17, lambda r: r.bucket or "-"),
            ("observed", 9, lambda r: _fmt(r.observed)),
            ("expected", 9, lambda r: _fmt(r.expected)),
            ("verdict", 10, lambda r: r.verdict),
            ("failing since", 17, lambda r: r.failing_since or ""),
        ],
    )
    return 0


def cmd_anomalies(args) -> int:
    import dagster as dg

    from .config import parse_duration
    from .defs import monitored_entries
    from .defs.checks import CHECK_NAME
    from .defs.naming import entry_key
    from .report import anomalies

    instance, checks = _instance_and_checks()
    entries = {dg.AssetCheckKey(entry_key(e), CHECK_NAME): e for e in monitored_entries()}
    rows = anomalies(instance, checks, parse_duration(args.since), entries)
    _print_rows(
        rows,
        args.json,
        [
            ("bucket", 17, lambda r: r.bucket or "-"),
            ("table", 30, lambda r: r.table),
            ("observed", 9, lambda r: _fmt(r.observed)),
            ("expected", 9, lambda r: _fmt(r.expected)),
            ("reason", 0, lambda r: r.reason),
        ],
    )
    if not args.json:
        print(f"{len(rows)} failed row-count check{'' if len(rows) == 1 else 's'} in the last {args.since}")
    return 0


def cmd_serve_metrics(args) -> int:
    """Serve the latest verdict of every check at http://HOST:PORT/metrics until stopped."""
    import signal
    import threading

    import dagster as dg
    from prometheus_client import CollectorRegistry, start_http_server

    from .defs import monitored_entries
    from .defs.checks import CHECK_NAME
    from .defs.naming import entry_key
    from .prometheus_exporter import VerdictCollector

    _dagster_home()
    entries = monitored_entries()
    checks = {dg.AssetCheckKey(entry_key(e), CHECK_NAME): e for e in entries}
    registry = CollectorRegistry(auto_describe=False)
    stop = threading.Event()
    with dg.DagsterInstance.get() as instance:
        registry.register(VerdictCollector(instance, checks))
        server, _ = start_http_server(args.port, addr=args.host, registry=registry)
        print(
            f"serving the verdicts of {len(checks):,} checks at http://{args.host}:{server.server_port}/metrics "
            "(Ctrl-C stops)",
            flush=True,
        )
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            stop.wait()
        except KeyboardInterrupt:
            pass
        server.shutdown()
    return 0


def cmd_explain(args) -> int:
    from .defs.feedback import FeedbackStore
    from .report import status

    instance, checks = _instance_and_checks()
    chosen = {k: v for k, v in checks.items() if _names(args.table, k.asset_key)}
    if not chosen:
        hint = _did_you_mean(args.table) or " (try `rowcount-monitor status`)"
        print(f"rowcount-monitor: no monitored table {args.table!r}{hint}", file=sys.stderr)
        return 2
    for row in status(instance, chosen):
        if row.verdict == "no verdict":
            print(f"{row.table}: no row-count check has run yet")
            continue
        where = f"bucket {row.bucket}" if row.bucket is not None else "latest materialization"
        print(f"{row.table}, {where}: {row.verdict.upper()}")
        print(f"  {row.reason}")
        if row.expected is not None:
            score = f"; score {row.score:+.1f} robust standard deviations" if row.score is not None else ""
            print(
                f"  observed {_fmt(row.observed)} rows; expected {_fmt(row.expected)}, "
                f"normal between {_fmt(row.lower)} and {_fmt(row.upper)}{score}"
            )
        if row.failing_since:
            print(f"  failing since bucket {row.failing_since}")
        store = FeedbackStore.for_instance(instance)
        for e in store.entries(row.table) if store is not None else []:
            said = {"expected": "marked expected", "incident": "marked an incident", "accept": "new normal level from"}[
                e.kind
            ]
            print(f"  feedback: {said} {e.bucket:%Y-%m-%d %H:%M}" + (f" ({e.note})" if e.note else ""))
    return 0


def _bucket_table(text: str, snapshots: bool = False):
    """The configured bucket table (or, with `snapshots`, any table) that `text` names, or None."""
    from .config import load_config
    from .defs import config_path
    from .defs.catalog import resolve_tables
    from .defs.naming import entry_key

    config = load_config(config_path())
    facts = [
        f for f in resolve_tables(config) if (snapshots or f.start is not None) and _names(text, entry_key(f.entry))
    ]
    return (config, facts[0]) if facts else (config, None)


def _record_feedback(table: str, when: str, kind: str, note: str) -> int:
    """Store feedback on one bucket of a table (and show it on the asset in the UI)."""
    import dagster as dg
    import pandas as pd

    from .defs.cadence import BUCKET_STEP
    from .defs.feedback import FeedbackStore
    from .defs.naming import entry_key

    _, facts = _bucket_table(table)
    if facts is None:
        hint = _did_you_mean(table) or " (try `rowcount-monitor status`)"
        print(f"rowcount-monitor: no monitored bucket table {table!r}{hint}", file=sys.stderr)
        return 2
    step = BUCKET_STEP[facts.entry.cadence]
    try:
        bucket = pd.Timestamp(when)
    except ValueError:
        print(f"rowcount-monitor: {when!r} is not a timestamp (e.g. 2026-11-26T09:00)", file=sys.stderr)
        return 2
    if bucket.tzinfo is not None:
        bucket = bucket.tz_convert("UTC").tz_localize(None)
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    if bucket != bucket.floor(step) or bucket < facts.start or bucket > now:
        why = (
            f"it is in the future (now is {now:%Y-%m-%d %H:%M} UTC)"
            if bucket > now
            else f"its first bucket is {facts.start}"
            if bucket < facts.start
            else f"{facts.entry.cadence} buckets start on the {'hour' if step < pd.Timedelta(days=1) else 'day'}"
        )
        print(f"rowcount-monitor: {when!r} is not a bucket of {facts.entry.table}: {why}", file=sys.stderr)
        return 2
    _dagster_home()
    instance = dg.DagsterInstance.get()
    store = FeedbackStore.for_instance(instance)
    key = entry_key(facts.entry)
    if not store.add(key.to_user_string(), bucket, kind, note):
        print(f"{facts.entry.table} {bucket:%Y-%m-%d %H:%M}: already recorded as {kind}, nothing changed")
        return 0
    instance.report_runless_asset_event(
        dg.AssetObservation(
            asset_key=key,
            metadata={
                "feedback": dg.MetadataValue.text(kind),
                "bucket": dg.MetadataValue.text(str(bucket)),
                "note": dg.MetadataValue.text(note),
            },
        )
    )
    what = {
        "expected": "normal: never flagged, used as training data",
        "incident": "an incident: never used as training data",
        "accept": "the start of a new normal level: history before it is re-levelled",
    }[kind]
    print(f"{facts.entry.table} {bucket:%Y-%m-%d %H:%M}: recorded as {what}; the next check of the table uses it")
    return 0


def cmd_feedback(args) -> int:
    return _record_feedback(args.table, args.bucket, args.verdict, args.note)


def cmd_accept(args) -> int:
    return _record_feedback(args.table, args.from_, "accept", args.note)


def cmd_backtest(args) -> int:
    import json

    import dagster as dg
    import pandas as pd

    from . import backtest
    from .defs.feedback import feedback_for
    from .defs.measures import label
    from .defs.naming import entry_key
    from .defs.resources import warehouse_resources

    config, table = _bucket_table(args.table, snapshots=True)
    if table is None:
        print(f"rowcount-monitor: no table {args.table!r} in the config{_did_you_mean(args.table)}", file=sys.stderr)
        return 2
    snapshot = table.start is None  # counted whole: its history is its recorded snapshots
    if snapshot and args.from_warehouse:
        print(
            f"rowcount-monitor: {table.entry.table} is counted as a snapshot: the warehouse keeps no history "
            "of its size, only the recorded snapshots do (drop --from-warehouse)",
            file=sys.stderr,
        )
        return 2
    until = pd.Timestamp.now(tz="UTC").tz_localize(None)
    _dagster_home()
    instance = dg.DagsterInstance.get()
    key = entry_key(table.entry)
    name = key.to_user_string()
    feedback = feedback_for(instance, [name]).get(name)
    if snapshot:
        from .defs.checks import load_snapshot_history

        history = load_snapshot_history(instance, key, table.entry, 10_000)
    elif args.from_warehouse:
        history = backtest.history_from_warehouse(warehouse_resources(config), table, until)
    else:
        history = backtest.history_from_instance(instance, table, until)
    if history.empty:
        print("no history yet: run `rowcount-monitor backfill` or use --from-warehouse", file=sys.stderr)
        return 1
    overrides = {
        k: v
        for k, v in {"model": args.model, "sensitivity": args.sensitivity, "direction": args.direction}.items()
        if v is not None
    }
    if args.seasonality is not _UNSET:
        overrides["seasonality"] = args.seasonality
    results = backtest.compare(history, table, overrides, feedback)
    if args.json:
        print(
            json.dumps(
                [{**backtest.summary(history, r), "alert_buckets": [str(a.bucket) for a in r.alerts]} for r in results],
                indent=1,
            )
        )
    else:
        print(f"{label(table.entry)}: {len(history):,} buckets from {history.index[0]} to {history.index[-1]}")
        for r in results:
            s = backtest.summary(history, r)
            print(
                f"\n{r.label}: {s['alerts']} alerts in {s['judged']:,} judged buckets "
                f"({s['alerts_per_1000']} per 1,000)"
            )
            for a in r.alerts[-args.last :]:
                print(f"  {a.bucket:%Y-%m-%d %H:%M}  {a.reason}")
            if len(r.alerts) > args.last:
                print(f"  ... and {len(r.alerts) - args.last} earlier (--last N shows more)")
    if args.plot:
        backtest.plot(history, results[-1], args.plot, label(table.entry))
        print(f"\nplot written to {args.plot}")
    return 0


LOCAL_QUEUE = "rowcount-monitor-inbox"
# --seasonality not given (None is a value of it: no seasonality)
_UNSET = object()


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


class _Parser(argparse.ArgumentParser):
    """Bad arguments end in one line naming the command and exit 2 (argparse prints its whole
    usage first, which hides the one line that matters)."""

    def error(self, message: str):
        command = self.prog.removeprefix("rowcount-monitor").strip()
        self.exit(2, f"rowcount-monitor: {command + ': ' if command else ''}{message} (see --help)\n")


def _timestamp(text: str) -> str:
    """An ISO timestamp argument, checked here so that a typo is one line, not a traceback."""
    import pandas as pd

    try:
        pd.Timestamp(text)
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(
            f"not a timestamp: {text!r} (ISO, UTC: 2026-11-26T09:00 or 2026-11-26)"
        ) from None
    return text


def _age(text: str) -> str:
    from .config import parse_duration

    try:
        parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, not {text!r}")
    return value


def _sensitivity(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of standard deviations, such as 4, not {text!r}")
    return value


def _seasonality(text: str) -> str | tuple[int, ...] | None:
    if text in ("auto", "none"):
        return None if text == "none" else "auto"
    try:
        periods = tuple(int(p) for p in text.split(","))
    except ValueError:
        periods = ()
    if not periods or min(periods) < 2:
        raise argparse.ArgumentTypeError(
            f"expected auto, none, or periods of at least 2 buckets such as 24,168, not {text!r}"
        )
    return periods


def _png_path(text: str) -> str:
    folder = Path(text).expanduser().resolve().parent
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"no folder {folder} to write {text!r} into")
    return text


def parser() -> argparse.ArgumentParser:
    p = _Parser(
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
    bf.add_argument("--workers", type=_positive, default=None, help="worker processes (default: 2, or 1 on one core)")
    bf.add_argument(
        "--judge-days",
        type=int,
        default=5,
        help="run the row-count check on the filled buckets of the last N days (default 5)",
    )
    bf.add_argument(
        "--until",
        metavar="TIMESTAMP",
        type=_timestamp,
        help="fill the buckets that ended by this time, ISO (default: now)",
    )
    bf.add_argument(
        "--seed-cache",
        action="store_true",
        help="instead, fill only the checks' history cache straight from the warehouse (fast "
        "onboarding of many tables; no Dagster events, so the UI's history starts empty)",
    )
    bf.set_defaults(func=cmd_backfill)

    st = sub.add_parser("status", help="every table: last bucket judged, count, expected, verdict, failing since")
    st.add_argument("--json", action="store_true", help="print JSON, for scripts")
    st.set_defaults(func=cmd_status)

    an = sub.add_parser("anomalies", help="all failed row-count checks since a time")
    an.add_argument("--since", default="7d", type=_age, help="how far back: 2w, 7d, 12h, 30m (default 7d)")
    an.add_argument("--json", action="store_true", help="print JSON, for scripts")
    an.set_defaults(func=cmd_anomalies)

    ex = sub.add_parser("explain", help="the latest verdict of one table, in words and numbers")
    ex.add_argument("table", help="shop.raw.orders, raw.orders, orders or demo/raw/orders")
    ex.set_defaults(func=cmd_explain)

    bt = sub.add_parser("backtest", help="replay a table's history through its policy, or a proposed one")
    bt.add_argument("table", help="shop.raw.orders, raw.orders, orders or demo/raw/orders")
    bt.add_argument("--model", choices=["auto", "baseline", "state", "stl", "sarimax"])
    bt.add_argument("--sensitivity", type=_sensitivity, help="robust standard deviations (current: the table's)")
    bt.add_argument(
        "--seasonality", type=_seasonality, default=_UNSET, help="auto, none, or periods in buckets like 24,168"
    )
    bt.add_argument("--direction", choices=["both", "drop", "spike"])
    bt.add_argument(
        "--from-warehouse",
        action="store_true",
        help="count the history from the warehouse's timestamp column, not the Dagster instance",
    )
    bt.add_argument(
        "--plot", metavar="PNG", type=_png_path, help="draw history, band and alerts of the last policy to a PNG"
    )
    bt.add_argument("--last", type=_positive, default=10, help="how many of the latest alerts to list (default 10)")
    bt.add_argument("--json", action="store_true", help="print JSON, for scripts")
    bt.set_defaults(func=cmd_backtest)

    fb = sub.add_parser(
        "feedback",
        help="tell the checks a bucket was expected or an incident",
        description="Tell the checks what a bucket was. 'expected': normal, never flagged, used "
        "for training; 'incident': never used for training. Used by the next check, by explain "
        "and by backtest. Saying it again changes nothing.",
        epilog="example: rowcount-monitor feedback shop.raw.orders 2026-11-26T09:00 expected "
        "--note 'Black Friday campaign'",
    )
    fb.add_argument("table", help="shop.raw.orders, raw.orders, orders or demo/raw/orders")
    fb.add_argument(
        "bucket", type=_timestamp, help="the bucket's start, ISO, UTC: 2026-11-26T09:00 (hourly) or 2026-11-26 (daily)"
    )
    fb.add_argument("verdict", choices=["expected", "incident"])
    fb.add_argument("--note", default="", help="why, for the next person")
    fb.set_defaults(func=cmd_feedback)

    acc = sub.add_parser(
        "accept",
        help="accept a table's level from a bucket on as its new normal",
        description="A new source was onboarded, a table was split: from this bucket on the "
        "level is the new normal. The history before it is re-levelled to it (the rhythm is kept).",
        epilog="example: rowcount-monitor accept shop.raw.orders --from 2026-11-20T00:00 --note 'EU shop onboarded'",
    )
    acc.add_argument("table", help="shop.raw.orders, raw.orders, orders or demo/raw/orders")
    acc.add_argument(
        "--from",
        dest="from_",
        required=True,
        metavar="BUCKET",
        type=_timestamp,
        help="the first bucket at the new level, ISO, UTC",
    )
    acc.add_argument("--note", default="", help="why, for the next person")
    acc.set_defaults(func=cmd_accept)

    sm = sub.add_parser(
        "serve-metrics",
        help="serve every check's latest value, band, score and state to Prometheus",
        description="A Prometheus endpoint: per table, the latest judged value, the expected value, "
        "the band, the score and the check's state (labels table, asset, metric, owner, severity), "
        "read from the Dagster instance in one query per scrape.",
        epilog="example: rowcount-monitor serve-metrics --port 9464, then scrape "
        "http://127.0.0.1:9464/metrics (the Grafana dashboard: docs/grafana/rowcount_monitor.json)",
    )
    sm.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    sm.add_argument("--port", type=int, default=9464, help="port (default %(default)s; 0 picks a free one)")
    sm.set_defaults(func=cmd_serve_metrics)

    disc = sub.add_parser(
        "discover",
        help="ask the warehouse about every configured table (schema globs "
        "included) and store the answer, so the code location loads without queries",
    )
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
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # --help (0), or a bad argument, already said in one line (2)
        return int(exc.code or 0)
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not in an "Exception ignored" at exit
        return code
    except BrokenPipeError:  # `... --json | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # a clear one-line error for users, not a traceback
        from .config import ConfigError, WarehouseError

        if isinstance(exc, ConfigError):
            print(f"rowcount-monitor: config error: {exc}", file=sys.stderr)
            return 2
        if isinstance(exc, WarehouseError):
            print(f"rowcount-monitor: warehouse error: {exc}", file=sys.stderr)
            return 3
        from botocore.exceptions import BotoCoreError, ClientError

        from .alerting.deliver import describe_error
        from .alerting.sns import NoTopic

        if isinstance(exc, (BotoCoreError, ClientError, NoTopic)):
            hint = (
                " (set AWS_DEFAULT_REGION or AWS_REGION)"
                if type(exc).__name__ == "NoRegionError"
                else " (is the endpoint running? `python -m moto.server -p 5555` for a local one)"
                if type(exc).__name__ == "EndpointConnectionError"
                else ""
            )
            print(f"rowcount-monitor: alert error: {describe_error(exc)}{hint}", file=sys.stderr)
            return 4
        raise


if __name__ == "__main__":
    sys.exit(main())
