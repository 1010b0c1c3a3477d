"""One hourly tick for a fleet of tables on one machine, beside bare Dagster doing the same.

Builds a DuckDB warehouse of N tables (default 1,000) with W weeks (default 8) of hourly loads
(daily and weekly rhythm, Poisson noise; about 1 % of tables load only a fifth of their rows in
each tick's hour), a persistent SQLite Dagster instance in a temporary DAGSTER_HOME, and the
project's code location over it (schema discovery, catalog). The checks' history cache is seeded
from the warehouse (`rowcount-monitor backfill --seed-cache`): writing W weeks of N tables as
Dagster events would take hours on SQLite, and a check reads the same counts either way.

A tick is what the hourly schedule asks for: the counting steps (`checks.batch_size` tables
each: count them in UNION ALL queries, record `dagster/row_count`, judge each with its check)
spread over `checks.runs_per_tick` runs, executed by a pool of worker processes as the run
queue would (each run loads the code location once and executes its steps in its process, as
a run worker does), then one pass of the `row_count_alerts` sensor over the new check results
(queued to the outbox; no SNS topic, so nothing leaves the machine).

Each table's carried detection state is seeded too, as the checks of the hour before the first
tick leave it: a deployed check resumes from the state its previous tick kept (a tick of tables
without one, a deployment's first, walks each table's whole window: about 15 ms more a table).

The floor is bare Dagster in the same layout: the same runs of multi-assets with the same
partitioned keys and check specs, each yielding a constant row count and a passing check, on a
fresh instance with the same storage. Prints seconds per tick (min/median of --ticks), the
floor, their ratio and peak memory (RSS). Asserts nothing. With --profile, each of the
project's runs also runs under cProfile, and a table says where a tick's run time went:
the code location load, our parts (counting queries, history reads, verdicts, pictures),
Dagster's event-log writes and the rest of Dagster's run (planning, steps, events).

    python benchmarks/scale.py                 # 1,000 tables, 8 weeks, 3 ticks
    python benchmarks/scale.py --tables 200 --ticks 1 --plots all
    python benchmarks/scale.py --instance postgres --ticks 1   # production's storage
    python benchmarks/scale.py --tables 250 --ticks 2 --metrics 250   # cost of metric monitors
    python benchmarks/scale.py --ticks 1 --profile    # where a tick's time goes
    python benchmarks/scale.py --instance postgres --tables 10000 --ticks 2
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import json
import multiprocessing
import os
import pstats
import resource
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ANCHOR = pd.Timestamp("2026-03-02 00:00")  # the first tick's bucket; history ends just before it
STORAGE = {
    "consolidated": (
        "event_log_storage:\n  module: dagster._core.storage.event_log\n"
        "  class: ConsolidatedSqliteEventLogStorage\n  config:\n    base_dir: {home}/history\n"
    ),
    "sharded": "",  # Dagster's default: one SQLite file per run plus an index file
}


def build_warehouse(path: Path, tables: int, weeks: int, ticks: int) -> None:
    import duckdb
    from tqdm import tqdm

    rng = np.random.default_rng(7)
    hours = pd.date_range(
        ANCHOR - pd.Timedelta(weeks=weeks), ANCHOR + pd.Timedelta(hours=ticks), freq="h", inclusive="left"
    )
    daily = 1 + 0.6 * np.sin(2 * np.pi * (hours.hour - 6) / 24)
    weekly = np.where(hours.day_of_week >= 5, 0.55, 1.0)
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE SCHEMA raw")
        for i in tqdm(range(tables), unit="table", desc="warehouse"):
            counts = rng.poisson(rng.uniform(8, 40) * daily * weekly)
            for tick in range(ticks):
                if i % 100 == tick + 1:  # ~1 % of tables have a broken load in each tick's hour
                    counts[-ticks + tick] = counts[-ticks + tick] // 5
            frame = pd.DataFrame({"bucket": hours, "n": counts})
            conn.register("loads", frame)
            conn.execute(f"""CREATE TABLE raw.t{i:04d} AS
                SELECT row_number() OVER () AS id,
                       bucket + to_seconds(CAST(floor(random() * 3600) AS BIGINT)) AS loaded_at
                FROM loads, range(n) ORDER BY loaded_at""")
            conn.unregister("loads")


def write_config(folder: Path, db: Path, batch_size: int, plots: str, metrics: int = 0, runs_per_tick: int = 2) -> Path:
    """The fleet's config; with `metrics`, a metric monitor on each of the first that many tables
    (a filtered count, measured in the same statements as the row counts)."""
    import yaml

    path = folder / "rowcount_monitor.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "warehouses": {"fleet": {"type": "duckdb", "path": str(db)}},
                "schemas": [
                    {
                        "schema": f"{db.stem}.raw",
                        "warehouse": "fleet",
                        "cadence": "hourly",
                        "timestamp_column": "loaded_at",
                    }
                ],
                "metrics": [
                    {
                        "metric": "even_ids",
                        "table": f"{db.stem}.raw.t{i:04d}",
                        "warehouse": "fleet",
                        "expression": "count(*) FILTER (WHERE id % 2 = 0)",
                        "cadence": "hourly",
                        "timestamp_column": "loaded_at",
                    }
                    for i in range(metrics)
                ],
                "alerts": {"outbox": str(folder / "outbox.sqlite")},
                "checks": {"batch_size": batch_size, "runs_per_tick": runs_per_tick, "plots": plots},
            }
        )
    )
    return path


def make_home(folder: Path, storage: str) -> Path:
    """A DAGSTER_HOME whose dagster.yaml has `storage` (an SQLite layout of STORAGE, or a
    dagster-postgres `storage:` block)."""
    home = folder
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: false\n" + STORAGE.get(storage, storage).format(home=home)
    )
    os.environ["DAGSTER_HOME"] = str(home)
    import dagster as dg

    with dg.DagsterInstance.get():  # create the storage once, before workers race to
        pass
    return home


def _peak_mb() -> float:
    """This process's peak RSS. Linux keeps ru_maxrss across exec, so a worker started from a
    large parent would report the parent's peak; the high-water mark of its own address space
    (VmHWM) is the worker's."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- what a run worker does ------------------------------------------------------------------


