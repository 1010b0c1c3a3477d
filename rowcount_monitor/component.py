"""The dg component: rowcount-monitor added to a Dagster project by a `defs.yaml`.

    dg scaffold defs rowcount_monitor.RowCountMonitor monitors

then, in `defs/monitors/defs.yaml`, either the tables to count (the same keys as
rowcount_monitor.yaml, under `config:`, or a file of them under `config_file:`; with no
attributes at all, ROWCOUNT_MONITOR_CONFIG or rowcount_monitor.yaml at the project root), or
the assets the project already materializes whose recorded row counts to judge (`watch:`: asset
keys or Dagster asset selections), or both:

    type: rowcount_monitor.RowCountMonitor
    attributes:
      watch: ["tag:monitored", "key:dbt/* or group:marts"]

A selection is resolved against the definitions of the rest of the project's defs folder (every
component and module but this one, built as Dagster builds them); a plain key it does not find
there is taken as it is (an asset of another code location).

The watched assets' failed checks go to SNS through the config's `alerts:`, or without a config
through the component's own `alerts:` and `owner:`.
"""

import os
import re
from collections.abc import Iterator
from pathlib import Path
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
        description="Assets the project already has whose recorded row counts to judge: asset keys (`dbt/orders`) "
        "or Dagster asset selections (`tag:monitored`, `key:dbt/* or group:marts`) over the rest of the project.",
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
        targets = _selected(context, self.watch, source) if self.watch else []
        watched = [WatchedAsset(spec.key.to_user_string(), self.owner, self.cadence) for spec in targets]
        parts = []
        if targets:
            try:
                checks = build_row_count_anomaly_checks(
                    targets, metadata_key=self.metadata_key, cadence=self.cadence, owner=self.owner
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


# a `watch` entry that names one asset key (`dbt/orders`), as opposed to a selection
_PLAIN_KEY = re.compile(r"[\w.-]+(/[\w.-]+)*")


def _selected(context: dg.ComponentLoadContext, watch: list[str], source: Path) -> list[dg.AssetSpec]:
    """The assets `watch` names, each once, with its partitions where the project defines it.
    Plain keys alone need no other definitions built (a key of another code location); any
    selection is resolved against the rest of the project."""
    if all(_PLAIN_KEY.fullmatch(entry) for entry in watch):
        return [dg.AssetSpec(dg.AssetKey.from_user_string(entry)) for entry in dict.fromkeys(watch)]
    graph = dg.Definitions.merge(*(context.build_defs(loc) for loc in _other_defs(context))).resolve_asset_graph()
    keys: dict[dg.AssetKey, None] = {}
    for entry in watch:
        try:
            found = dg.AssetSelection.from_string(entry).resolve(graph, allow_missing=True)
        except Exception as exc:  # the selection grammar's own error, whatever its type
            raise ConfigError(
                f"{source}: field 'watch': {entry!r} is neither an asset key nor a selection: {exc}"
            ) from None
        if not found and not _PLAIN_KEY.fullmatch(entry):
            raise ConfigError(f"{source}: field 'watch': {entry!r} selects no asset of this project")
        keys.update(dict.fromkeys(sorted(found) or [dg.AssetKey.from_user_string(entry)]))
    return [dg.AssetSpec(key, partitions_def=graph.get(key).partitions_def if graph.has(key) else None) for key in keys]


def _other_defs(context: dg.ComponentLoadContext) -> Iterator[Path]:
    """The defs folder's components and modules other than this one (and those holding it)."""
    here = context.path.resolve()

    def walk(folder: Path) -> Iterator[Path]:
        for child in sorted(folder.iterdir()):
            if child.name.startswith(("_", ".")) or child.resolve() == here:
                continue
            if child.is_dir() and here.is_relative_to(child.resolve()):
                yield from walk(child)
            elif child.is_dir() or child.suffix == ".py":
                yield child

    return walk(context.defs_module_path)
