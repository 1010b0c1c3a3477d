"""The Dagster definitions, built from rowcount_monitor.yaml and grouped by domain: table
assets (tables.py), their row-count checks (checks.py), dbt models (dbt.py), the history
backfill job (backfill_job.py), schedules (schedules.py), alert sensors (alert_sensors.py), the
sensor that judges re-counted buckets again (recount.py); the warehouse resources come from
connections.py."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import dagster as dg

from ..alerting.sns import TOPIC_ENV, SNSPublisher
from ..catalog import discover, resolve_tables, write_catalog
from ..config import MonitorConfig, config_path, load_config
from ..connections import warehouse_resources
from ..measures import is_metric
from .alert_sensors import sensor_definitions
from .backfill_job import backfill_job
from .checks import model_check
from .existing_assets import WatchedAsset
from .recount import rejudging
from .schedules import cadence_schedules
from .tables import table_assets


def resolve_model_entries(config) -> list:
    """The config's entries for tables that dbt models fill (checked, not counted by us)."""
    return _dbt_and_model_entries(config)[1]


def _dbt_and_model_entries(config):
    """The dbt project (if any) and the config's entries for tables that dbt models fill:
    those are checked, but counted by dbt, not by a counting asset. (dagster-dbt is imported
    only for a config with dbt: it costs every run worker a second otherwise.)"""
    if not config.dbt:
        return None, []
    from .dbt import dbt_project, model_relations

    project = dbt_project(config)
    models = model_relations(project) if project else set()
    return project, [e for e in config.tables if e.ref in models]


def refresh_catalog(path: Path | None = None) -> tuple[int, int, Path]:
    """Ask the warehouse about every configured table and store the answer (see rowcount_monitor/catalog.py);
    returns (tables, metric monitors on them, the catalog's path)."""
    config = load_config(path or config_path())
    _, model_entries = _dbt_and_model_entries(config)
    facts = discover(config, skip=frozenset(e.table for e in model_entries))
    metrics = sum(is_metric(f.entry) for f in facts)
    return len(facts) - metrics, metrics, write_catalog(config, facts)


def _resolved(path: Path | None, config: MonitorConfig | None = None):
    """(config, dbt project or None, facts of the counted tables, entries of the dbt-filled ones)."""
    config = config or load_config(path or config_path())
    project, model_entries = _dbt_and_model_entries(config)
    facts = resolve_tables(config, skip=frozenset(e.table for e in model_entries))
    return config, project, facts, model_entries


def monitored_entries(path: Path | None = None) -> list:
    """Every table whose row-count check the code location defines: counted tables (schema
    globs expanded, as the catalog knows them) and tables that dbt models fill."""
    _, _, facts, model_entries = _resolved(path)
    return [f.entry for f in facts] + model_entries


def build_definitions(
    path: Path | None = None, config: MonitorConfig | None = None, watched: Sequence[WatchedAsset] = ()
) -> dg.Definitions:
    """The code location of the config at `path` (default: config_path()), or of `config`; the
    alert sensor also forwards the checks of `watched` assets (build_row_count_anomaly_checks)."""
    config, project, facts, model_entries = _resolved(path, config)
    if project:
        from .dbt import dbt_definitions

        dbt = dbt_definitions(config, project, facts)
    else:
        dbt = dg.Definitions()
    assets = table_assets(facts, {name: wh.type for name, wh in config.warehouses.items()}, config.checks)
    by_clock: dict[tuple[str, str], list[dg.AssetsDefinition]] = {("hourly", "UTC"): [], ("daily", "UTC"): []}
    for a in assets:
        if a.partitions_def is not None:
            cadence = a.metadata_by_key[next(iter(a.keys))]["cadence"]
            by_clock.setdefault((cadence, a.partitions_def.timezone), []).append(a)
    rejudge_jobs, rejudge_sensors = rejudging(assets)
    return dg.Definitions.merge(
        dbt,
        dg.Definitions(
            assets=assets,
            asset_checks=[model_check(e) for e in model_entries],
            jobs=[backfill_job(facts, config.checks.plots), *rejudge_jobs],
            schedules=cadence_schedules(by_clock, list(dbt.assets or []), config.checks.runs_per_tick),
            sensors=[
                *sensor_definitions([f.entry for f in facts] + model_entries + list(watched), config.alerts),
                *rejudge_sensors,
            ],
            resources={**warehouse_resources(config), "sns": SNSPublisher(topic_arn=os.environ.get(TOPIC_ENV, ""))},
        ),
    )
