"""`rowcount-monitor backfill`: run the backfill_row_counts job, split across worker processes.

Writing events to a local SQLite instance costs a few milliseconds each and is mostly
single-threaded Python, so two workers (one per core) each take half the buckets.
"""

from __future__ import annotations

import os
import signal
import time

import dagster as dg
import pandas as pd

from .defs.backfill_job import JOB_NAME, judged_from, missing_keys
from .defs.schedules import settle_of
from .naming import DBT_ASSETS
from .progress import Progress, share
from .supervise import in_processes


def _load():
    from .defs import build_definitions

    return build_definitions()


def missing_buckets(
    defs: dg.Definitions, instance: dg.DagsterInstance, until: pd.Timestamp, since: pd.Timestamp | None = None
) -> dict[str, int]:
    """Buckets not yet recorded up to `until` (and from `since`), per partitioned table asset
    that misses any: the workers' loads, and no run at all for tables already up to date."""
    sizes = {}
    for a in defs.assets:
        if isinstance(a, dg.AssetsDefinition) and a.partitions_def is not None and a.node_def.name != DBT_ASSETS:
            for key in a.keys:
                done = instance.get_materialized_partitions(key)
                todo = missing_keys(a.partitions_def, done, (until - settle_of(a)).to_pydatetime())
                if since is not None:
                    first = judged_from(a.partitions_def, since.to_pydatetime())
                    todo = [k for k in todo if k >= first]
                n = len(todo)
                if n:
                    sizes[key.to_user_string()] = n
    return sizes


def shards(sizes: dict[str, int], workers: int) -> list[list[str]]:
    """Greedy balance: biggest table first, onto the lightest shard."""
    bins: list[tuple[int, list[str]]] = [(0, []) for _ in range(workers)]
    for name, size in sorted(sizes.items(), key=lambda kv: -kv[1]):
        bins.sort(key=lambda b: b[0])
        load, names = bins[0]
        bins[0] = (load + size, names + [name])
    return [names for _, names in bins if names]


