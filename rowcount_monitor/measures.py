"""What a counting step measures per bucket: a table's row count, or a metric monitor's value.

A metric monitor (`metrics:` in the config) is its own asset, [warehouse, schema, table,
metric], below its table's asset: its history, check, alerts, backfill and backtest are the
table's machinery, and the UI shows it beside the table it watches with its own plot of values.
It is measured in the same UNION ALL statements as the row counts of its warehouse and cadence,
and recorded as `value` metadata (not `dagster/row_count`: it is not the asset's row count).
"""

from __future__ import annotations

import dagster as dg

from .config import MetricConfig, TableConfig

VALUE = "value"
ROW_COUNT = "dagster/row_count"


def is_metric(entry: TableConfig) -> bool:
    return isinstance(entry, MetricConfig)


def measured(entry: TableConfig) -> tuple:
    """What the warehouse reader measures: (table, timestamp column[, expression])."""
    return (entry.ref, entry.timestamp_column, *((entry.expression,) if is_metric(entry) else ()))


def value_key(entry: TableConfig) -> str:
    """The materialization metadata that records the entry's value of a bucket."""
    return VALUE if is_metric(entry) else ROW_COUNT


def recorded(entry: TableConfig, value: float) -> dict:
    """Materialization metadata recording one bucket's value."""
    if is_metric(entry):
        return {VALUE: dg.MetadataValue.float(float(value))}
    return {ROW_COUNT: dg.MetadataValue.int(int(value))}


def label(entry: TableConfig) -> str:
    """How alerts name what they are about: the table, or 'table metric' for a metric monitor."""
    return f"{entry.table} {entry.metric}" if is_metric(entry) else entry.table


def described(entry: TableConfig) -> str:
    """'row count of shop.raw.orders', 'invoice_payments (count(*) ...) of shop.raw.payments'."""
    if is_metric(entry):
        return f"{entry.metric} ({entry.expression}) of {entry.table}"
    return f"row count of {entry.table}"
