"""Reading what the checks found: `status`, `anomalies`, `explain`, `backtest`, `serve-metrics`."""

from __future__ import annotations

import argparse
import sys

from .common import (
    _age,
    _bucket_table,
    _budget,
    _check_entries,
    _dagster_home,
    _did_you_mean,
    _fmt,
    _instance_and_checks,
    _names,
    _png_path,
    _positive,
    _print_rows,
    _seasonality,
    _sensitivity,
)


def cmd_status(args) -> int:
    from ..report import status

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
    from ..config import parse_duration
    from ..report import anomalies

    instance, checks = _instance_and_checks()
    entries = _check_entries()
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

    from ..prometheus_exporter import VerdictCollector

    _dagster_home()
    checks = _check_entries()
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
    from ..feedback import FeedbackStore
    from ..report import status

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


# --seasonality not given (None is a value of it: no seasonality)
_UNSET = object()


def cmd_backtest(args) -> int:
    import json

    import dagster as dg
    import pandas as pd

    from .. import backtest
    from ..connections import warehouse_resources
    from ..feedback import feedback_for
    from ..measures import label
    from ..naming import entry_key

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
        from ..history import load_snapshot_history

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
        for k, v in {
            "model": args.model,
            "false_alerts_per_1000": args.false_alerts_per_1000,
            "sensitivity": args.sensitivity,
            "direction": args.direction,
        }.items()
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


def register(sub: argparse._SubParsersAction) -> None:
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
    # detection.policy.MODEL_NAMES, written out: importing detection would make --help take seconds
    bt.add_argument("--model", choices=["auto", "state", "stl", "sarimax"])
    bt.add_argument(
        "--false-alerts-per-1000",
        type=_budget,
        metavar="B",
        help="the false-alert budget: alerts on normal loads per 1,000 buckets (current: the table's)",
    )
    bt.add_argument(
        "--sensitivity", type=_sensitivity, help="a fixed threshold in standard deviations instead of the budget"
    )
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
