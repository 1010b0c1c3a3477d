"""The Dagster definitions, built from rowcount_monitor.yaml and grouped by domain: table
assets (tables.py), their row-count checks (checks.py), dbt models (dbt.py), the history
backfill job (backfill_job.py), schedules (schedules.py), alert sensors (alert_sensors.py) and
warehouse resources (resources.py)."""
from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from ..alerting.sns import TOPIC_ENV, SNSPublisher
from ..config import load_config
from .alert_sensors import alert_sensors
from .backfill_job import backfill_job
from .catalog import resolve_tables
from .checks import model_check, table_check
from .dbt import dbt_definitions, dbt_project, model_relations
from .resources import warehouse_resources
from .schedules import cadence_schedules
from .tables import table_asset

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "rowcount_monitor.yaml"


def config_path() -> Path:
    """ROWCOUNT_MONITOR_CONFIG, or rowcount_monitor.yaml at the project root."""
    return Path(os.environ.get("ROWCOUNT_MONITOR_CONFIG", DEFAULT_CONFIG))


def build_definitions(path: Path | None = None) -> dg.Definitions:
    config = load_config(path or config_path())
    project = dbt_project(config) if config.dbt else None
    models = model_relations(project) if project else set()
    model_entries = [e for e in config.tables if e.ref in models]  # checked, but counted by dbt
    facts = resolve_tables(config, skip=frozenset(e.table for e in model_entries))
    dbt = dbt_definitions(config, project, facts) if project else dg.Definitions()
    by_cadence: dict[str, list[dg.AssetsDefinition]] = {"hourly": [], "daily": []}
    assets = []
    for f in facts:
        a = table_asset(f, config.warehouses[f.entry.warehouse].type)
        assets.append(a)
        if f.start is not None:
            by_cadence[f.entry.cadence].append(a)
    return dg.Definitions.merge(dbt, dg.Definitions(
        assets=assets,
        asset_checks=[table_check(f) for f in facts] + [model_check(e) for e in model_entries],
        jobs=[backfill_job(facts)],
        schedules=cadence_schedules(by_cadence, list(dbt.assets or [])),
        sensors=alert_sensors([f.entry for f in facts], config.alerts),
        resources={**warehouse_resources(config), "sns": SNSPublisher(topic_arn=os.environ.get(TOPIC_ENV, ""))},
    ))
