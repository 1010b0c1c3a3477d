"""The Dagster definitions, built from rowcount_monitor.yaml and grouped by domain:
table assets (tables.py), the history backfill job (history.py), schedules (schedules.py)
and warehouse resources (resources.py)."""
from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from ..config import load_config
from .catalog import resolve_tables
from .history import backfill_job
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
        jobs=[backfill_job(facts)],
        schedules=cadence_schedules(by_cadence),
        resources=warehouse_resources(config),
    )
