"""rowcount-monitor: one command line, its commands grouped by what they are for: the demo
(rowcount_monitor/demo, in the repository only), loading history and tables (loading.py),
reading what the checks found (reading.py), telling them what a bucket was (feedback.py) and
the alert outbox (alerts.py)."""

from __future__ import annotations

import argparse
import os
import sys

from . import alerts, feedback, loading, reading
from .common import PROJECT_ENV, _Parser, demo_commands


def parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="rowcount-monitor",
        description="Seasonal row-count anomaly checks for warehouse tables, on Dagster.",
        epilog="Configuration: rowcount_monitor.yaml at the project root, or ROWCOUNT_MONITOR_CONFIG.",
    )
    p.add_argument(
        "--project",
        metavar="DIR",
        help="a dg project (the folder of its pyproject.toml) whose row-count checks status, anomalies, explain "
        "and serve-metrics read: its watched assets and counted tables (default: this project's config; "
        f"also {PROJECT_ENV}); DAGSTER_HOME names its instance",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = demo_commands()
    for group in (demo, loading, reading, feedback, alerts):
        if group is not None:
            group.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # --help (0), or a bad argument, already said in one line (2)
        return int(exc.code or 0)
    if args.project:
        os.environ[PROJECT_ENV] = args.project
    try:
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, not in an "Exception ignored" at exit
        return code
    except BrokenPipeError:  # `... --json | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # a clear one-line error for users, not a traceback
        from ..config import ConfigError, WarehouseError

        if isinstance(exc, ConfigError):
            print(f"rowcount-monitor: config error: {exc}", file=sys.stderr)
            return 2
        if isinstance(exc, WarehouseError):
            print(f"rowcount-monitor: warehouse error: {exc}", file=sys.stderr)
            return 3
        from botocore.exceptions import BotoCoreError, ClientError

        from ..alerting.deliver import describe_error
        from ..alerting.sns import NoTopic

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
