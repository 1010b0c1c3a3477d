"""What the code location needs to know about each monitored table when it loads: its columns
and first load. A missing table is a ConfigError naming the file and entry.

Finding them takes a few queries per table. `rowcount-monitor discover` stores the result in a
catalog file beside the config (rowcount_monitor.catalog.json); while that file matches the
config it was made from, the code location loads from it without a single warehouse query, so
hundreds of tables load fast and a UI reload costs the warehouse nothing. New tables in a
schema appear after the next `discover`."""

from __future__ import annotations

import fnmatch
import hashlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .cadence import BUCKET_STEP, label_zone, on_clock
from .config import ConfigError, MetricConfig, MonitorConfig, TableConfig, WarehouseError
from .connections import reader, resource_key, warehouse_resources
from .naming import entry_key
from .warehouse import TableRef

log = logging.getLogger("rowcount_monitor")


@dataclass(frozen=True)
class TableFacts:
    entry: TableConfig
    columns: list[tuple[str, str]]
    start: pd.Timestamp | None  # first partition; None for snapshot tables


def cadence_floor(ts: pd.Timestamp, cadence: str) -> pd.Timestamp:
    return ts.floor(BUCKET_STEP[cadence])


def discovered_entries(config: MonitorConfig, warehouses: dict) -> list[tuple[str, TableConfig, list]]:
    """Table entries for every table that a schema entry matches (explicit entries win), each
    with the columns that were read to decide its count mode."""
    listed = {entry.table for entry in config.tables}
    found = []
    for i, schema in enumerate(config.schemas):
        where = f"{config.source}: schemas[{i}] ({schema.schema_name})"
        warehouse = warehouses[schema.warehouse]
        database, name = schema.schema_name.split(".")
        stored = [
            t
            for t in warehouse.list_tables(database, name)
            if _matches(t, schema.include) and not _matches(t, schema.exclude)
        ]
        if not stored:
            raise ConfigError(
                f"{where}, field 'include': no table in {schema.schema_name} matches "
                f"{schema.include} (minus {schema.exclude})"
            )
        columns_of = warehouse.schema_columns(database, name)  # one query for the whole schema
        for table_name in stored:
            table = warehouse.config_name(table_name)
            if f"{schema.schema_name}.{table}" in listed:
                continue
            columns = columns_of.get(table_name) or warehouse.column_schema(TableRef(database, name, table))
            has_ts = any(warehouse.same_identifier(schema.timestamp_column or "", c) for c, _ in columns)
            found.append((f"{where}, table {table}", schema.table_entry(table, has_ts), columns))
    return found


def _matches(name: str, patterns: list[str]) -> bool:
    """Glob match, ignoring case (Snowflake stores unquoted names upper-cased)."""
    return any(fnmatch.fnmatch(name.lower(), p.lower()) for p in patterns)


def catalog_file(config: MonitorConfig) -> Path:
    return config.source.with_name(config.source.stem + ".catalog.json")


def _fingerprint(config: MonitorConfig) -> str:
    return hashlib.sha256(config.source.read_bytes()).hexdigest()


def write_catalog(config: MonitorConfig, facts: list[TableFacts]) -> Path:
    path = catalog_file(config)
    tables = [
        {
            "entry": f.entry.model_dump(mode="json", by_alias=True),
            "columns": f.columns,
            "start": f.start.isoformat() if f.start is not None else None,
        }
        for f in facts
    ]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"config_sha256": _fingerprint(config), "tables": tables}, indent=1))
    os.replace(tmp, path)
    return path


def read_catalog(config: MonitorConfig) -> list[TableFacts] | None:
    """The stored facts, or None when there is no catalog or the config changed since."""
    path = catalog_file(config)
    if not path.exists():
        return None
    stored = json.loads(path.read_text())
    if stored.get("config_sha256") != _fingerprint(config):
        return None
    return [
        TableFacts(
            (MetricConfig if "metric" in t["entry"] else TableConfig)(**t["entry"]),
            [tuple(c) for c in t["columns"]],
            pd.Timestamp(t["start"]) if t["start"] else None,
        )
        for t in stored["tables"]
    ]


def resolve_tables(config: MonitorConfig, skip: frozenset[str] = frozenset()) -> list[TableFacts]:
    """Facts for every table entry and every table the schema entries find, except `skip`
    (tables that another asset, a dbt model, materializes): from the catalog file if it is
    current, else from the warehouse."""
    cached = read_catalog(config)
    if cached is not None:
        return [f for f in cached if isinstance(f.entry, MetricConfig) or f.entry.table not in skip]
    return discover(config, skip)


def discover(config: MonitorConfig, skip: frozenset[str] = frozenset()) -> list[TableFacts]:
    """Facts for the configured tables, asked of the warehouse. A warehouse that refuses
    (bad credentials, no network) is a WarehouseError carrying the warehouse's own message."""
    try:
        return _discover(config, skip)
    except (ConfigError, LookupError):
        raise
    except Exception as exc:  # the driver's own error types differ per warehouse
        names = ", ".join(sorted(config.warehouses))
        raise WarehouseError(f"{config.source}: warehouse {names} failed while loading: {exc}") from exc


