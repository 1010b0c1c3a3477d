"""The dg component: rowcount-monitor added to a Dagster project by a `defs.yaml`.

    dg scaffold defs rowcount_monitor.RowCountMonitor monitors

then, in `defs/monitors/defs.yaml`, either the tables to count (the same keys as
rowcount_monitor.yaml, under `config:`, or a file of them under `config_file:`; with no
attributes at all, ROWCOUNT_MONITOR_CONFIG or rowcount_monitor.yaml at the project root), or
the assets the project already materializes whose recorded row counts to judge (`watch:`), or
both:

    type: rowcount_monitor.RowCountMonitor
    attributes:
      watch: ["dbt/orders", "dbt/customers"]
"""

import os
from typing import Any

import dagster as dg
from pydantic import Field

from .config import CONFIG_ENV, ConfigError, config_from_mapping, load_config
from .defs import build_definitions
from .defs.existing_assets import CADENCES, ROW_COUNT, build_row_count_anomaly_checks


class RowCountMonitor(dg.Component, dg.Model, dg.Resolvable):
    """Seasonal row-count anomaly checks on your tables and assets.

    On warehouse tables this component counts itself (`config` or `config_file`: the schema of
    rowcount_monitor.yaml), and on assets the project already materializes, judged on the row
    counts they record (`watch`)."""

    config: dict[str, Any] | None = Field(
        default=None,
        description="Tables and metrics to count and check, alerts and policies: the keys of rowcount_monitor.yaml "
        "(warehouses, tables, schemas, metrics, alerts, checks, dbt, holidays, timezone). "
        "Relative paths are relative to this folder.",
    )
    config_file: str | None = Field(
        default=None, description="A rowcount_monitor.yaml to read instead of `config`, relative to this folder."
    )
    watch: list[str] = Field(
        default_factory=list,
        description="Keys of assets the project already has (`dbt/orders`) whose recorded row counts to judge.",
    )
    metadata_key: str = Field(default=ROW_COUNT, description="The numeric metadata the watched assets record.")
    cadence: str = Field(
        default="daily", description="The bucket of a watched asset without time partitions: daily or hourly."
    )

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        here = context.path
        if self.config is not None and self.config_file is not None:
            raise ConfigError(f"{here / 'defs.yaml'}: give either 'config' or 'config_file', not both")
        if self.cadence not in CADENCES:
            raise ConfigError(
                f"{here / 'defs.yaml'}: field 'cadence': one of {', '.join(CADENCES)}, not {self.cadence!r}"
            )
        parts = []
        if self.config is not None:
            parts.append(build_definitions(config=config_from_mapping(self.config, here / "defs.yaml")))
        elif self.config_file is not None:
            parts.append(build_definitions(config=load_config(here / self.config_file)))
        elif not self.watch:  # no attributes: the project's rowcount_monitor.yaml
            default = context.project_root / "rowcount_monitor.yaml"
            parts.append(build_definitions(config=load_config(os.environ.get(CONFIG_ENV) or default)))
        if self.watch:
            checks = build_row_count_anomaly_checks(self.watch, metadata_key=self.metadata_key, cadence=self.cadence)
            parts.append(dg.Definitions(asset_checks=checks))
        return dg.Definitions.merge(*parts)
