"""What a counting step does: count a batch of tables, record the counts, judge them.

A warehouse error in one table must not cost the others their counts, nor record a fake count
for it: the batch query is retried table by table, every table that could be counted is
recorded and judged, and the step then fails naming the tables that could not (which queues an
operational alert, see alert_sensors.py).

Tables with `recount: N` have the N buckets before the run's own counted again in the same
query; a bucket whose count changed since it was recorded (late rows) gets a new
materialization of its partition, marked RECOUNTED_FROM, and its cached count is replaced, never
doubled. A check result belongs to its run's partition, so that bucket is judged again by a
check-only run of its own, which recount.py requests; such a run counts nothing and marks its
verdicts REJUDGED.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import dagster as dg
import pandas as pd

from ..cadence import BUCKET_STEP, BUCKET_UNIT, PARTITION_FORMAT, label_zone, to_utc
from ..catalog import TableFacts
from ..feedback import Feedback, feedback_for, policy_for
from ..history import HistoryCache, buckets_needed, history_keys, load_history, load_snapshot_history, recorded_windows
from ..measures import ROW_COUNT, is_metric, measured, recorded
from ..naming import entry_key
from ..warehouse import Warehouse, WarehouseUnavailable, error_text
from .checks import band, judge, judge_partition

T = TypeVar("T")


# Failure metadata naming the assets that could not be counted (the operational alert pages
# only their owners, not every team of the batch).
FAILED_ASSETS = "failed_assets"
# Materialization metadata of a re-counted bucket: the count it replaces.
RECOUNTED_FROM = "recounted_from"


def _isolated(run: Callable[[list[TableFacts]], list[T]], tables: list[TableFacts]) -> tuple[dict, dict]:
    """run(tables) in one go; if that fails, table by table. Returns ({asset name: result},
    {asset name: error message})."""
    try:
        return {_name(f): r for f, r in zip(tables, run(tables), strict=True)}, {}
    except WarehouseUnavailable as exc:  # every table fails alike: no use asking one by one
        return {}, {_name(f): error_text(exc) for f in tables}
    except Exception as exc:  # noqa: BLE001 - which table is at fault is found below, one by one
        if len(tables) == 1:
            return {}, {_name(tables[0]): error_text(exc)}
    results, errors = {}, {}
    for f in tables:
        try:
            results[_name(f)] = run([f])[0]
        except Exception as exc:  # noqa: BLE001 - reported per table, then the step fails
            errors[_name(f)] = error_text(exc)
    return results, errors


# The most tables a counting failure names one by one (the rest are counted: "and 990 more").
LISTED_ERRORS = 10


def fail_for(errors: dict, total: int) -> None:
    if errors:
        listed = "; ".join(f"{name}: {msg}" for name, msg in list(errors.items())[:LISTED_ERRORS])
        if len(errors) > LISTED_ERRORS:
            listed += f"; and {len(errors) - LISTED_ERRORS} more"
        raise dg.Failure(
            f"counting failed for {len(errors)} of {total} table(s), no count or value recorded for them: {listed}",
            metadata={FAILED_ASSETS: dg.MetadataValue.json(sorted(errors))},
        )


def _not_numbers(counts: dict[str, dict]) -> dict[str, float]:
    """Of each measured series, the first value that is NaN or infinite (a metric such as
    avg(x) / sum(y) can give either); such a value is no count to record or judge."""
    bad = {}
    for name, found in counts.items():
        odd = next((v for v in found.values() if not math.isfinite(v)), None)
        if odd is not None:
            bad[name] = odd
    return bad


def _name(f: TableFacts) -> str:
    return entry_key(f.entry).to_user_string()


def count_buckets(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    tables: list[TableFacts],
    checked: list[TableFacts],
    plots: str,
) -> Iterator[dg.MaterializeResult | dg.AssetMaterialization | dg.AssetCheckResult]:
    window = context.partition_time_window
    start = pd.Timestamp(window.start).tz_convert("UTC").tz_localize(None)
    end = pd.Timestamp(window.end).tz_convert("UTC").tz_localize(None)
    keys = context.partition_keys
    t0 = time.perf_counter()
    counts, errors = ({}, {})
    # a batch is one warehouse, cadence, recount and clock; a range (backfill) counts every bucket anyway
    recount = (tables[0].entry.recount or 0) if tables and len(keys) == 1 else 0
    if tables:
        cadence, zone = tables[0].entry.cadence, label_zone(tables[0].entry)
        buckets = list(zip(keys, pd.to_datetime(keys, format=PARTITION_FORMAT[cadence]), strict=True))
        step = BUCKET_STEP[cadence]
        first = buckets[0][1] - recount * step  # the label of the first bucket re-counted
        counts, errors = _isolated(
            lambda batch: warehouse.bucket_counts_many(
                [measured(f.entry) for f in batch],
                BUCKET_UNIT[cadence],
                to_utc(first, zone) if recount else start,
                end,
                zone,
            ),
            tables,
        )
    for name, value in _not_numbers(counts).items():  # that metric fails; the rest are recorded and judged
        del counts[name]
        errors[name] = f"value is not a number ({value}): nothing recorded for this bucket"
    rows, outputs = [], []
    for f in tables:
        if _name(f) not in counts:
            continue
        found = counts[_name(f)]
        own = [(k, t) for k, t in buckets if t >= f.start]  # not before the table's first load
        key = entry_key(f.entry)
        if len(keys) == 1 and own:  # a normal run: a real output, so downstream dbt models run after it
            outputs.append((_name(f), key, recorded(f.entry, found.get(own[0][1], 0))))
        else:  # a range (backfill): one materialization per bucket, no output
            for partition, t in own:
                yield dg.AssetMaterialization(
                    asset_key=key, partition=partition, metadata=recorded(f.entry, found.get(t, 0))
                )
        rows += [(_name(f), t, found.get(t, 0)) for _, t in own]
    metrics = {_name(f) for f in tables if is_metric(f.entry) and _name(f) in counts}
    rows_counted = sum(n for name, _, n in rows if name not in metrics)
    if recount:
        counted = [f for f in tables if _name(f) in counts]
        changed = _changed_counts(context.instance, counted, counts, first, buckets[0][1] - step)
        for f, t, new, old in changed:
            yield dg.AssetMaterialization(
                asset_key=entry_key(f.entry),
                partition=t.strftime(PARTITION_FORMAT[cadence]),
                metadata={**recorded(f.entry, new), RECOUNTED_FROM: recorded(f.entry, old).popitem()[1]},
            )
        rows += [(_name(f), t, new) for f, t, new, _ in changed]
        context.log.info(
            f"re-counted {recount} earlier bucket(s) of {len(counted)} table(s): {len(changed)} count(s) changed"
        )
    cache = HistoryCache.for_instance(context.instance)
    if cache is not None and rows:
        cache.record(rows)
    context.log.info(
        f"counted {rows_counted:,} rows in {len(counts) - len(metrics)} table(s)"
        + (f" and measured {len(metrics)} metric(s)" if metrics else "")
        + f" x {len(keys)} bucket(s) in {time.perf_counter() - t0:.2f}s"
    )
    if len(keys) == 1:
        # a run that counts nothing judges again what an earlier run recorded (recount.py)
        judged = [f for f in checked if _name(f) not in errors]
        fresh = {name: (t, n) for name, t, n in rows if t == buckets[0][1]} if tables else {}
        results = list(_judge_buckets(context, judged, keys[0], plots, rejudged=not tables, fresh=fresh))
        verdicts = {r.asset_key.to_user_string(): r for r in results}
        for name, key, metadata in outputs:  # each bucket's band beside its count, plotted by bucket
            yield dg.MaterializeResult(asset_key=key, metadata={**metadata, **band(verdicts.get(name))})
        yield from results
    elif checked:
        context.log.info("row-count checks are not run for a range of buckets; the backfill job judges recent ones")
    fail_for(errors, len(tables))


def _changed_counts(instance, tables: list[TableFacts], counts: dict, first: pd.Timestamp, last: pd.Timestamp):
    """(table, bucket, new count, recorded count) for every bucket from `first` to `last` that
    was recorded before with another count (a metric's value beyond float rounding: a parallel
    aggregate may sum in another order). A bucket never recorded is not the recount's to
    fill (the backfill's), nor is one before the table's first load."""
    recorded = _recorded_counts(instance, tables, first, last)
    return [
        (f, t, counts[_name(f)].get(t, 0), old)
        for f in tables
        for t, old in recorded[_name(f)].items()
        if t >= f.start and not math.isclose(counts[_name(f)].get(t, 0), old, rel_tol=1e-9, abs_tol=1e-12)
    ]


def _recorded_counts(instance, tables: list[TableFacts], first: pd.Timestamp, last: pd.Timestamp) -> dict:
    """Each table's recorded counts from `first` to `last`: from the history cache where it holds
    the table's whole history, else from the event log."""
    cache = HistoryCache.for_instance(instance)
    names = [_name(f) for f in tables]
    complete = sorted(cache.complete(names)) if cache is not None else []
    out = cache.read(complete, first, last) if complete else {}
    for f in tables:
        if _name(f) not in out:
            step = BUCKET_STEP[f.entry.cadence]
            keys = history_keys(
                f.entry, last.strftime(PARTITION_FORMAT[f.entry.cadence]), first, int((last - first) / step) + 1
            )
            out[_name(f)] = load_history(instance, entry_key(f.entry), f.entry, keys)
    return out


def _judge_buckets(
    context,
    checked: list[TableFacts],
    partition: str,
    plots: str,
    rejudged: bool = False,
    fresh: dict[str, tuple[pd.Timestamp, float]] | None = None,
):
    """Each checked table's verdict on `partition`, from one read of all their history windows;
    `fresh`: (bucket, count) of tables whose bucket at that time was counted in this step and
    may not be stored yet."""
    t0 = time.perf_counter()
    judged = [f for f in checked if pd.to_datetime(partition, format=PARTITION_FORMAT[f.entry.cadence]) >= f.start]
    windows = recorded_windows(context.instance, judged, partition) if judged else {}
    for name, (t, n) in (fresh or {}).items():
        if name in windows:
            window = windows[name].drop(t, errors="ignore")
            windows[name] = pd.concat([window, pd.Series({t: float(n)})]).sort_index()
    said = feedback_for(context.instance, list(windows))
    cache = HistoryCache.for_instance(context.instance)
    carried = cache.states(list(windows)) if cache is not None else None
    failed = 0
    for f in judged:
        result = judge_partition(
            context.instance, f, partition, windows[_name(f)], plots, said.get(_name(f), Feedback()), rejudged, carried
        )
        failed += not result.passed
        yield result
    if cache is not None and carried:
        cache.keep_states(carried)
    if judged:
        context.log.info(f"judged {len(judged)} table(s), {failed} failed, in {time.perf_counter() - t0:.2f}s")


def count_snapshots(
    context: dg.AssetExecutionContext,
    warehouse: Warehouse,
    tables: list[TableFacts],
    checked: list[TableFacts],
    plots: str,
) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    totals, errors = _isolated(lambda batch: warehouse.total_counts([f.entry.ref for f in batch]), tables)
    keys = {_name(f): entry_key(f.entry) for f in tables}
    previous = context.instance.get_latest_materialization_events(list(keys.values())) if tables else {}
    for name, total in totals.items():
        metadata = {ROW_COUNT: dg.MetadataValue.int(total)}
        event = previous.get(keys[name])
        before = event.asset_materialization.metadata.get(ROW_COUNT) if event else None
        if before is not None:
            metadata["rows_added"] = dg.MetadataValue.int(total - int(before.value))
        yield dg.MaterializeResult(asset_key=keys[name], metadata=metadata)
    for f in checked:
        if _name(f) in errors:
            continue
        entry = f.entry
        key = entry_key(entry)
        history = load_snapshot_history(context.instance, key, entry, buckets_needed(entry, policy_for(entry)))
        if history.empty:
            raise dg.Failure(f"no recorded row count for {entry.ref}")
        yield judge(entry, policy_for(entry), history, plots)
    fail_for(errors, len(tables))
