"""A schedule per cadence: materialize the newest complete bucket of every table with it.

Tables that share a partitions definition (same cadence and first load) go in one run, with
the dbt models downstream of them, so a blocking check can hold those models back.
"""
from __future__ import annotations

from collections import defaultdict

import dagster as dg
import pandas as pd

from .cadence import BUCKET_STEP, PARTITION_FORMAT

CRON = {"hourly": "5 * * * *", "daily": "15 0 * * *"}


def cadence_schedules(assets_by_cadence: dict[str, list[dg.AssetsDefinition]],
                      models: list[dg.AssetsDefinition]) -> list[dg.ScheduleDefinition]:
    schedules = []
    for cadence, assets in assets_by_cadence.items():
        if assets:
            schedules.append(_schedule(cadence, assets, downstream_models([a.key for a in assets], models)))
    return schedules


def downstream_models(keys: list[dg.AssetKey], models: list[dg.AssetsDefinition]) -> list[dg.AssetKey]:
    """The models that depend, directly or through other models, on any of `keys`."""
    deps = {key: set(upstream) for a in models for key, upstream in a.asset_deps.items()}
    reached, found = set(keys), set()
    while grown := {k for k, upstream in deps.items() if k not in found and upstream & reached}:
        found |= grown
        reached |= grown
    return sorted(found, key=lambda k: k.path)


def last_complete_bucket(pdef, cadence: str, when) -> str | None:
    """The partition key of the newest bucket that ended at or before `when`."""
    step = BUCKET_STEP[cadence]
    now = pd.Timestamp(when)
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    start = now.floor(step) - step
    if start < pd.Timestamp(pdef.start).tz_convert("UTC"):
        return None
    return start.strftime(PARTITION_FORMAT[cadence])


def _schedule(cadence: str, assets: list[dg.AssetsDefinition], models: list[dg.AssetKey]) -> dg.ScheduleDefinition:
    groups: dict[object, list[dg.AssetKey]] = defaultdict(list)
    for a in assets:
        pdef = a.partitions_def
        groups[pdef].append(a.key)

    @dg.schedule(
        name=f"{cadence}_row_counts",
        cron_schedule=CRON[cadence],
        target=dg.AssetSelection.assets(*[a.key for a in assets], *models),
        description=f"Counts the newest complete {cadence} bucket of every {cadence} table.",
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )
    def _tick(context):
        with_models = models  # the models run once per tick, in the first group's run
        for pdef, keys in groups.items():
            last = last_complete_bucket(pdef, cadence, context.scheduled_execution_time)
            if last is None:
                continue
            yield dg.RunRequest(
                run_key=f"{cadence}:{last}:{keys[0].to_user_string()}",
                partition_key=last,
                asset_selection=keys + with_models,
            )
            with_models = []

    return _tick
