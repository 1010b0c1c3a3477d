"""The monitored tables as Dagster assets, generated from the config.

Every table is its own asset (key [warehouse, schema, table], its own group, owners, columns,
partitions and row-count check), but tables are *counted* in batches: one multi-asset step per
`checks.batch_size` tables of a warehouse and cadence, which counts all of them in a few UNION
ALL queries and judges each with its check in the same step (counting.py). One step and one
run per table would spend most of an hourly tick on Dagster's per-step overhead at 1,000
tables, and one step of thousands of tables more still (Dagster's cost per step grows faster
than its outputs: benchmarks/step_size.py); the schedule spreads the steps over a few runs
(schedules.py). The step is subsettable, so materializing one table in the UI still counts one table.
Metric monitors are assets of the same batches, measured in the same statements (rowcount_monitor/measures.py).

Bucket tables are time-partitioned by cadence; the partitions start at the earliest first load
among the tables of the warehouse and cadence (each table's own history still starts at its own
first load). A range of partitions runs as one step (single-run backfill policy) and records one
materialization per partition. Snapshot tables (no timestamp column) are unpartitioned: each
materialization records COUNT(*) and the change since the previous one as `rows_added`.
"""

from __future__ import annotations

import warnings
from collections import defaultdict

import dagster as dg

from ..cadence import PARTITION_FORMAT, label_zone, zone_suffix
from ..catalog import TableFacts
from ..config import ChecksConfig
from ..connections import reader, resource_key
from ..measures import described, is_metric
from ..naming import CHECK_NAME, asset_key, entry_key, group_name, owners
from .counting import count_buckets, count_snapshots


def partitions_for(facts: TableFacts) -> dg.TimeWindowPartitionsDefinition | None:
    """Partitions from the table's own first load (None for snapshot tables)."""
    entry = facts.entry
    return _partitions(entry.cadence, facts.start, label_zone(entry)) if facts.start is not None else None


def _partitions(cadence: str, start, zone: str | None) -> dg.TimeWindowPartitionsDefinition:
    """Hourly partitions are UTC hours; daily ones the days of the table's zone (rowcount_monitor/cadence.py)."""
    if cadence == "hourly":
        return dg.HourlyPartitionsDefinition(start_date=start.strftime(PARTITION_FORMAT[cadence]))
    return dg.DailyPartitionsDefinition(start_date=start.strftime(PARTITION_FORMAT[cadence]), timezone=zone or "UTC")


def table_assets(
    facts: list[TableFacts], warehouse_types: dict[str, str], settings: ChecksConfig
) -> list[dg.AssetsDefinition]:
    """The counting multi-assets: per warehouse, cadence, count mode, settle time, recount and
    clock of the bucket labels (a batch's run counts the same buckets for all its tables),
    `batch_size` tables each."""
    groups: dict[tuple[str, str, str, str, int, str], list[TableFacts]] = defaultdict(list)
    for f in facts:
        e = f.entry
        zone = (label_zone(e) or "") if e.mode == "bucket" else ""
        groups[(e.warehouse, e.cadence, e.mode, _settle(e) or "", _recount(e), zone)].append(f)
    tables = {entry_key(f.entry) for f in facts if not is_metric(f.entry)}  # what a metric's lineage may name
    assets = []
    for (warehouse, cadence, mode, settle, recount, zone), members in sorted(groups.items()):
        members.sort(key=lambda f: entry_key(f.entry).path)
        pdef = _partitions(cadence, min(f.start for f in members), zone or None) if mode == "bucket" else None
        size = settings.batch_size
        for n, first in enumerate(range(0, len(members), size), 1):
            settled = f"_settle_{settle}" if settle else ""
            recounted = f"_recount_{recount}" if recount else ""
            kind = "buckets" if pdef else "snapshots"
            name = f"count_{warehouse}_{cadence}_{kind}{settled}{recounted}{zone_suffix(zone)}_{n}"
            assets.append(
                _counting_asset(
                    name, members[first : first + size], pdef, warehouse_types[warehouse], settings.plots, tables
                )
            )
    return assets


def _settle(entry) -> str | None:
    """The entry's settle time where it applies: a bucket table (a snapshot counts what is there)."""
    return entry.settle if entry.mode == "bucket" else None


def _recount(entry) -> int:
    """Buckets before the newest one the entry re-counts each run (0: none; a snapshot has none)."""
    return entry.recount or 0 if entry.mode == "bucket" else 0


def _spec(facts: TableFacts, warehouse_type: str, tables: set[dg.AssetKey]) -> dg.AssetSpec:
    entry = facts.entry
    ref = entry.ref
    if is_metric(entry):
        description = (
            f"{entry.metric}: {entry.expression} over {ref}, per {entry.cadence} bucket of {entry.timestamp_column}"
        )
    elif entry.mode == "bucket":
        description = f"Row counts of {ref} ({entry.cadence} loads, counted by {entry.timestamp_column})"
    else:
        description = f"Row-count snapshots of {ref} (COUNT(*) each run)"
    table = asset_key(entry.warehouse, ref)
    return dg.AssetSpec(
        key=entry_key(entry),
        deps=[table] if is_metric(entry) and table in tables else [],
        group_name=group_name(ref.schema),
        owners=owners(entry.owner),
        description=description,
        kinds={warehouse_type},
        skippable=True,
        metadata={
            "dagster/table_name": str(ref),
            "dagster/column_schema": dg.TableSchema(columns=[dg.TableColumn(n, t) for n, t in facts.columns]),
            "cadence": entry.cadence,
            "count_mode": "metric" if is_metric(entry) else entry.mode,
            **({"expression": entry.expression} if is_metric(entry) else {}),
            **({"settle": _settle(entry)} if _settle(entry) else {}),
            **({"recount": _recount(entry)} if _recount(entry) else {}),
            **({"timezone": entry.timezone} if entry.timezone and entry.mode == "bucket" else {}),
        },
    )


def _counting_asset(
    name: str, members: list[TableFacts], pdef, warehouse_type: str, plots: str, tables: set[dg.AssetKey]
) -> dg.AssetsDefinition:
    by_key = {entry_key(f.entry): f for f in members}
    res_key = resource_key(members[0].entry.warehouse)

    def _count(context):
        tables = [by_key[k] for k in by_key if k in context.selected_asset_keys]
        checked = [by_key[c.asset_key] for c in context.selected_asset_check_keys]
        warehouse = reader(getattr(context.resources, res_key))
        if pdef is not None:
            yield from count_buckets(context, warehouse, tables, checked, plots)
        else:
            yield from count_snapshots(context, warehouse, tables, checked, plots)

    # Partitioned check specs are a preview and backfill_policy a beta parameter in Dagster
    # 1.13; both are exactly what this needs, so their warnings (once per batch) are muted.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.PreviewWarning)
        warnings.simplefilter("ignore", dg.BetaWarning)
        check_specs = [
            dg.AssetCheckSpec(
                CHECK_NAME,
                asset=key,
                partitions_def=pdef,
                description=(
                    f"Is the newest {f.entry.cadence} {described(f.entry)} normal for its hour, "
                    "weekday and trend? Judged against its own recorded history."
                ),
            )
            for key, f in by_key.items()
        ]
        return dg.multi_asset(
            name=name,
            specs=[_spec(f, warehouse_type, tables) for f in members],
            check_specs=check_specs,
            partitions_def=pdef,
            backfill_policy=dg.BackfillPolicy.single_run() if pdef else None,
            can_subset=True,
            required_resource_keys={res_key},
            description=f"Counts {len(members)} table(s) and metric(s) in one query batch and judges each with its check.",
        )(_count)
