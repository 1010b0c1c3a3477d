"""The `backfill_row_counts` job: fills every table's missing row-count history in one run,
and judges the newest of those buckets with the row-count check, so that recent incidents
show up as failed checks without a run per bucket.

Launching a backfill of the partitioned assets works too (single-run policy), but Dagster then
also writes a "planned" event per partition; this job writes only the materializations, one per
missing bucket, from one GROUP BY query per table: about twice as fast, which matters for
90 days of hourly buckets. Buckets already recorded are skipped, so a re-run adds nothing.
"""

import datetime as dt
import math
from collections.abc import Generator, Iterator
from typing import Any

import dagster as dg
import pandas as pd

from ..cadence import BUCKET_UNIT, PARTITION_FORMAT, label_zone
from ..catalog import TableFacts
from ..connections import reader, resource_key
from ..dagster_records import materialization_targets
from ..feedback import feedback_for, policy_for
from ..history import HistoryCache, buckets_needed, history_keys, load_history
from ..measures import is_metric, measured, recorded
from ..naming import CHECK_NAME, entry_key
from ..progress import advance
from .checks import band, judge
from .tables import partitions_for

JOB_NAME = "backfill_row_counts"
# Buckets recorded between two advances of the backfill's progress line.
PROGRESS_STEP = 50


class BackfillConfig(dg.Config):
    tables: list[str] = []  # asset keys like "demo/raw/orders"; empty = every bucket table
    until: str | None = None  # ISO timestamp; default: now
    judge_days: int = 5  # run the row-count check on filled buckets of the last N days (0: none)
    # record only the buckets it judges; the others' counts go to the history cache (so a check
    # reads its whole window meanwhile) and their events to a later backfill
    judged_only: bool = False


def missing_keys(pdef: dg.TimeWindowPartitionsDefinition, done: set[str], until: dt.datetime) -> list[str]:
    return [k for k in pdef.get_partition_keys(current_time=until) if k not in done]


def judged_from(pdef: dg.TimeWindowPartitionsDefinition, since: dt.datetime) -> str:
    """The first partition key a backfill judges: the bucket starting at or after `since`."""
    return since.strftime(pdef.fmt)


def backfill_job(facts: list[TableFacts], plots: str = "failures") -> dg.JobDefinition:
    bucket_tables = [f for f in facts if f.start is not None]
    keys = {entry_key(f.entry).to_user_string(): f for f in bucket_tables}
    resources = {resource_key(f.entry.warehouse) for f in bucket_tables}

    @dg.op(name="fill_missing_buckets", required_resource_keys=resources)
    def fill(context: dg.OpExecutionContext, config: BackfillConfig) -> Iterator[Any]:
        until = pd.Timestamp(config.until) if config.until else pd.Timestamp.now(tz="UTC")
        until = until.tz_localize("UTC") if until.tzinfo is None else until
        now = pd.Timestamp.now(tz="UTC")
        if until > now:  # a bucket that has not happened yet is not an empty one
            context.log.warning(f"until {until:%Y-%m-%d %H:%M} is in the future: filling up to now")
            until = now
        chosen = config.tables or list(keys)
        unknown = sorted(set(chosen) - set(keys))
        if unknown:
            raise dg.Failure(f"not bucket tables of this code location: {', '.join(unknown)}")
        filled = 0
        for i, name in enumerate(chosen, 1):
            filled += yield from _fill_table(
                context,
                keys[name],
                until.to_pydatetime(),
                config.judge_days,
                plots,
                f"[{i}/{len(chosen)}]",
                config.judged_only,
            )
        yield dg.Output(filled)

    @dg.job(name=JOB_NAME, description="Fill every table's missing row-count buckets (one query per table).")
    def _job():
        fill()

    return _job


