"""The Dagster definitions, built from rowcount_monitor.yaml and grouped by domain:
table assets (tables.py), their row-count checks (checks.py), the history backfill job (backfill_job.py), schedules (schedules.py),
alert sensors (alert_sensors.py) and warehouse resources (resources.py)."""
from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from ..config import load_config
from .catalog import resolve_tables
from ..alerting.sns import TOPIC_ENV, SNSPublisher
from .alert_sensors import alert_sensors
from .backfill_job import backfill_job
from .checks import table_check
from .resources import warehouse_resources
from .schedules import cadence_schedules
from .tables import table_asset

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "rowcount_monitor.yaml"


def config_path() -> Path:
    """ROWCOUNT_MONITOR_CONFIG, or rowcount_monitor.yaml at the project root."""
    return Path(os.environ.get("ROWCOUNT_MONITOR_CONFIG", DEFAULT_CONFIG))


def build_definitions(path: Path | None = None) -> dg.Definitions:
    config = load_config(path or config_path())
    facts = resolve_tables(config)
    by_cadence: dict[str, list[dg.AssetsDefinition]] = {"hourly": [], "daily": []}
    assets = []
    for f in facts:
        a = table_asset(f, config.warehouses[f.entry.warehouse].type)
        assets.append(a)
        if f.start is not None:
            by_cadence[f.entry.cadence].append(a)
    return dg.Definitions(
        assets=assets,
        asset_checks=[table_check(f) for f in facts],
        jobs=[backfill_job(facts)],
        schedules=cadence_schedules(by_cadence),
        sensors=alert_sensors([f.entry for f in facts], config.alerts),
        resources={**warehouse_resources(config), "sns": SNSPublisher(topic_arn=os.environ.get(TOPIC_ENV, ""))},
    )
