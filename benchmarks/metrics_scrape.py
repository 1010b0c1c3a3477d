"""Scrape time of `rowcount-monitor serve-metrics` at 1,000 tables: prints figures, asserts nothing.

    python benchmarks/metrics_scrape.py [--tables 1000] [--instance sqlite|postgres]

Writes one verdict per table (a check evaluation with the metadata the checks record) into a
fresh Dagster instance (SQLite in a temporary DAGSTER_HOME, or PostgreSQL started with pgserver),
serves the collector on 127.0.0.1 exactly as the command does, and times whole HTTP scrapes.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

import dagster as dg
from prometheus_client import CollectorRegistry, start_http_server

from rowcount_monitor.config import TableConfig
from rowcount_monitor.naming import CHECK_NAME, asset_key
from rowcount_monitor.prometheus_exporter import VerdictCollector


def instance_yaml(home: Path, kind: str) -> None:
    if kind == "postgres":
        import pgserver

        server = pgserver.get_server(home / "pg", cleanup_mode="stop")
        url = server.get_uri()
        (home / "dagster.yaml").write_text(
            "storage:\n  postgres:\n    postgres_url: " + url + "\ntelemetry:\n  enabled: false\n"
        )
    else:
        (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tables", type=int, default=1000)
    p.add_argument("--instance", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--scrapes", type=int, default=20)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as home:
        instance_yaml(Path(home), args.instance)
        entries = [
            TableConfig(table=f"shop.raw.t{i:05d}", warehouse="demo", cadence="hourly", timestamp_column="loaded_at")
            for i in range(args.tables)
        ]
        checks = {dg.AssetCheckKey(asset_key(e.warehouse, e.ref), CHECK_NAME): e for e in entries}
        with dg.DagsterInstance.from_config(home) as instance:
            t0 = time.perf_counter()
            for i, key in enumerate(checks):
                metadata = {"observed": 480 + i % 40, "expected": 500.0, "lower": 400.0, "upper": 610.0, "score": -0.4}
                instance.report_runless_asset_event(
                    dg.AssetCheckEvaluation(
                        asset_key=key.asset_key,
                        check_name=CHECK_NAME,
                        passed=i % 50 != 0,
                        severity=dg.AssetCheckSeverity.WARN,
                        metadata=metadata,
                        partition="2026-11-26-09:00",
                    )
                )
            print(f"{args.tables:,} verdicts written to a {args.instance} instance in {time.perf_counter() - t0:.1f} s")
            registry = CollectorRegistry(auto_describe=False)
            registry.register(VerdictCollector(instance, checks))
            server, _ = start_http_server(0, addr="127.0.0.1", registry=registry)
            url = f"http://127.0.0.1:{server.server_port}/metrics"
            times, size = [], 0
            for _ in range(args.scrapes):
                t0 = time.perf_counter()
                with urllib.request.urlopen(url) as response:
                    size = len(response.read())
                times.append(time.perf_counter() - t0)
            server.shutdown()
            print(
                f"scrape of {args.tables:,} tables over HTTP: median {1000 * statistics.median(times):.0f} ms, "
                f"max {1000 * max(times):.0f} ms over {args.scrapes} scrapes ({size / 1024:,.0f} KiB of text)"
            )


if __name__ == "__main__":
    main()
