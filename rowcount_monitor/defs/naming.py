"""How monitored tables are named in Dagster: asset keys, groups and owners."""
from __future__ import annotations

import re

import dagster as dg

from ..warehouse import TableRef

DBT_ASSETS = "dbt_models"  # the op that runs `dbt build`


def asset_key(warehouse: str, ref: TableRef) -> dg.AssetKey:
    """[warehouse, schema, table]; characters Dagster does not allow in names become '_'."""
    return dg.AssetKey([_name(p) for p in (warehouse, ref.schema, ref.table)])


def _name(part: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", part.strip('"'))


def group_name(schema: str) -> str:
    """The asset group of a table (or dbt model) in `schema`."""
    return re.sub(r"[^A-Za-z0-9_]", "_", schema.lower()) or "default"


def owners(owner: str | None) -> list[str]:
    if not owner:
        return []
    return [owner if "@" in owner else f"team:{re.sub(r'[^A-Za-z0-9_]', '_', owner)}"]
