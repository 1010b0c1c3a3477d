"""Shared fixtures: a small demo warehouse (a real DuckDB file), configs pointing at it, and a
real PostgreSQL server (pgserver) for the production instance."""

import shutil
from pathlib import Path

import pandas as pd
import pytest

from rowcount_monitor.demo import warehouse as demo_warehouse

ANCHOR = pd.Timestamp("2026-03-02")


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory):
    """A PostgreSQL server started for this test session (the pgserver wheel ships one); it
    listens on a Unix socket in its own folder only."""
    import pgserver

    server = pgserver.get_server(tmp_path_factory.mktemp("postgres"), cleanup_mode="stop")
    yield server
    server.cleanup()


@pytest.fixture
def postgres_url(postgres_server, request) -> str:
    """A fresh, empty database of that server for one test."""
    import re

    name = "t_" + re.sub(r"\W", "_", request.node.name.lower())[:50]
    postgres_server.psql(f"DROP DATABASE IF EXISTS {name};")
    postgres_server.psql(f"CREATE DATABASE {name};")
    return postgres_server.get_uri(name)


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory) -> Path:
    """Fourteen days of the demo shop's history, ending at ANCHOR (plus its future loads)."""
    path = tmp_path_factory.mktemp("warehouse") / "shop.duckdb"
    demo_warehouse.build(path, anchor=ANCHOR, progress=lambda _: None, history_days=14)
    return path


@pytest.fixture
def writable_db(tmp_path, demo_db) -> Path:
    """A copy of the demo warehouse that a test may change (its stem is the database name)."""
    (tmp_path / "wh").mkdir()
    db = tmp_path / "wh" / "shop.duckdb"
    shutil.copy(demo_db, db)
    return db


def write_config(folder: Path, db: Path, tables: list[dict] | None = None, **sections) -> Path:
    """rowcount_monitor.yaml in `folder`: the warehouse `demo` on `db`, the given tables and
    any other sections (schemas, dbt, alerts, checks)."""
    import yaml

    config = {"warehouses": {"demo": {"type": "duckdb", "path": str(db)}}, **sections}
    if tables is not None:
        config["tables"] = tables
    path = folder / "rowcount_monitor.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def table_entry(name: str, cadence: str = "hourly", **extra) -> dict:
    return {
        "table": f"shop.raw.{name}",
        "warehouse": "demo",
        "cadence": cadence,
        "timestamp_column": "loaded_at",
        "owner": "team-data",
        **extra,
    }


@pytest.fixture
def shop_config(tmp_path, demo_db) -> Path:
    return write_config(
        tmp_path,
        demo_db,
        [
            table_entry("orders"),
            table_entry("payments", owner="payments@shop.example"),
            table_entry("customers", "daily"),
        ],
    )
