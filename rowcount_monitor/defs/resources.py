"""Warehouse resources, one per warehouse in the config, keyed warehouse_<name>."""
from __future__ import annotations

from dagster_duckdb import DuckDBResource

from ..config import ConfigError, MonitorConfig, warehouse_path
from ..warehouse import Warehouse
from ..warehouse.duckdb import DuckDBWarehouse


def resource_key(warehouse: str) -> str:
    return f"warehouse_{warehouse}"


def warehouse_resources(config: MonitorConfig) -> dict[str, object]:
    resources = {}
    for name, wh in config.warehouses.items():
        if wh.type == "duckdb":
            resources[resource_key(name)] = DuckDBResource(database=str(warehouse_path(config, name)))
        else:
            raise ConfigError(f"{config.source}: warehouses.{name}, field 'type': "
                              f"{wh.type} is not supported yet (see the Snowflake issue)")
    return resources


def reader(resource) -> Warehouse:
    """The Warehouse interface over a configured resource."""
    if isinstance(resource, DuckDBResource):
        return DuckDBWarehouse(resource.get_connection)
    raise TypeError(f"no warehouse reader for {type(resource).__name__}")