def _execute(defs, partition: str, keys: list[str]) -> tuple[bool, float]:
    """One run of the tick, as a run worker executes it; success and the process's peak RSS."""
    import dagster as dg

    job = defs.resolve_implicit_global_asset_job_def()
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            instance=instance,
            partition_key=partition,
            raise_on_error=False,
            asset_selection=[dg.AssetKey.from_user_string(k) for k in keys],
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
    return result.success, _peak_mb()


def project_run(home: str, partition: str, keys: list[str], profile_dir: str = "") -> tuple[bool, float]:
    """One of the project's runs; with `profile_dir`, under cProfile, its stats and phase times
    written there."""
    os.environ["DAGSTER_HOME"] = home
    profiler = cProfile.Profile() if profile_dir else None
    t0 = time.perf_counter()
    if profiler:
        profiler.enable()
    from rowcount_monitor.defs import build_definitions

    defs = build_definitions()
    loaded = time.perf_counter()
    result = _execute(defs, partition, keys)
    if profiler:
        profiler.disable()
        name = Path(profile_dir) / f"run-{os.getpid()}"
        profiler.dump_stats(f"{name}.prof")
        phases = {"load": loaded - t0, "run": time.perf_counter() - loaded}
        Path(f"{name}.json").write_text(json.dumps(phases))
    return result


# What a run's time is spent on, from its cProfile stats: (file, functions) whose cumulative
# time is the part's (the largest where several match: an override calling its base).
PROFILE_PARTS = {
    "warehouse counting queries": ("rowcount_monitor/warehouse/duckdb.py", ("_rows",)),
    "history windows read": ("rowcount_monitor/history.py", ("recorded_windows",)),
    "detection states read and kept": ("rowcount_monitor/history.py", ("states", "keep_states")),
    "verdicts (detection)": ("rowcount_monitor/detection/engine.py", ("evaluate_carried", "evaluate_latest")),
    "check pictures": ("rowcount_monitor/defs/checks.py", ("check_picture",)),
    "Dagster event-log writes": ("dagster/_core/storage/event_log/", ("store_event",)),
}


