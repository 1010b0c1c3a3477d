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

The watched assets' failed checks go to SNS through the config's `alerts:`, or without a config
through the component's own `alerts:` and `owner:`.
"""

import os
from typing import Any

import dagster as dg
from pydantic import Field

from .alerting.sns import TOPIC_ENV, SNSPublisher
from .config import CONFIG_ENV, ConfigError, alerts_from_mapping, config_from_mapping, load_config
from .defs import build_definitions
from .defs.alert_sensors import sensor_definitions
from .defs.existing_assets import WatchedAsset, build_row_count_anomaly_checks
from .measures import ROW_COUNT


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
    owner: str | None = Field(default=None, description="The owner alerts about the watched assets name (SNS `owner`).")
    alerts: dict[str, Any] | None = Field(
        default=None,
        description="Where the watched assets' failed checks go, when there is no `config` (whose `alerts:` it is "
        "otherwise): the keys of rowcount_monitor.yaml's alerts (notify, ui_base_url, max_attempts, outbox, ...).",
    )

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        here, source = context.path, context.path / "defs.yaml"
        if self.config is not None and self.config_file is not None:
            raise ConfigError(f"{source}: give either 'config' or 'config_file', not both")
        watched = [WatchedAsset(key, self.owner, self.cadence) for key in self.watch]
        parts = []
        if self.watch:
            try:
                checks = build_row_count_anomaly_checks(
                    self.watch, metadata_key=self.metadata_key, cadence=self.cadence
                )
            except ValueError as exc:  # the cadence
                raise ConfigError(f"{source}: field 'cadence': {exc}") from None
            parts.append(dg.Definitions(asset_checks=checks))
        config = None
        if self.config is not None:
            config = config_from_mapping(self.config, source)
        elif self.config_file is not None:
            config = load_config(here / self.config_file)
        elif not self.watch:  # no attributes: the project's rowcount_monitor.yaml
            config = load_config(os.environ.get(CONFIG_ENV) or context.project_root / "rowcount_monitor.yaml")
        if config is not None:
            if self.alerts is not None:
                raise ConfigError(f"{source}: field 'alerts': give it inside the config, under 'alerts:'")
            parts.append(build_definitions(config=config, watched=watched))
        else:  # watched assets only: their alert sensor here
            sns = SNSPublisher(topic_arn=os.environ.get(TOPIC_ENV, ""))
            sensors = sensor_definitions(watched, alerts_from_mapping(self.alerts or {}, source))
            parts.append(dg.Definitions(sensors=sensors, resources={"sns": sns}))
        return dg.Definitions.merge(*parts)
