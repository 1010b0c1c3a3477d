"""What the code location needs to know about each monitored table when it loads: its columns
and first load. A missing table is a ConfigError naming the file and entry."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..config import ConfigError, MonitorConfig, TableConfig
from .resources import reader, warehouse_resources, resource_key


@dataclass(frozen=True)
class TableFacts:
    entry: TableConfig
    columns: list[tuple[str, str]]
    start: pd.Timestamp | None  # first partition; None for snapshot tables


def cadence_floor(ts: pd.Timestamp, cadence: str) -> pd.Timestamp:
    return ts.floor("h" if cadence == "hourly" else "D")


def resolve_tables(config: MonitorConfig) -> list[TableFacts]:
    resources = warehouse_resources(config)
    facts = []
    for i, entry in enumerate(config.tables):
        where = f"{config.source}: tables[{i}] ({entry.table})"
        warehouse = reader(resources[resource_key(entry.warehouse)])
        try:
            columns = warehouse.column_schema(entry.ref)
        except LookupError as exc:
            raise ConfigError(f"{where}, field 'table': {exc}") from None
        start = None
        if entry.mode == "bucket":
            if entry.timestamp_column not in {name for name, _ in columns}:
                raise ConfigError(f"{where}, field 'timestamp_column': no column "
                                  f"{entry.timestamp_column!r} in {entry.table}")
            first = (pd.Timestamp(entry.start) if entry.start
                     else warehouse.first_timestamp(entry.ref, entry.timestamp_column))
            if first is None:
                raise ConfigError(f"{where}, field 'start': the table is empty; give a start date")
            start = cadence_floor(first, entry.cadence)
        facts.append(TableFacts(entry, columns, start))
    return facts
