"""Time of the demo's whole history: building the warehouse, backfilling every bucket into a
fresh local (SQLite) Dagster instance (judging the last five days with the row-count check, as
`make demo` does) and a no-op re-run. Prints figures, asserts nothing.

    python benchmarks/demo_backfill.py [--workers N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--workers", type=int, default=None)
    workers = args.parse_args().workers
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        home = tmp / "dagster_home"
        home.mkdir()
        db = tmp / "data" / "shop.duckdb"
        project = Path(__file__).resolve().parents[1]
        text = (project / "rowcount_monitor.yaml").read_text()
        text = text.replace("path: data/shop.duckdb", f"path: {db}")
        text = text.replace("project_dir: dbt_project", f"project_dir: {project / 'dbt_project'}")
        (tmp / "rowcount_monitor.yaml").write_text(text)
        os.environ.update(DAGSTER_HOME=str(home), ROWCOUNT_MONITOR_CONFIG=str(tmp / "rowcount_monitor.yaml"))

        from rowcount_monitor import backfill
        from rowcount_monitor.demo import warehouse as demo_warehouse

        t0 = time.perf_counter()
        demo_warehouse.build(db, progress=lambda _: None)
        built = time.perf_counter() - t0
        t0 = time.perf_counter()
        buckets = backfill.run(workers=workers)
        filled = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = backfill.run(workers=workers)
        rerun = time.perf_counter() - t0
    print()
    print(
        f"demo warehouse build: {built:6.1f} s ({len(demo_warehouse.TABLES)} tables, {demo_warehouse.HISTORY_DAYS} days)"
    )
    print(f"history backfill:     {filled:6.1f} s ({buckets:,} buckets, {buckets / filled:,.0f} buckets/s)")
    print(f"re-run (no-op):       {rerun:6.1f} s ({again} buckets added)")


if __name__ == "__main__":
    main()
