"""Code-location load time for 250 Snowflake tables across 5 schemas, discovered from the
config's schema entries (glob patterns). Snowflake is emulated by fakesnow in this process, so
the figure is the project's own cost (parsing, discovery queries, building 250 assets and
checks), not network latency: on a real account add about one round trip per query (2 per
table plus 1 per schema). Prints figures, asserts nothing.

    python benchmarks/load_250_tables.py
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import fakesnow
import snowflake.connector
import yaml

SCHEMAS, TABLES = 5, 50


def main() -> None:
    os.environ.update(SNOWFLAKE_ACCOUNT="bench", SNOWFLAKE_USER="bench", SNOWFLAKE_PASSWORD="bench")
    from rowcount_monitor.defs import build_definitions, refresh_catalog

    with tempfile.TemporaryDirectory() as tmp, fakesnow.patch():
        with snowflake.connector.connect() as conn:
            cur = conn.cursor()
            cur.execute("CREATE DATABASE shop")
            for s in range(SCHEMAS):
                cur.execute(f"CREATE SCHEMA shop.source_{s}")
                for t in range(TABLES):
                    cur.execute(f"CREATE TABLE shop.source_{s}.table_{t} (id INTEGER, loaded_at TIMESTAMP)")
                    cur.execute(f"INSERT INTO shop.source_{s}.table_{t} VALUES (1, TIMESTAMP '2026-01-01 10:00')")
        config = Path(tmp) / "rowcount_monitor.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "warehouses": {"prod": {"type": "snowflake"}},
                    "schemas": [
                        {
                            "schema": f"shop.source_{s}",
                            "warehouse": "prod",
                            "include": ["table_*"],
                            "cadence": "hourly",
                            "timestamp_column": "loaded_at",
                        }
                        for s in range(SCHEMAS)
                    ],
                }
            )
        )
        live = load_times(build_definitions, config)
        t0 = time.perf_counter()
        refresh_catalog(config)
        discover = time.perf_counter() - t0
        cached = load_times(build_definitions, config)
        # the tables' asset keys (each batch of a warehouse and cadence is one multi-asset)
        assets = sum(len(a.keys) for a in build_definitions(config).assets if hasattr(a, "keys"))
    print(f"tables: {assets} ({SCHEMAS} schemas x {TABLES}), discovered from schema globs")
    print(f"load, asking the warehouse:   min {min(live):.2f} s, median {statistics.median(live):.2f} s (3 loads)")
    print(f"rowcount-monitor discover:    {discover:.2f} s (writes the catalog file)")
    print(f"load, from the catalog file:  min {min(cached):.2f} s, median {statistics.median(cached):.2f} s (3 loads)")


def load_times(build, config, loads=3):
    times = []
    for _ in range(loads):
        t0 = time.perf_counter()
        build(config).get_repository_def()  # resolve the asset graph as a code server does
        times.append(time.perf_counter() - t0)
    return times


if __name__ == "__main__":
    main()
