"""The shop's dbt models as daily-partitioned assets: each run builds one day and records each
model's `dagster/row_count`, as any dbt project in Dagster can."""

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
from dagster_dbt import DbtCliResource, DbtProject, dbt_assets

from .. import warehouse

PROJECT = DbtProject(project_dir=Path(__file__).resolve().parents[3] / "dbt")
# dbt from PATH, else the one installed beside this Python (`dg` run from a venv not activated)
DBT = DbtCliResource(
    project_dir=PROJECT, dbt_executable=shutil.which("dbt") or str(Path(sys.executable).parent / "dbt")
)
if not PROJECT.manifest_path.exists():  # development: parse the models when the project loads
    DBT.cli(["parse"], target_path=PROJECT.target_path).wait()
DAILY = dg.DailyPartitionsDefinition(start_date=warehouse.FIRST_DAY)


@dbt_assets(manifest=PROJECT.manifest_path, partitions_def=DAILY)
def shop_models(context: dg.AssetExecutionContext, dbt: DbtCliResource) -> Iterator[Any]:
    day = {"day": context.partition_key}
    # every event of the build first: DuckDB lets a reader in only once dbt has let go of the file
    events = list(dbt.cli(["build", "--vars", json.dumps(day)], context=context).stream())
    with duckdb.connect(str(warehouse.path()), read_only=True) as conn:
        for event in events:
            if isinstance(event, dg.Output):
                (rows,) = conn.execute(f"SELECT count(*) FROM {event.output_name}").fetchone()
                event = event.with_metadata({**event.metadata, "dagster/row_count": rows})
            yield event


defs = dg.Definitions(assets=[shop_models], resources={"dbt": DBT})
