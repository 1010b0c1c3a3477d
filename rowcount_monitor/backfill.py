"""`rowcount-monitor backfill`: run the backfill_row_counts job, split across worker processes.

Writing events to a local SQLite instance costs a few milliseconds each and is mostly
single-threaded Python, so two workers (one per core) each take half the buckets.
"""
from __future__ import annotations

import multiprocessing
import os
import time

import dagster as dg

from .defs.backfill_job import JOB_NAME
from .defs.dbt import DBT_ASSETS


def _load():
    from .defs import build_definitions

    return build_definitions()


def bucket_table_sizes(defs: dg.Definitions) -> dict[str, int]:
    """Partition count per partitioned table asset, for balancing the workers."""
    sizes = {}
    for a in defs.assets:
        if isinstance(a, dg.AssetsDefinition) and a.partitions_def is not None:
            sizes[a.key.to_user_string()] = len(a.partitions_def.get_partition_keys())
    return sizes


def shards(sizes: dict[str, int], workers: int) -> list[list[str]]:
    """Greedy balance: biggest table first, onto the lightest shard."""
    bins: list[tuple[int, list[str]]] = [(0, []) for _ in range(workers)]
    for name, size in sorted(sizes.items(), key=lambda kv: -kv[1]):
        bins.sort(key=lambda b: b[0])
        load, names = bins[0]
        bins[0] = (load + size, names + [name])
    return [names for _, names in bins if names]


def _run_shard(tables: list[str], judge_days: int) -> tuple[bool, int, str]:
    defs = _load()
    job = defs.resolve_job_def(JOB_NAME)
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance, raise_on_error=False,
            run_config={"ops": {"fill_missing_buckets": {"config": {"tables": tables, "judge_days": judge_days}}},
                        "loggers": {"console": {"config": {"log_level": "INFO"}}}},
        )
        filled = result.output_for_node("fill_missing_buckets") if result.success else 0
        return result.success, filled, result.run_id


def run(workers: int | None = None, judge_days: int = 5) -> int:
    """Fill all missing buckets; returns how many were filled. Raises if a worker failed."""
    sizes = bucket_table_sizes(_load())
    parts = shards(sizes, workers or min(2, os.cpu_count() or 1))
    t0 = time.perf_counter()
    print(f"backfilling {len(sizes)} tables, {sum(sizes.values()):,} buckets at most, "
          f"in {len(parts)} worker(s)", flush=True)
    if len(parts) == 1:
        results = [_run_shard(parts[0], judge_days)]
    else:
        with multiprocessing.get_context("spawn").Pool(len(parts)) as pool:
            results = pool.starmap(_run_shard, [(p, judge_days) for p in parts])
    failed = [run_id for ok, _, run_id in results if not ok]
    if failed:
        raise RuntimeError(f"backfill failed in run(s) {', '.join(failed)}: see `dagster` logs or the UI")
    filled = sum(n for _, n, _ in results)
    print(f"backfill done: {filled:,} buckets recorded in {time.perf_counter() - t0:.1f}s", flush=True)
    return filled


def build_models() -> int:
    """Run the dbt models once (the demo does, after the backfill); returns how many models."""
    defs = _load()
    keys = [key for a in defs.assets if isinstance(a, dg.AssetsDefinition) and a.node_def.name == DBT_ASSETS
            for key in a.keys]
    if not keys:
        return 0
    t0 = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=keys, raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}})
    if not result.success:
        raise RuntimeError(f"dbt models failed in run {result.run_id}: see the run in the UI")
    print(f"dbt: {len(keys)} models built in {time.perf_counter() - t0:.1f}s", flush=True)
    return len(keys)
