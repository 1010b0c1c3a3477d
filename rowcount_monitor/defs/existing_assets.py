"""Row-count anomaly checks on assets a Dagster project already materializes: dbt models
(dagster-dbt's `fetch_row_counts()`), Sling, Fivetran or plain Python assets that record
`dagster/row_count` (or any numeric metadata key). No new asset, no warehouse query: each
check reads the recorded values back from the instance and judges the newest one against them.

How the detector sees such a series:
- a time-window partitioned asset gives one value per partition, at the partition's start
  (a watched key whose partitions are not known here: a daily or hourly key as Dagster writes
  them); the check judges the partition its run materialized (the newest one otherwise);
- any other asset gives one value per bucket of `cadence` (a day, by default), the bucket of
  each materialization's time in UTC; where it ran twice in a bucket the later value counts,
  and a bucket it did not run in is a gap, not a zero (a late run leaves yesterday empty and
  lands today). The detector's weekday and hour-of-day rhythm is that of these buckets.
"""

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pandas as pd

from ..cadence import BUCKET_STEP, PARTITION_FORMAT
from ..detection import DetectionPolicy, Verdict, evaluate_latest
from ..measures import ROW_COUNT
from ..naming import CHECK_NAME
from .checks import verdict_metadata

# What a check records of its asset in its spec's metadata, for the CLI and the metrics endpoint.
OWNER_KEY, CADENCE_KEY = "rowcount_monitor/owner", "rowcount_monitor/cadence"
# Recorded values a check reads back: eight weeks of hourly partitions, years of daily runs.
HISTORY_LIMIT = 24 * 7 * 8

AssetLike = dg.AssetsDefinition | dg.AssetSpec | dg.AssetKey | str


@dataclass(frozen=True)
class WatchedAsset:
    """What the alert sensor needs to know about a watched asset: how alerts name it (`table`:
    its key, `dbt/orders`), who owns it, and the bucket its check judges."""

    table: str
    owner: str | None = None
    cadence: str = "daily"
    timezone: str | None = None
    severity: str | None = None  # (as a counted table's: none configured, the verdict's own)

    @property
    def key(self) -> dg.AssetKey:
        return dg.AssetKey.from_user_string(self.table)

    @classmethod
    def of_check(
        cls, key: dg.AssetCheckKey, metadata: Mapping[str, Any], partitions: dg.PartitionsDefinition | None = None
    ) -> "WatchedAsset":
        """The asset of a row-count check, from what the check's spec records (a check this module
        built), else from its asset's partitions (an hourly or a daily table's)."""
        owner, cadence = metadata.get(OWNER_KEY), metadata.get(CADENCE_KEY)
        hourly = isinstance(partitions, dg.TimeWindowPartitionsDefinition) and "%H" in partitions.fmt
        return cls(
            key.asset_key.to_user_string(),
            getattr(owner, "value", owner) or None,
            getattr(cadence, "value", cadence) or ("hourly" if hourly else "daily"),
        )


def build_row_count_anomaly_checks(
    assets: Sequence[AssetLike],
    policy: DetectionPolicy | None = None,
    metadata_key: str = ROW_COUNT,
    cadence: str = "daily",
    blocking: bool = False,
    owner: str | None = None,
) -> list[dg.AssetChecksDefinition]:
    """A seasonal anomaly check (`row_count_anomaly`) on each of `assets`, judging the value of
    `metadata_key` each materialization records against the asset's own history.

    `policy`: the detection policy (default: the false-alert budget of 0.25 per 1,000 buckets);
    `cadence`: "daily" or "hourly", the bucket of an asset without time partitions;
    `blocking`: a failed check stops the assets downstream in the same run;
    `owner`: who the alerts and the metrics name as the owner (the SNS `owner` attribute).

        defs = dg.Definitions(
            assets=[orders],
            asset_checks=build_row_count_anomaly_checks([orders]),
        )
    """
    if cadence not in BUCKET_STEP:
        raise ValueError(f"cadence must be one of {', '.join(BUCKET_STEP)}, not {cadence!r}")
    policy = policy or DetectionPolicy()
    checks = []
    for asset in assets:
        for key, partitions in _keys(asset):
            about = {CADENCE_KEY: cadence, **({OWNER_KEY: owner} if owner else {})}
            checks.append(_check(key, partitions, policy, metadata_key, BUCKET_STEP[cadence], blocking, about))
    return checks