def _discover(config: MonitorConfig, skip: frozenset[str]) -> list[TableFacts]:
    # outside a run, EnvVar fields (Snowflake credentials) resolve only when initialized
    resources = warehouse_resources(config)
    warehouses = {
        name: reader(resources[resource_key(name)].process_config_and_initialize()) for name in config.warehouses
    }
    entries = [
        (f"{config.source}: tables[{i}] ({e.table})", e, None)
        for i, e in enumerate(config.tables)
        if e.table not in skip
    ] + [(f"{config.source}: metrics[{i}] ({e.metric})", e, None) for i, e in enumerate(config.metrics)]
    described, keys = [], {}
    for where, entry, columns in entries + discovered_entries(config, warehouses):
        warehouse = warehouses[entry.warehouse]
        listed = columns is None  # an entry of `tables:`, not a table a schema entry found
        try:
            columns = columns or warehouse.column_schema(entry.ref)
        except LookupError as exc:
            raise ConfigError(f"{where}, field 'table': {exc}") from None
        # an entry of `tables:` that cannot work is a config error; a table a schema entry found
        # is skipped with a warning, and the others load (a new table must not stop them all)
        problem, field = _unusable(entry, columns, warehouse), "timestamp_column"
        if problem is None and (problem := _unmeasurable(entry, warehouse)):
            field = "expression"
        key = entry_key(entry)
        if problem is None and key in keys:
            problem = (
                f"its asset key {key.to_user_string()} is already {keys[key]}'s (Dagster names "
                "allow only letters, digits and '_')"
            )
            if listed:
                raise ConfigError(f"{where}: {problem}: monitor one of the two")
        if problem:
            if listed:
                raise ConfigError(f"{where}, field '{field}': {problem}")
            log.warning(f"{where}: not monitored: {problem}")
            continue
        keys[key] = where
        described.append((where, entry, columns, listed))
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    firsts = _first_loads(
        warehouses, [entry for _, entry, _, _ in described], config.checks.max_history_days.model_dump(), now
    )
    facts = []
    for (where, entry, columns, listed), (first, older) in zip(described, firsts, strict=True):
        start = None
        reach = getattr(config.checks.max_history_days, entry.cadence)
        if entry.mode == "bucket" and entry.start and pd.Timestamp(entry.start) < now - pd.Timedelta(days=reach):
            raise ConfigError(
                f"{where}, field 'start': {entry.start:%Y-%m-%d} is more than {reach} days back "
                f"(checks.max_history_days.{entry.cadence}): start later, or raise that limit"
            )
        if entry.mode == "bucket":
            if first is None:
                depth = f"checks.max_history_days.{entry.cadence}"
                problem = (
                    f"all {older:,} row(s) are older than {depth} days: give a start date or a larger {depth}"
                    if older
                    else "the table is empty: give a start date"
                )
                if listed:
                    raise ConfigError(f"{where}, field 'start': {problem}")
                # a table a schema entry found is taken up once it has rows of its own
                log.warning(f"{where}: not monitored yet: {problem}")
                continue
            # a configured start is a bucket label already; a first row's time is UTC
            start = cadence_floor(first if entry.start else on_clock(first, label_zone(entry)), entry.cadence)
        facts.append(TableFacts(entry, columns, start))
    return facts


def _unusable(entry: TableConfig, columns: list, warehouse) -> str | None:
    """Why a bucket table cannot be counted by its timestamp column, or None: no such column,
    or one of a type that is not a point in time (a BIGINT epoch, a VARCHAR)."""
    if entry.mode != "bucket":
        return None
    found = [kind for name, kind in columns if warehouse.same_identifier(entry.timestamp_column, name)]
    if not found:
        return f"no column {entry.timestamp_column!r} in {entry.table}"
    kind = str(found[0]).upper()
    if not (kind.startswith(("TIMESTAMP", "DATETIME")) or kind == "DATE"):
        return (
            f"column {entry.timestamp_column!r} of {entry.table} is {found[0]}, not a TIMESTAMP or DATE: "
            "convert it in a view, or count the table as a whole (count_mode: snapshot)"
        )
    return None


def _unmeasurable(entry: TableConfig, warehouse) -> str | None:
    """Why a metric's expression cannot be measured on its table (the warehouse's own words:
    a syntax error, an unknown column), or None; asked over an empty range of time."""
    if not isinstance(entry, MetricConfig):
        return None
    nothing = pd.Timestamp("2000-01-01")
    try:
        warehouse.bucket_counts_many([(entry.ref, entry.timestamp_column, entry.expression)], "day", nothing, nothing)
    except Exception as exc:  # noqa: BLE001 - each driver has its own error types; its message is the point
        return f"{entry.expression!r} does not run on {entry.table}: {str(exc).strip().splitlines()[0]}"
    return None


def _first_loads(
    warehouses: dict, entries: list[TableConfig], depth: dict[str, int], now: pd.Timestamp
) -> list[tuple[pd.Timestamp | None, int]]:
    """Each bucket table's configured start, else its earliest timestamp within the history
    depth of its cadence (asked of each warehouse in a few batched queries), with how many
    rows are older than that depth; None for snapshot tables. Rows older than that (a 1970 or
    year-1 default, -infinity) are ignored with a warning naming the table: one junk row must
    not stretch the partitions over decades."""
    firsts: list[tuple[pd.Timestamp | None, int]] = [(pd.Timestamp(e.start) if e.start else None, 0) for e in entries]
    for name, warehouse in warehouses.items():
        todo = [i for i, e in enumerate(entries) if e.warehouse == name and e.mode == "bucket" and not e.start]
        bounds = [(now - pd.Timedelta(days=depth[entries[i].cadence])).floor("D") for i in todo]
        found = warehouse.first_timestamps([(entries[i].ref, entries[i].timestamp_column) for i in todo], bounds)
        for i, bound, (first, before) in zip(todo, bounds, found, strict=True):
            firsts[i] = (first, before)
            if before and first is not None:
                log.warning(
                    f"{entries[i].table}: {before:,} row(s) with {entries[i].timestamp_column} before "
                    f"{bound:%Y-%m-%d} (checks.max_history_days.{entries[i].cadence}) are ignored"
                )
    return firsts
