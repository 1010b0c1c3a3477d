"""The dbt project's models as Dagster assets, downstream of the monitored raw tables.

Each dbt source is mapped to the raw table's own asset key, so the lineage reads raw table ->
staging -> mart with no duplicate nodes. `dbt build` runs the models and dbt's tests (which
dagster-dbt turns into asset checks); each table or incremental model's `dagster/row_count`
is counted afterwards with the project's own warehouse reader (views are not counted: that
would scan their sources). dagster-dbt's fetch_row_counts is not used because it leaves a
DuckDB connection open in the run's process, which then refuses our own connections.

Blocking: when a raw table configured `blocking: true` is counted in the same run and its
row-count check fails, the models downstream of it are excluded from `dbt build` (and so not
materialized) while every other model runs. The verdict is the check's own (`judge_partition`
on the same recorded history), so it does not matter which of the two steps runs first.

The manifest is parsed when the code location loads if it is missing (development); a
production image runs `dbt parse` at build time instead (see docs/production.md).
"""

import contextlib
import io
import json
import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, DbtProject, dbt_assets

from ..catalog import TableFacts
from ..config import MonitorConfig, relative_to_config, warehouse_path
from ..connections import reader, resource_key
from ..measures import ROW_COUNT
from ..naming import DBT_ASSETS, asset_key, group_name
from ..warehouse import TableRef
from .checks import judge_partition

PARTITION_TAG = "dagster/partition"

DUCKDB_PATH_ENV = "ROWCOUNT_MONITOR_DUCKDB_PATH"  # read by dbt_project/profiles.yml


class LinesTo(io.TextIOBase):
    """A text stream that hands each whole, non-blank line written to it to `emit`."""

    def __init__(self, emit: Callable[[str], object]):
        self.emit, self.pending = emit, ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            if line.strip():
                self.emit(line)
        return len(text)


class WarehouseTranslator(DagsterDbtTranslator):
    """Keys dbt nodes like monitored tables: [warehouse, schema, name]."""

    def __init__(self, warehouse: str):
        super().__init__()
        self.warehouse = warehouse

    def get_asset_key(self, dbt_resource_props) -> dg.AssetKey:
        props = dbt_resource_props
        name = (props.get("identifier") or props["name"]) if props["resource_type"] == "source" else props["name"]
        return asset_key(self.warehouse, TableRef(props["database"], props["schema"], name))

    def get_group_name(self, dbt_resource_props) -> str:
        return group_name(dbt_resource_props["schema"])

    def get_description(self, dbt_resource_props) -> str | None:
        """The model's own documentation, or none (dagster-dbt's default appends the raw SQL,
        `{{ config(...) }}` and all, which reads as noise in the catalog)."""
        return dbt_resource_props.get("description") or None


def dbt_executable() -> str:
    """The dbt installed beside this Python (the project's venv need not be on PATH)."""
    beside = Path(sys.executable).parent / "dbt"
    return str(beside) if beside.exists() else shutil.which("dbt") or "dbt"


def dbt_project(config: MonitorConfig) -> DbtProject:
    settings = config.dbt
    if config.warehouses[settings.warehouse].type == "duckdb":
        os.environ[DUCKDB_PATH_ENV] = str(warehouse_path(config, settings.warehouse))  # the config wins
    project_dir = relative_to_config(config, settings.project_dir)
    project = DbtProject(project_dir=project_dir, profiles_dir=project_dir, target=settings.target)
    if not Path(project.manifest_path).exists():  # development: parse once at load
        _parse(project)
    return project


def _parse(project: DbtProject) -> None:
    """Write the manifest whole or not at all: the webserver and the daemon of a first `dagster
    dev`, or processes loading the code location side by side, may all find it missing at once,
    and one must never read the half-written file of another."""
    manifest = Path(project.manifest_path)
    scratch = manifest.parent / f"parse-{os.getpid()}"
    DbtCliResource(project_dir=project, dbt_executable=dbt_executable()).cli(
        ["--quiet", "parse"], target_path=scratch
    ).wait()
    os.replace(scratch / manifest.name, manifest)
    shutil.rmtree(scratch, ignore_errors=True)


def blocked_sources(
    context: dg.AssetExecutionContext, blocking: dict[dg.AssetKey, tuple[str, TableFacts]]
) -> list[str]:
    """dbt selectors (`source:raw.orders+`) for the blocking raw tables counted in this run
    whose row-count check fails on the run's bucket."""
    partition = context.run.tags.get(PARTITION_TAG)
    in_run = set(context.run.asset_selection or [])
    selectors = []
    for key, (source, facts) in blocking.items():
        if partition is None or key not in in_run:
            continue
        result = judge_partition(context.instance, facts, partition)
        if not result.passed:
            context.log.warning(
                f"{facts.entry.table} failed its row-count check for {partition}: "
                f"{result.description}; skipping the dbt models downstream of it"
            )
            selectors.append(f"source:{source}+")
    return selectors


def _manifest(project: DbtProject) -> dict:
    return json.loads(Path(project.manifest_path).read_text())


def _models(manifest: dict) -> list[dict]:
    return [n for n in manifest["nodes"].values() if n["resource_type"] == "model"]


def _relation(node: dict) -> TableRef:
    return TableRef(node["database"], node["schema"], node.get("alias") or node["name"])


def model_relations(project: DbtProject) -> set[TableRef]:
    """database.schema.name of every dbt model: tables that dbt, not a counting asset, fills."""
    return {_relation(n) for n in _models(_manifest(project))}


def dbt_definitions(config: MonitorConfig, project: DbtProject, facts: list[TableFacts]) -> dg.Definitions:
    translator = WarehouseTranslator(config.dbt.warehouse)
    manifest = _manifest(project)
    sources = {
        translator.get_asset_key(props): f"{props['source_name']}.{props['name']}"
        for props in manifest["sources"].values()
    }
    blocking = {
        key: (sources[key], f)
        for f in facts
        if f.entry.blocking and f.start is not None
        for key in [asset_key(f.entry.warehouse, f.entry.ref)]
        if key in sources
    }
    counted = {
        translator.get_asset_key(n): _relation(n)
        for n in _models(manifest)
        if n["config"].get("materialized") in ("table", "incremental")
    }
    warehouse_key = resource_key(config.dbt.warehouse)

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=translator,
        name=DBT_ASSETS,
        required_resource_keys={"dbt", warehouse_key},
    )
    def _dbt_models(context: dg.AssetExecutionContext):
        args = ["build"]
        excluded = blocked_sources(context, blocking)
        if excluded:
            args += ["--exclude", *excluded]
        warehouse = reader(getattr(context.resources, warehouse_key))
        # dagster-dbt prints every dbt line to stdout: the terminal running the UI would show
        # the whole dbt log of every tick. They go to the run's debug log (the UI) instead.
        with contextlib.redirect_stdout(LinesTo(context.log.debug)):
            for event in context.resources.dbt.cli(args, context=context).stream():
                if isinstance(event, dg.Output):
                    ref = counted.get(context.asset_key_for_output(event.output_name))
                    if ref is not None:
                        event = event.with_metadata(
                            {**event.metadata, ROW_COUNT: dg.MetadataValue.int(warehouse.total_count(ref))}
                        )
                yield event

    resource = DbtCliResource(project_dir=project, dbt_executable=dbt_executable())
    return dg.Definitions(assets=[_dbt_models], resources={"dbt": resource})
