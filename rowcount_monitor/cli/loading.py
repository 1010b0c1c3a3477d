"""Loading history and tables: `backfill` and `discover`."""

from __future__ import annotations

import argparse

from .common import (
    _dagster_home,
    _positive,
    _timestamp,
)


def cmd_backfill(args) -> int:
    import pandas as pd

    from ..backfill import run, seed_cache

    home = _dagster_home()
    print(f"Dagster instance: {home}")
    until = getattr(args, "until", None)
    if getattr(args, "seed_cache", False):
        written = seed_cache(until=pd.Timestamp(until) if until else None)
        print(f"history cache seeded from the warehouse: {written:,} buckets (no Dagster events written)")
        return 0
    run(workers=args.workers, judge_days=args.judge_days, until=until, judged_only=getattr(args, "judged_only", False))
    return 0


def cmd_discover(args) -> int:
    import time

    from ..defs import refresh_catalog

    t0 = time.perf_counter()
    tables, metrics, path = refresh_catalog()
    monitors = f" and {metrics} metric monitor{'' if metrics == 1 else 's'}" if metrics else ""
    print(
        f"{tables} table{'' if tables == 1 else 's'}{monitors} described in {path} ({time.perf_counter() - t0:.1f}s); "
        "the code location now loads from it until the config changes"
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    bf = sub.add_parser("backfill", help="record every table's missing row-count buckets in the Dagster instance")
    bf.add_argument("--workers", type=_positive, default=None, help="worker processes (default: 2, or 1 on one core)")
    bf.add_argument(
        "--judge-days",
        type=int,
        default=5,
        help="run the row-count check on the filled buckets of the last N days (default 5)",
    )
    bf.add_argument(
        "--judged-only",
        action="store_true",
        help="record only the buckets it judges (the last --judge-days), so their checks are in the UI soon; "
        "their tables' other counts go to the checks' history cache, and a backfill without it records them",
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

    disc = sub.add_parser(
        "discover",
        help="ask the warehouse about every configured table (schema globs "
        "included) and store the answer, so the code location loads without queries",
    )
    disc.set_defaults(func=cmd_discover)
