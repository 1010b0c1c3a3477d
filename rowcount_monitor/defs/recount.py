"""Late rows: a bucket whose count a later run changed (`recount:`) is judged again.

A check result belongs to its run's partition, so the run that re-counts bucket Q (while
counting its own, newer bucket; counting.py) cannot give Q a new verdict. This sensor reads the
event log for materializations marked RECOUNTED_FROM since its cursor and requests, per counting
batch and bucket, a run of only the checks of the re-counted tables on Q's partition (a job of
the batch's checks, `rejudge_<batch>`, partitioned like it). Such a run counts nothing: it
judges Q from the recorded history, which now holds the new count, and marks the verdict
REJUDGED, so the alert sensor tells the bucket's own news ("recovered" after an alert the late
rows proved wrong) without touching the check's current state.

One run per (batch, bucket, newest recount event): the run key makes a sensor tick that is
evaluated twice request it once, and a count that changes again is judged again.
"""

from __future__ import annotations

import time
from collections import defaultdict

import dagster as dg

from ..dagster_records import materialization_cursor_since, materializations_after
from ..naming import CHECK_NAME
from .counting import RECOUNTED_FROM
from .schedules import QUIET_CONSOLE

# Materialization events one tick reads (1,000 hourly tables record about 1,000 an hour,
# most of them not re-counts); the rest are read on the next tick.
EVENTS_PER_TICK = 5_000
# A sensor turned on (or reset) starts this many seconds back.
FIRST_LOOK_BACK = 86_400


def rejudging(assets: list[dg.AssetsDefinition]) -> tuple[list[dg.UnresolvedAssetJobDefinition], list]:
    """A job per counting batch whose tables re-count (the sensor's runs of it select checks
    only), and the sensor (none of either when no table re-counts)."""
    recounting = [a for a in assets if any(a.metadata_by_key[k].get("recount") for k in a.keys)]
    if not recounting:
        return [], []
    batch_of = {key: a.node_def.name for a in recounting for key in a.keys}
    # a job per batch: a run request naming a partition needs one partitions definition for
    # what its job holds (the batches' definitions differ); its runs select the checks alone
    jobs = [
        dg.define_asset_job(
            f"rejudge_{a.node_def.name}",
            selection=dg.AssetSelection.assets(*a.keys),
            description=f"Judges re-counted buckets of {a.node_def.name} again (its runs select checks only).",
        )
        for a in recounting
    ]

    @dg.sensor(
        name="recounted_buckets",
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.RUNNING,
        jobs=jobs,
        description="Judges again every bucket whose row count a later run re-counted and changed (`recount:`).",
    )
    def recounted_buckets(context: dg.SensorEvaluationContext):
        # without a cursor: from the first materialization of the last day (re-counts made
        # just before the sensor was turned on are judged; a year of history is not read)
        after = (
            int(context.cursor)
            if context.cursor
            else materialization_cursor_since(context.instance, time.time() - FIRST_LOOK_BACK)
        )
        records = materializations_after(context.instance, after, EVENTS_PER_TICK)
        wanted: dict[tuple[str, str], dict[dg.AssetKey, int]] = defaultdict(dict)
        for record in records:
            event = record.asset_materialization
            if event is None or event.asset_key not in batch_of or RECOUNTED_FROM not in event.metadata:
                continue
            wanted[batch_of[event.asset_key], event.partition][event.asset_key] = record.storage_id
        context.update_cursor(str(records[-1].storage_id if records else after))
        for (batch, partition), keys in sorted(wanted.items()):
            yield dg.RunRequest(
                run_key=f"rejudge:{batch}:{partition}:{max(keys.values())}",
                job_name=f"rejudge_{batch}",
                partition_key=partition,
                asset_selection=[],  # the checks alone: nothing is counted
                asset_check_keys=[dg.AssetCheckKey(k, CHECK_NAME) for k in sorted(keys, key=lambda k: k.path)],
                run_config=QUIET_CONSOLE,
                tags={"rowcount_monitor/rejudge": batch},
            )
        if not wanted:
            yield dg.SkipReason(f"read {len(records)} materialization(s), none re-counted")

    return jobs, [recounted_buckets]
