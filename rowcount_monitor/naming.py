"""How monitored tables are named in Dagster: asset keys, groups and owners."""

from __future__ import annotations

import hashlib
import re
import unicodedata

import dagster as dg

from .warehouse import TableRef

DBT_ASSETS = "dbt_models"  # the op that runs `dbt build`


def asset_key(warehouse: str, ref: TableRef, metric: str | None = None) -> dg.AssetKey:
    """[warehouse, schema, table] (and the metric's name for a metric monitor); characters
    Dagster does not allow in names become '_'."""
    return dg.AssetKey([_name(p) for p in (warehouse, ref.schema, ref.table, metric) if p is not None])


def entry_key(entry) -> dg.AssetKey:
    """The asset of a table entry, or of a metric entry (MetricConfig: below its table's key)."""
    return asset_key(entry.warehouse, entry.ref, getattr(entry, "metric", None))


def _name(part: str) -> str:
    """Accents dropped (`café` -> `cafe`), other characters Dagster does not allow become '_'.
    A name with letters that have no Latin form (`заказы`) also gets a short hash of itself, so
    that two such names of equal length do not become the same key."""
    text = part.strip('"')
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    name = re.sub(r"[^A-Za-z0-9_]", "_", plain)
    if not plain.isascii():
        name += "_" + hashlib.sha1(text.encode()).hexdigest()[:6]
    return name


def group_name(schema: str) -> str:
    """The asset group of a table (or dbt model) in `schema`."""
    return re.sub(r"[^A-Za-z0-9_]", "_", schema.lower()) or "default"


def owners(owner: str | None) -> list[str]:
    """The Dagster owner of a table: its `owner:` as written (the same spelling the SNS
    `owner` attribute carries, which routing filters match on), as a team unless an e-mail."""
    if not owner or not owner.strip():
        return []
    owner = owner.strip()
    return [owner if "@" in owner else f"team:{owner}"]


CHECK_NAME = "row_count_anomaly"