def profile_table(folder: Path, ticks: int) -> list[str]:
    """Seconds per tick in each part of the project's runs (summed over a tick's runs)."""
    phases = [json.loads(f.read_text()) for f in sorted(folder.glob("*.json"))]
    stats = pstats.Stats(*map(str, sorted(folder.glob("*.prof")))).stats
    load = sum(p["load"] for p in phases) / ticks
    run = sum(p["run"] for p in phases) / ticks
    parts = {}
    for part, (where, functions) in PROFILE_PARTS.items():
        times = [ct for (file, _, fn), (_, _, _, ct, _) in stats.items() if where in file and fn in functions]
        parts[part] = (max(times) if where.endswith("/") else sum(times)) if times else 0.0
    total = load + run
    lines = [f"{'code location load (imports, definitions)':48s}{load:8.1f} s  {100 * load / total:5.1f} %"]
    for part, seconds in parts.items():
        lines.append(f"{part:48s}{seconds / ticks:8.1f} s  {100 * seconds / ticks / total:5.1f} %")
    rest = run - sum(parts.values()) / ticks
    lines.append(f"{'rest of the Dagster runs (plan, steps, events)':48s}{rest:8.1f} s  {100 * rest / total:5.1f} %")
    lines.append(f"{'runs of a tick, under cProfile':48s}{total:8.1f} s")
    return lines


def trivial_definitions(batches: dict[str, list[str]], start: str):
    import dagster as dg

    pdef = dg.HourlyPartitionsDefinition(start_date=start)
    assets = []
    for name, keys in batches.items():
        asset_keys = [dg.AssetKey.from_user_string(k) for k in keys]
        # partitioned check specs, as the project's own (a Dagster preview: its warning muted there too)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.PreviewWarning)
            check_specs = [dg.AssetCheckSpec("row_count_anomaly", asset=k, partitions_def=pdef) for k in asset_keys]

        @dg.multi_asset(
            name=name,
            specs=[dg.AssetSpec(k, skippable=True) for k in asset_keys],
            check_specs=check_specs,
            partitions_def=pdef,
            can_subset=True,
        )
        def trivial(context):
            for k in context.selected_asset_keys:
                yield dg.MaterializeResult(asset_key=k, metadata={"dagster/row_count": 1})
            for c in context.selected_asset_check_keys:
                yield dg.AssetCheckResult(asset_key=c.asset_key, check_name=c.name, passed=True)

        assets.append(trivial)
    return dg.Definitions(assets=assets)


def floor_run(
    home: str, partition: str, keys: list[str], batches: dict[str, list[str]], start: str
) -> tuple[bool, float]:
    os.environ["DAGSTER_HOME"] = home
    return _execute(trivial_definitions(batches, start), partition, keys)


# --- the tick ----------------------------------------------------------------------------------


def seed_states(until: pd.Timestamp) -> int:
    """Each table's carried detection state as its check of the bucket before `until` leaves it
    (what every tick after a deployment's first resumes from), through the checks' own path."""
    import dagster as dg

    from rowcount_monitor.catalog import resolve_tables
    from rowcount_monitor.config import config_path, load_config
    from rowcount_monitor.defs.checks import judge_partition
    from rowcount_monitor.feedback import Feedback
    from rowcount_monitor.history import HistoryCache, recorded_windows
    from rowcount_monitor.naming import entry_key

    tables = [f for f in resolve_tables(load_config(config_path())) if f.start is not None]
    partition = (until - pd.Timedelta(hours=1)).strftime("%Y-%m-%d-%H:%M")
    with dg.DagsterInstance.get() as instance:
        cache = HistoryCache.for_instance(instance)
        carried: dict[str, bytes | None] = {}
        for first in range(0, len(tables), 500):
            batch = tables[first : first + 500]
            windows = recorded_windows(instance, batch, partition)
            for f in batch:
                name = entry_key(f.entry).to_user_string()
                judge_partition(instance, f, partition, windows[name], "never", Feedback(), carried=carried)
        cache.keep_states(carried)
    return sum(state is not None for state in carried.values())


def run_requests(defs, when: pd.Timestamp) -> list:
    import dagster as dg

    schedule = next(s for s in defs.schedules if s.name == "hourly_row_counts")
    with dg.build_schedule_context(
        scheduled_execution_time=when.tz_localize("UTC").to_pydatetime(), repository_def=defs.get_repository_def()
    ) as context:
        return list(schedule.evaluate_tick(context).run_requests)


