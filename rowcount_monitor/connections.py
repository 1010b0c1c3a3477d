"""Warehouse resources, one per warehouse in the config, keyed warehouse_<name>: DuckDB
(the embedded default) or Snowflake (production).

Each warehouse's library is imported only where such a warehouse is configured: both are
optional dependencies (the `duckdb` and `snowflake` extras), and dagster-snowflake costs about
4 s and 300 MB per process, paid by every run worker otherwise."""

from __future__ import annotations

import os
import sys

import dagster as dg

from .config import ConfigError, MonitorConfig, WarehouseConfig, warehouse_path
from .warehouse import Warehouse

_SNOWFLAKE_REQUIRED = ("ACCOUNT", "USER")
_SNOWFLAKE_AUTH = ("PASSWORD", "PRIVATE_KEY", "PRIVATE_KEY_PATH")
_SNOWFLAKE_OPTIONAL = ("ROLE", "WAREHOUSE")


def resource_key(warehouse: str) -> str:
    return f"warehouse_{warehouse}"


def warehouse_resources(config: MonitorConfig) -> dict[str, object]:
    resources = {}
    for name, wh in config.warehouses.items():
        if wh.type == "duckdb":
            from dagster_duckdb import DuckDBResource

            resources[resource_key(name)] = DuckDBResource(database=str(warehouse_path(config, name)))
        else:
            resources[resource_key(name)] = snowflake_resource(name, wh, str(config.source))
    return resources


def snowflake_resource(name: str, wh: WarehouseConfig, source: str) -> dg.ConfigurableResource:
    """A SnowflakeResource whose every credential is an EnvVar; a missing variable is named
    here, when the code location loads (its value never is)."""
    env = {key: wh.env_prefix + key for key in _SNOWFLAKE_REQUIRED + _SNOWFLAKE_AUTH + _SNOWFLAKE_OPTIONAL}
    missing = [env[k] for k in _SNOWFLAKE_REQUIRED if not os.environ.get(env[k])]
    auth = [k for k in _SNOWFLAKE_AUTH if os.environ.get(env[k])]
    if not auth:
        missing.append(" or ".join(env[k] for k in _SNOWFLAKE_AUTH))
    if missing:
        raise ConfigError(f"{source}: warehouses.{name}: environment variable(s) not set: {', '.join(missing)}")
    fields = {k.lower(): dg.EnvVar(env[k]) for k in _SNOWFLAKE_REQUIRED + _SNOWFLAKE_OPTIONAL if os.environ.get(env[k])}
    fields[auth[0].lower()] = dg.EnvVar(env[auth[0]])
    from dagster_snowflake import SnowflakeResource

    return SnowflakeResource(
        **fields,
        additional_snowflake_connection_args={
            **wh.connection_args,
            "session_parameters": {"QUERY_TAG": wh.query_tag, "TIMEZONE": "UTC"},
        },
    )


def reader(resource) -> Warehouse:
    """The Warehouse interface over a configured resource."""
    duckdb = sys.modules.get("dagster_duckdb")  # imported where a DuckDB warehouse is configured
    if duckdb is not None and isinstance(resource, duckdb.DuckDBResource):
        from .warehouse.duckdb import DuckDBWarehouse, bounded_connect

        return DuckDBWarehouse(bounded_connect(resource.database, dict(resource.connection_config)))
    from dagster_snowflake import SnowflakeConnection, SnowflakeResource

    from .warehouse.snowflake import SnowflakeWarehouse

    if isinstance(resource, (SnowflakeResource, SnowflakeConnection)):  # the latter inside a run
        return SnowflakeWarehouse(resource.get_connection)
    raise TypeError(f"no warehouse reader for {type(resource).__name__}")
