"""A schedule per cadence (and, for daily tables, per time zone): materialize the newest
complete bucket of every table with it.

A tick spreads the counting batches (tables.py) that count the same bucket over at most
`checks.runs_per_tick` runs, each executing its batches one step after another in its own
process (the in-process executor): a run loads the code location once, whatever the number of
its steps, so a tick's cost does not grow with the number of batches, and the run queue can
still execute the runs side by side. A run also carries the dbt models downstream of its
tables, so a blocking check can hold those models back. Daily tables of a time zone have their
own schedule, run at 00:15 of that zone (`daily_row_counts_america_new_york`).
"""

from __future__ import annotations

from collections import defaultdict
from typing import TypeVar

import dagster as dg
import pandas as pd

from ..cadence import BUCKET_STEP, PARTITION_FORMAT, local_zone, zone_suffix
from ..config import parse_duration

T = TypeVar("T")

CRON = {"hourly": "5 * * * *", "daily": "15 0 * * *"}
# A scheduled run prints warnings and errors to the console it runs in (`dagster dev`'s, a
# worker's), not a DEBUG line per event: every event is still in the run's log in the UI.
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
# A scheduled run executes its steps in its own process: with Dagster's default executor each
# step would start a process of its own and load the code location again.
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}


def cadence_schedules(
    assets_by_clock: dict[tuple[str, str], list[dg.AssetsDefinition]],
    models: list[dg.AssetsDefinition],
    runs_per_tick: int,
) -> list[dg.ScheduleDefinition]:
    """One schedule per (cadence, time zone of the partitions) that has counting assets."""
    return [
        _schedule(cadence, zone, assets, models, runs_per_tick)
        for (cadence, zone), assets in assets_by_clock.items()
        if assets
    ]


def spread(batches: list[T], runs: int) -> list[list[T]]:
    """`batches` (at least one) in at most `runs` consecutive runs whose sizes differ by one
    batch at most."""
    runs = min(runs, len(batches))
    size, extra = divmod(len(batches), runs)
    out, first = [], 0
    for n in range(runs):
        last = first + size + (n < extra)
        out.append(batches[first:last])
        first = last
    return out


def downstream_models(keys: list[dg.AssetKey], models: list[dg.AssetsDefinition]) -> list[dg.AssetKey]:
    """The models that depend, directly or through other models, on any of `keys`."""
    deps = {key: set(upstream) for a in models for key, upstream in a.asset_deps.items()}
    reached, found = set(keys), set()
    while grown := {k for k, upstream in deps.items() if k not in found and upstream & reached}:
        found |= grown
        reached |= grown
    return sorted(found, key=lambda k: k.path)


def last_complete_bucket(pdef, cadence: str, when, settle: pd.Timedelta) -> str | None:
    """The partition key of the newest bucket that ended at or before `when` - `settle`."""
    step = BUCKET_STEP[cadence]
    now = pd.Timestamp(when)
    now = (now.tz_localize("UTC") if now.tzinfo is None else now).tz_convert(pdef.timezone or "UTC") - settle
    start = (now.tz_localize(None).floor(step) - step).tz_localize(
        pdef.timezone or "UTC", ambiguous=False, nonexistent="shift_forward"
    )
    if start < pd.Timestamp(pdef.start):
        return None
    return start.strftime(PARTITION_FORMAT[cadence])


def _schedule(
    cadence: str, zone: str, assets: list[dg.AssetsDefinition], models: list[dg.AssetsDefinition], runs_per_tick: int
) -> dg.ScheduleDefinition:
    batches = [(a.node_def.name, a.partitions_def, sorted(a.keys, key=lambda k: k.path), settle_of(a)) for a in assets]
    placed: set[dg.AssetKey] = set()
    models_of = {}
    for name, _, keys, _ in batches:  # every model runs once per tick, with the first batch it depends on
        models_of[name] = [m for m in downstream_models(keys, models) if m not in placed]
        placed |= set(models_of[name])

    local = local_zone(zone) is not None

    @dg.schedule(
        name=f"{cadence}_row_counts{zone_suffix(zone)}",
        cron_schedule=CRON[cadence],
        execution_timezone=zone or "UTC",
        target=dg.AssetSelection.assets(*[k for _, _, keys, _ in batches for k in keys], *placed),
        description=f"Counts the newest complete {cadence} bucket of every {cadence} table"
        + (f" of time zone {zone}" if local else "")
        + " (once its settle time passed).",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    def _tick(context):
        # a run holds one bucket of one partitions definition: its batches' partitions must match
        together = defaultdict(list)
        for name, pdef, keys, settle in batches:
            last = last_complete_bucket(pdef, cadence, context.scheduled_execution_time, settle)
            if last is not None:
                together[(last, pdef)].append((name, keys))
        for (last, _), members in together.items():
            for run in spread(members, runs_per_tick):
                names = [name for name, _ in run]
                yield dg.RunRequest(
                    run_key=f"{cadence}:{last}:" + (names[0] if len(names) == 1 else f"{names[0]}..{names[-1]}"),
                    partition_key=last,
                    asset_selection=[k for name, keys in run for k in keys + models_of[name]],
                    run_config={**QUIET_CONSOLE, **IN_PROCESS},
                )

    return _tick


def settle_of(asset: dg.AssetsDefinition) -> pd.Timedelta:
    """How long after a bucket ends the tables of a counting asset are complete (one value per
    asset: tables are batched by it)."""
    settle = asset.metadata_by_key[next(iter(asset.keys))].get("settle")
    return pd.Timedelta(seconds=parse_duration(settle)) if settle else pd.Timedelta(0)