def _worker(counter) -> None:
    """A worker's start: Ctrl-C is the parent's to answer (it ends the workers), and the
    buckets it records count toward the parent's progress line."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    share(counter)


def _run_shard(tables: list[str], judge_days: int, until: str | None, judged_only: bool) -> tuple[bool, int, str]:
    defs = _load()
    job = defs.resolve_job_def(JOB_NAME)
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config={
                "ops": {
                    "fill_missing_buckets": {
                        "config": {
                            "tables": tables,
                            "judge_days": judge_days,
                            "until": until,
                            "judged_only": judged_only,
                        }
                    }
                },
                # per table lines stay in the run's log (the UI): the terminal has one progress line
                "loggers": {"console": {"config": {"log_level": "WARNING"}}},
            },
        )
        filled = result.output_for_node("fill_missing_buckets") if result.success else 0
        return result.success, filled, result.run_id


def run(workers: int | None = None, judge_days: int = 5, until: str | None = None, judged_only: bool = False) -> int:
    """Fill all missing buckets (`judged_only`: those of the last `judge_days`, which it judges;
    their tables' other counts go to the history cache); returns how many were filled. Raises
    if a worker failed."""
    now = pd.Timestamp(until) if until else pd.Timestamp.now(tz="UTC")
    now = now.tz_localize("UTC") if now.tzinfo is None else now
    # Opening the instance creates and stamps its SQLite storages. Done here, once, because two
    # workers doing it at the same moment on a new DAGSTER_HOME can both stamp the schema
    # ("Version table 'alembic_version' has more than one head present" ever after).
    with dg.DagsterInstance.get() as instance:
        sizes = missing_buckets(_load(), instance, now, now - pd.Timedelta(days=judge_days) if judged_only else None)
    if not sizes:
        print("backfill: every bucket is recorded, nothing to do", flush=True)
        return 0
    parts = shards(sizes, workers or min(2, os.cpu_count() or 1))
    t0 = time.perf_counter()
    which = f" of the last {judge_days} days (judged)" if judged_only else ""
    print(
        f"backfilling {sum(sizes.values()):,} missing buckets{which} of {len(sizes)} tables in {len(parts)} worker(s)",
        flush=True,
    )
    until = now.isoformat()  # the workers fill up to the instant counted here
    with Progress("backfill", sum(sizes.values()), "buckets") as progress:
        if len(parts) == 1:
            results = [_run_shard(parts[0], judge_days, until, judged_only)]
        else:
            calls = [(p, judge_days, until, judged_only) for p in parts]
            results = in_processes(_run_shard, calls, initializer=_worker, initargs=(progress.counter,))
    failed = [run_id for ok, _, run_id in results if not ok]
    if failed:
        raise RuntimeError(f"backfill failed in run(s) {', '.join(failed)}: see `dagster` logs or the UI")
    filled = sum(n for _, n, _ in results)
    print(f"backfill done: {filled:,} buckets recorded in {time.perf_counter() - t0:.1f}s", flush=True)
    return filled


def build_models() -> int:
    """Run the dbt models once (the demo does, after the backfill), unless they were built after
    the newest load already (a re-run of the demo); returns how many models were built."""
    defs = _load()
    keys = [
        key
        for a in defs.assets
        if isinstance(a, dg.AssetsDefinition) and a.node_def.name == DBT_ASSETS
        for key in a.keys
    ]
    if not keys:
        return 0
    t0 = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        if _models_current(instance, keys, [k for k in defs.resolve_all_asset_keys() if k not in keys]):
            print(f"dbt: {len(keys)} models built since the last load, nothing to do", flush=True)
            return 0
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance,
            asset_selection=keys,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
    if not result.success:
        raise RuntimeError(f"dbt models failed in run {result.run_id}: see the run in the UI")
    print(f"dbt: {len(keys)} models built in {time.perf_counter() - t0:.1f}s", flush=True)
    return len(keys)


def _models_current(instance: dg.DagsterInstance, models: list[dg.AssetKey], tables: list[dg.AssetKey]) -> bool:
    """Every model was materialized after the newest bucket of any table was recorded (older
    buckets recorded later, as the demo records its history beside the UI, bring no new rows)."""

    def latest(key):
        event = instance.get_latest_materialization_event(key)
        return event.timestamp if event is not None else None

    def newest_bucket(key):
        partitions = instance.get_materialized_partitions(key)
        if not partitions:  # a snapshot table, or none recorded
            return latest(key)
        filter_ = dg.AssetRecordsFilter(asset_key=key, asset_partitions=[max(partitions)])
        return instance.fetch_materializations(filter_, limit=1).records[0].timestamp

    built = [latest(k) for k in models]
    if None in built:
        return False
    loaded = [t for t in map(newest_bucket, tables) if t is not None]
    return not loaded or min(built) >= max(loaded)


def seed_cache(until: pd.Timestamp | None = None) -> int:
    """Fill the history cache (history.py) straight from the warehouse: every bucket table's
    counts from its first load to `until` (default: now), in UNION ALL batches, without writing
    Dagster events. For onboarding a large fleet: recording 8 weeks of 1,000 hourly tables as
    events (1.3 million) takes hours on a local SQLite instance, so checks can judge against
    the warehouse's own history from the first tick while the event log grows tick by tick.
    Returns how many buckets were written."""
    from tqdm import tqdm

    from .cadence import BUCKET_STEP, BUCKET_UNIT, label_zone, on_clock, to_utc
    from .catalog import resolve_tables
    from .config import config_path, load_config
    from .connections import reader, resource_key, warehouse_resources
    from .defs import resolve_model_entries
    from .history import HistoryCache
    from .measures import measured
    from .naming import entry_key
    from .warehouse import UNION_BATCH

    config = load_config(config_path())
    skip = frozenset(e.table for e in resolve_model_entries(config))
    tables = [f for f in resolve_tables(config, skip) if f.start is not None]
    resources = warehouse_resources(config)
    now = pd.Timestamp(until) if until is not None else pd.Timestamp.now(tz="UTC").tz_localize(None)
    with dg.DagsterInstance.get() as instance:
        cache = HistoryCache.for_instance(instance)
    written = 0
    with tqdm(total=len(tables), unit="table", desc="seeding history cache") as bar:
        for first in range(0, len(tables), UNION_BATCH):
            batch = tables[first : first + UNION_BATCH]
            by_clock = _by(batch, lambda f: (f.entry.warehouse, f.entry.cadence, label_zone(f.entry)))
            for (warehouse, cadence, zone), group in by_clock.items():
                step = BUCKET_STEP[cadence]
                end = on_clock(now, zone).floor(step)  # labels: the zone's days for a daily table in one
                counts = reader(resources[resource_key(warehouse)].process_config_and_initialize()).bucket_counts_many(
                    [measured(f.entry) for f in group],
                    BUCKET_UNIT[cadence],
                    to_utc(min(f.start for f in group), zone),
                    to_utc(end, zone),
                    zone,
                )
                rows, names = [], []
                for f, found in zip(group, counts, strict=True):
                    name = entry_key(f.entry).to_user_string()
                    rows += [
                        (name, t, found.get(t, 0)) for t in pd.date_range(f.start, end, freq=step, inclusive="left")
                    ]
                    names.append(name)
                cache.record(rows, complete=names)
                written += len(rows)
                bar.update(len(group))
    return written


def _by(items, key) -> dict:
    groups: dict = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    return groups