def _fill_table(
    context, facts: TableFacts, until: dt.datetime, judge_days: int, plots: str, label: str, judged_only: bool
) -> Generator[Any, None, int]:
    """Record a table's missing buckets and judge the recent ones (`judged_only`: record only
    those); yields their events (each stored as it is yielded: the evaluations name the
    materializations they judged) and returns how many buckets it recorded."""
    entry = facts.entry
    key = entry_key(entry)
    pdef = partitions_for(facts)
    todo = missing_keys(pdef, context.instance.get_materialized_partitions(key), until - entry.settle_delta)
    if not todo:
        context.log.info(f"{label} {key.to_user_string()}: up to date")
        return 0
    fmt = PARTITION_FORMAT[entry.cadence]
    start, end = (
        pd.Timestamp(getattr(pdef.time_window_for_partition_key(k), side)).tz_convert("UTC").tz_localize(None)
        for k, side in ((todo[0], "start"), (todo[-1], "end"))
    )
    warehouse = reader(getattr(context.resources, resource_key(entry.warehouse)))
    counts = warehouse.bucket_counts_many([measured(entry)], BUCKET_UNIT[entry.cadence], start, end, label_zone(entry))[
        0
    ]
    by_key = {bucket.strftime(fmt): n for bucket, n in counts.items()}
    odd = sorted(k for k, n in by_key.items() if not math.isfinite(n))
    if odd:  # left missing (a later backfill tries them again), the others recorded
        context.log.warning(
            f"{label} {key.to_user_string()}: {len(odd)} bucket(s) whose value is not a number "
            f"({by_key[odd[0]]} at {odd[0]}) are not recorded"
        )
        todo = [k for k in todo if k not in odd]
        advance(len(odd))  # done with, for now
        by_key = {k: n for k, n in by_key.items() if k not in odd}
    first = judged_from(pdef, until - dt.timedelta(days=judge_days))
    verdicts = _judge_recent(context, facts, key, todo, by_key, first, plots)
    cache = HistoryCache.for_instance(context.instance)
    if cache is not None:
        cache.record([(key.to_user_string(), pd.to_datetime(p, format=fmt), by_key.get(p, 0)) for p in todo])
    if judged_only:  # the same counts as the later backfill records: the warehouse's, counted now
        todo = [k for k in todo if k in verdicts]
    for i, partition in enumerate(todo, 1):
        yield dg.AssetMaterialization(
            asset_key=key,
            partition=partition,
            metadata={**recorded(entry, by_key.get(partition, 0)), **band(verdicts.get(partition))},
        )
        if i % PROGRESS_STEP == 0 or i == len(todo):
            advance(i % PROGRESS_STEP or PROGRESS_STEP)
    # each evaluation names the materialization it judged (so the check's partition status shows
    # the bucket as passed or failed, not missing): they are stored by now
    targets = materialization_targets(context.instance, key, list(verdicts))
    for partition, result in verdicts.items():
        yield dg.AssetCheckEvaluation(
            asset_key=key,
            check_name=CHECK_NAME,
            passed=result.passed,
            metadata=result.metadata,
            severity=result.severity,
            description=result.description,
            partition=partition,
            target_materialization_data=targets.get(partition),
        )
    failed = sum(not r.passed for r in verdicts.values())
    total = sum(by_key.get(p, 0) for p in todo)
    # a metric's values are not rows: their sum says nothing, their count of buckets does
    what = "" if is_metric(entry) else f", {total:,.0f} rows"
    checks = f"{failed} failed check{'' if failed == 1 else 's'} in the last {judge_days} days" if failed else ""
    context.log.info(f"{label} {key.to_user_string()}: {len(todo):,} buckets{what}" + (f", {checks}" if checks else ""))
    return len(todo)


def _judge_recent(
    context, facts: TableFacts, key, filled: list[str], counts: dict[str, int], first: str, plots: str
) -> dict[str, dg.AssetCheckResult]:
    """The row-count check's verdict on each filled bucket from partition `first` on, exactly as the live
    check would have given it (same history window, same `judge`). It does not call
    checks.judge_partition per bucket: that would be one event-log query per bucket, where this
    reads the whole window once."""
    entry = facts.entry
    fmt = PARTITION_FORMAT[entry.cadence]
    to_judge = [k for k in filled if k >= first]
    if not to_judge:
        return {}
    policy = policy_for(entry, feedback_for(context.instance, [key.to_user_string()]).get(key.to_user_string()))
    needed = buckets_needed(entry, policy)
    keys = history_keys(entry, to_judge[-1], facts.start, needed + len(to_judge))
    just_filled = set(filled)
    recorded = load_history(context.instance, key, entry, [k for k in keys if k not in just_filled])
    wanted = set(keys)
    new = pd.Series({pd.to_datetime(k, format=fmt): float(counts.get(k, 0)) for k in filled if k in wanted})
    series = pd.concat([recorded, new]).sort_index()
    cache = HistoryCache.for_instance(context.instance)
    carried = cache.states([key.to_user_string()]) if cache is not None else {}
    verdicts = {}
    for partition in to_judge:
        window = history_keys(entry, partition, facts.start, needed)  # what the live check reads
        first, ts = (pd.to_datetime(k, format=fmt) for k in (window[0], window[-1]))
        verdicts[partition] = judge(entry, policy, series.loc[first:ts], plots, carried=carried)
    if cache is not None:
        cache.keep_states(carried)
    return verdicts
