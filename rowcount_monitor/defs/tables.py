"""One asset per monitored table, generated from the config.

Bucket tables are time-partitioned by cadence: materializing a partition counts the rows whose
timestamp falls in that bucket and records it as `dagster/row_count`. A range of partitions
runs as one step and one GROUP BY query (single-run backfill policy) and still records one
materialization per partition: the asset then yields an AssetMaterialization per partition and
no output (output_required=False), so history is never duplicated or blurred into one value.
Without an output the row-count check is skipped in such a range run; the backfill job judges
recent buckets itself (backfill_job.py).

Snapshot tables (no timestamp column) are unpartitioned: each materialization records the
total COUNT(*) and the change since the previous one as `rows_added`.
"""
from __future__ import annotations

import re
import warnings

import dagster as dg
import pandas as pd

from ..warehouse import TableRef
from .cadence import BUCKET_UNIT, PARTITION_FORMAT
from .catalog import TableFacts
from .resources import reader, resource_key



def asset_key(warehouse: str, ref: TableRef) -> dg.AssetKey:
    """[warehouse, schema, table]; characters Dagster does not allow in names become '_'."""
    return dg.AssetKey([_name(p) for p in (warehouse, ref.schema, ref.table)])


def _name(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", part.strip('"'))


def partitions_for(facts: TableFacts) -> dg.TimeWindowPartitionsDefinition | None:
    if facts.start is None:
        return None
    cls = dg.HourlyPartitionsDefinition if facts.entry.cadence == "hourly" else dg.DailyPartitionsDefinition
    return cls(start_date=facts.start.strftime(PARTITION_FORMAT[facts.entry.cadence]))


def _owners(owner: str | None) -> list[str]:
    if not owner:
        return []
    return [owner if "@" in owner else f"team:{re.sub(r'[^A-Za-z0-9_]', '_', owner)}"]


def group_name(schema: str) -> str:
    """The asset group of a table (or dbt model) in `schema`."""
    return re.sub(r"[^A-Za-z0-9_]", "_", schema.lower()) or "default"


def table_asset(facts: TableFacts, warehouse_type: str) -> dg.AssetsDefinition:
    entry = facts.entry
    ref = entry.ref
    key = asset_key(entry.warehouse, ref)
    partitions = partitions_for(facts)
    res_key = resource_key(entry.warehouse)
    mode = entry.mode
    description = (f"Row counts of {ref} ({entry.cadence} loads, counted by {entry.timestamp_column})"
                   if mode == "bucket" else f"Row-count snapshots of {ref} (COUNT(*) each run)")

    def _count(context):
        warehouse = reader(getattr(context.resources, res_key))
        if mode == "bucket":
            yield from _bucket_materializations(context, warehouse, entry, key)
        else:
            yield _snapshot_materialization(context, warehouse, ref, key)

    # backfill_policy is a beta parameter of @asset in Dagster 1.13; the choice is deliberate
    # (see the module docstring), so its warning, repeated once per table on every load, is muted.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)
        return dg.asset(
            key=key,
            group_name=group_name(ref.schema),
            owners=_owners(entry.owner),
            description=description,
            kinds={warehouse_type},
            metadata={
                "dagster/table_name": str(ref),
                "dagster/column_schema": dg.TableSchema(
                    columns=[dg.TableColumn(name, dtype) for name, dtype in facts.columns]),
                "cadence": entry.cadence,
                "count_mode": mode,
            },
            partitions_def=partitions,
            backfill_policy=dg.BackfillPolicy.single_run() if partitions else None,
            required_resource_keys={res_key},
            output_required=False,
        )(_count)


def _bucket_materializations(context, warehouse, entry, key):
    window = context.partition_time_window
    start = pd.Timestamp(window.start).tz_convert("UTC").tz_localize(None)
    end = pd.Timestamp(window.end).tz_convert("UTC").tz_localize(None)
    counts = warehouse.bucket_counts(entry.ref, entry.timestamp_column, BUCKET_UNIT[entry.cadence], start, end)
    fmt = PARTITION_FORMAT[entry.cadence]
    by_key = {bucket.strftime(fmt): n for bucket, n in counts.items()}
    keys = context.partition_keys
    context.log.info(f"counted {sum(by_key.values()):,} rows in {len(keys)} bucket(s) of {entry.ref}")
    if len(keys) == 1:  # a normal run: a real output, so the row-count check runs after it
        yield dg.MaterializeResult(metadata={"dagster/row_count": dg.MetadataValue.int(by_key.get(keys[0], 0))})
        return
    for partition in keys:  # a range (backfill): one materialization per bucket, no output
        yield dg.AssetMaterialization(
            asset_key=key, partition=partition,
            metadata={"dagster/row_count": dg.MetadataValue.int(by_key.get(partition, 0))},
        )


def _snapshot_materialization(context, warehouse, ref, key):
    total = warehouse.total_count(ref)
    previous = context.instance.fetch_materializations(key, limit=1).records
    metadata = {"dagster/row_count": dg.MetadataValue.int(total)}
    if previous:
        before = previous[0].asset_materialization.metadata.get("dagster/row_count")
        if before is not None:
            metadata["rows_added"] = dg.MetadataValue.int(total - int(before.value))
    return dg.MaterializeResult(metadata=metadata)