def sensor_pass(home: str) -> tuple[float, str, float]:
    """One evaluation of row_count_alerts, timed inside its process (the daemon evaluates
    sensors in a long-lived code server, so loading the code is not part of a pass)."""
    os.environ["DAGSTER_HOME"] = home
    import dagster as dg

    from rowcount_monitor.alerting.sns import SNSPublisher
    from rowcount_monitor.defs import build_definitions

    defs = build_definitions()
    sensor = next(s for s in defs.sensors if s.name == "row_count_alerts")
    t0 = time.perf_counter()
    with (
        dg.DagsterInstance.get() as instance,
        dg.build_sensor_context(
            instance=instance, definitions=defs, resources={"sns": SNSPublisher(topic_arn="")}
        ) as context,
    ):
        result = sensor(context)
    return time.perf_counter() - t0, getattr(result, "skip_message", str(result)), _peak_mb()


def picture_ms(defs, partition: str, calls: int = 5) -> float:
    """What one check picture costs: a failing check's band over four weeks, drawn as PNG."""
    import dagster as dg

    from rowcount_monitor.catalog import resolve_tables
    from rowcount_monitor.config import config_path, load_config
    from rowcount_monitor.defs.checks import check_picture
    from rowcount_monitor.detection import evaluate_latest
    from rowcount_monitor.feedback import policy_for
    from rowcount_monitor.history import recorded_windows

    facts = resolve_tables(load_config(config_path()))[0]
    with dg.DagsterInstance.get() as instance:
        history = next(iter(recorded_windows(instance, [facts], partition).values()))
    policy = policy_for(facts.entry)
    verdict = evaluate_latest(history, policy)
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        check_picture(facts.entry, policy, history, verdict)
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def tick(ctx, workers: int, worker, home: str, requests: list, extra: tuple = ()) -> tuple[float, list[float]]:
    """The runs of one tick on a fresh pool of worker processes; seconds and each run's peak RSS."""
    t0 = time.perf_counter()
    pool = ctx.Pool(workers, maxtasksperchild=1)  # a fresh process per run, as a run launcher starts
    try:
        results = pool.starmap(
            worker, [(home, r.partition_key, [k.to_user_string() for k in r.asset_selection], *extra) for r in requests]
        )
    finally:
        pool.close()
        pool.join()
    failed = [r for r, (ok, _) in zip(requests, results, strict=True) if not ok]
    if failed:
        raise RuntimeError(f"{len(failed)} run(s) failed, e.g. {failed[0].run_key}")
    return time.perf_counter() - t0, [mb for _, mb in results]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--ticks", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2, help="runs executed side by side (default 2: one per core)")
    parser.add_argument("--batch-size", type=int, default=250, help="tables per counting step (default 250)")
    parser.add_argument(
        "--runs-per-tick", type=int, default=2, help="runs a tick spreads its counting steps over (default 2)"
    )
    parser.add_argument("--plots", choices=["failures", "all", "never"], default="failures")
    parser.add_argument(
        "--metrics", type=int, default=0, help="metric monitors, one on each of the first N tables (default 0)"
    )
    parser.add_argument(
        "--storage",
        choices=sorted(STORAGE),
        default="consolidated",
        help="Dagster's SQLite event log layout (default: one consolidated file)",
    )
    parser.add_argument(
        "--instance",
        choices=["sqlite", "postgres"],
        default="sqlite",
        help="postgres: both instances (and our history cache and outbox) in databases of a "
        "PostgreSQL server started for the run (pgserver), as in production",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also run the project's runs under cProfile and print where a tick's time went "
        "(everything runs slower under it: read the shares)",
    )
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:  # the stack closes first
        tmp = Path(tmp)
        db = tmp / "fleet.duckdb"
        t0 = time.perf_counter()
        build_warehouse(db, args.tables, args.weeks, args.ticks)
        print(f"warehouse: {args.tables} tables x {args.weeks} weeks hourly, {time.perf_counter() - t0:.1f}s")
        config = write_config(tmp, db, args.batch_size, args.plots, args.metrics, args.runs_per_tick)
        os.environ["ROWCOUNT_MONITOR_CONFIG"] = str(config)
        storages = {"home": args.storage, "floor_home": args.storage}
        if args.instance == "postgres":
            import pgserver

            server = pgserver.get_server(tmp / "postgres", cleanup_mode="stop")
            stack.callback(server.cleanup)  # stopped before its folder is removed
            for name in storages:
                server.psql(f"CREATE DATABASE {name};")
                storages[name] = f"storage:\n  postgres:\n    postgres_url: {server.get_uri(name)}\n"
        home = make_home(tmp / "home", storages["home"])
        floor_home = make_home(tmp / "floor_home", storages["floor_home"])
        os.environ["DAGSTER_HOME"] = str(home)
        (tmp / "profile").mkdir()

        from rowcount_monitor.backfill import seed_cache
        from rowcount_monitor.defs import build_definitions, refresh_catalog
        from rowcount_monitor.supervise import in_processes

        t0 = time.perf_counter()
        refresh_catalog()
        print(f"discover: {time.perf_counter() - t0:.1f}s")
        t0 = time.perf_counter()
        defs = build_definitions()
        print(f"code location load (from the catalog): {time.perf_counter() - t0:.2f}s")
        t0 = time.perf_counter()
        seeded = seed_cache(until=ANCHOR)
        print(f"history cache seeded: {seeded:,} buckets in {time.perf_counter() - t0:.1f}s")
        t0 = time.perf_counter()
        states = seed_states(ANCHOR)
        print(f"detection states seeded (the checks of the hour before): {states:,} in {time.perf_counter() - t0:.1f}s")
        batches = {a.node_def.name: sorted(k.to_user_string() for k in a.keys) for a in defs.assets}
        start = next(iter(defs.assets)).partitions_def.start.strftime("%Y-%m-%d-%H:%M")

        ctx = multiprocessing.get_context("spawn")
        ours, floors, sensor_secs, peaks, sensor_peaks = [], [], [], [], []
        for n in range(args.ticks):
            when = ANCHOR + pd.Timedelta(hours=n + 1, minutes=5)
            requests = run_requests(defs, when)
            profiled = (str(tmp / "profile"),) if args.profile else ()
            runs, mb = tick(ctx, args.workers, project_run, str(home), requests, profiled)
            # a process of its own, let go when done (a pool's terminate ends a process that ran
            # Dagster with a KeyboardInterrupt traceback: supervise.in_processes)
            [(sensor, message, sensor_mb)] = in_processes(sensor_pass, [(str(home),)])
            floor, _ = tick(ctx, args.workers, floor_run, str(floor_home), requests, (batches, start))
            ours.append(runs + sensor)
            floors.append(floor)
            sensor_secs.append(sensor)
            peaks.append(max(mb))
            sensor_peaks.append(sensor_mb)
            print(
                f"tick {n + 1}: {len(requests)} runs for bucket {requests[0].partition_key}: "
                f"runs {runs:.1f}s + sensor {sensor:.1f}s = {runs + sensor:.1f}s | floor {floor:.1f}s | "
                f"sensor: {message}",
                flush=True,
            )

        worker_peak = max(peaks)
        picture = picture_ms(defs, requests[0].partition_key)
        print()
        print(
            f"tables                  {args.tables}" + (f" and {args.metrics} metric monitors" if args.metrics else "")
        )
        print(
            f"layout                  {len(batches)} steps of <= {args.batch_size} tables in {len(requests)} runs, "
            f"{args.workers} at a time, "
            f"{'PostgreSQL instance' if args.instance == 'postgres' else args.storage + ' SQLite event log'}, "
            f"plots: {args.plots}"
        )
        print(
            f"seconds per tick        min {min(ours):.1f}  median {statistics.median(ours):.1f}"
            f"   (sensor pass median {statistics.median(sensor_secs):.1f})"
        )
        print(f"bare-Dagster floor      min {min(floors):.1f}  median {statistics.median(floors):.1f}")
        print(f"ratio (median)          {statistics.median(ours) / statistics.median(floors):.2f}")
        print(
            f"check picture           median {picture:.0f} ms each (4 weeks, band, PNG); plots: all would add "
            f"~{args.tables * picture / 1000 / args.workers:.0f}s per tick"
        )
        print(
            f"peak RSS                run worker {worker_peak:,.0f} MB ({args.workers} side by side: "
            f"{args.workers * worker_peak:,.0f} MB), sensor pass {max(sensor_peaks):,.0f} MB"
        )
        if args.profile:
            print("\nwhere a tick's run time went (summed over its runs, which run side by side):")
            print("\n".join(profile_table(tmp / "profile", args.ticks)))


if __name__ == "__main__":
    main()