def _keys(asset: AssetLike) -> list[tuple[dg.AssetKey, dg.PartitionsDefinition | None]]:
    if isinstance(asset, dg.AssetsDefinition):
        return [(key, asset.partitions_def) for key in asset.keys]
    if isinstance(asset, dg.AssetSpec):
        return [(asset.key, asset.partitions_def)]
    return [(dg.AssetKey.from_user_string(asset) if isinstance(asset, str) else asset, None)]


def _check(
    key: dg.AssetKey,
    partitions: dg.PartitionsDefinition | None,
    policy: DetectionPolicy,
    metadata_key: str,
    step: pd.Timedelta,
    blocking: bool,
    about: dict[str, str],
) -> dg.AssetChecksDefinition:
    def row_count_anomaly(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        partition = context.run.tags.get("dagster/partition")
        history = recorded_series(context.instance, key, metadata_key, partitions, step, until=partition)
        if history.empty:
            raise dg.Failure(f"{key.to_user_string()} has no materialization recording {metadata_key}")
        verdict = (
            evaluate_latest(history, policy)
            if len(history) >= 2
            else Verdict.unjudged(float(history.iloc[-1]), "insufficient history (1 value recorded)")
        )
        return dg.AssetCheckResult(
            passed=not verdict.is_anomaly,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata=verdict_metadata(verdict, policy),
            description=verdict.reason,
        )

    # Partitioned as its asset is (time windows), each evaluation names the bucket it judged:
    # the UI's partition status, the alert, the CLI's bucket column. Partitioned checks are a
    # Preview feature of Dagster 1.13, as for the project's own checks (tables.py): muted here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.asset_check(
            asset=key,
            name=CHECK_NAME,
            blocking=blocking,
            metadata=about,
            partitions_def=partitions if isinstance(partitions, dg.TimeWindowPartitionsDefinition) else None,
            description=f"Seasonal anomaly test of `{metadata_key}` against the asset's own history.",
        )(row_count_anomaly)


def recorded_series(
    instance: dg.DagsterInstance,
    key: dg.AssetKey,
    metadata_key: str,
    partitions: dg.PartitionsDefinition | None,
    step: pd.Timedelta,
    until: str | None = None,
) -> pd.Series:
    """The asset's recorded values, one per bucket (the newest materialization of a bucket
    wins), oldest first, up to the partition `until` where one is given."""
    records = instance.fetch_materializations(key, limit=HISTORY_LIMIT).records
    windows = partitions if isinstance(partitions, dg.TimeWindowPartitionsDefinition) else None
    values: dict[pd.Timestamp, float] = {}
    for record in records:  # newest first
        entry = record.asset_materialization.metadata.get(metadata_key) if record.asset_materialization else None
        if entry is None or not isinstance(entry.value, (int, float)):
            continue
        partition = record.partition_key
        if until is not None and partition is not None and partition > until:
            continue
        if windows is not None and partition is not None:
            start = windows.time_window_for_partition_key(partition).start
            bucket = pd.Timestamp(start).tz_convert("UTC").tz_localize(None)
        else:
            bucket = _partition_start(partition) or pd.Timestamp(record.timestamp, unit="s").floor(step)
        values.setdefault(bucket, float(entry.value))
    return pd.Series(values, dtype=float).sort_index()


def _partition_start(partition: str | None) -> pd.Timestamp | None:
    """The start of a daily or hourly partition key written as Dagster writes them, where the
    asset's partitions are not known here (a watched key); None for any other key."""
    for fmt in PARTITION_FORMAT.values():
        try:
            return pd.Timestamp(pd.to_datetime(partition, format=fmt)) if partition else None
        except ValueError:
            continue
    return None
