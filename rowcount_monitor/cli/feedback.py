"""Telling the checks what a bucket was: `feedback` and `accept`."""

from __future__ import annotations

import argparse
import sys

from .common import (
    _bucket_table,
    _dagster_home,
    _did_you_mean,
    _timestamp,
)


def _record_feedback(table: str, when: str, kind: str, note: str) -> int:
    """Store feedback on one bucket of a table (and show it on the asset in the UI)."""
    import dagster as dg
    import pandas as pd

    from ..cadence import BUCKET_STEP
    from ..feedback import FeedbackStore
    from ..naming import entry_key

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


def register(sub: argparse._SubParsersAction) -> None:
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
