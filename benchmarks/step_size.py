"""What one Dagster run of N partitioned assets and checks costs by the number of tables per step.

Bare Dagster, nothing of this project: multi-assets of `--step` trivial assets each (a constant
`dagster/row_count` and a passing partitioned check per asset, as the counting steps yield),
all of them in one run of one hourly partition, executed in process on a temporary SQLite
instance. Dagster's cost per step grows faster than the number of its outputs, which is what
`checks.batch_size` (tables per counting step) trades against the number of steps. Prints
seconds per run and per table; asserts nothing.

    python benchmarks/step_size.py                          # 1,000 tables in steps of 1000, 500, 250, 100
    python benchmarks/step_size.py --tables 2000 --steps 2000 250
"""

from __future__ import annotations

import argparse
import time

import dagster as dg
from scale import trivial_definitions


def trivial_steps(tables: int, step: int) -> dg.Definitions:
    """`tables` trivial assets with their checks, `step` to a multi-asset (scale.py's floor)."""
    names = [f"fleet/raw/t{i:05d}" for i in range(tables)]
    batches = {f"count_{first}": names[first : first + step] for first in range(0, tables, step)}
    return trivial_definitions(batches, start="2026-01-01-00:00")


def run_seconds(tables: int, step: int) -> float:
    job = trivial_steps(tables, step).resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        t0 = time.perf_counter()
        result = job.execute_in_process(
            instance=instance,
            partition_key="2026-01-02-00:00",
            run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        )
        seconds = time.perf_counter() - t0
    if not result.success:
        raise RuntimeError(f"the run of {tables} tables in steps of {step} failed")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--steps", type=int, nargs="+", default=[1000, 500, 250, 100], help="tables per step")
    args = parser.parse_args()
    print(f"one run of {args.tables:,} tables (an asset and a check each), bare Dagster, SQLite instance")
    for step in args.steps:
        seconds = run_seconds(args.tables, step)
        steps = -(-args.tables // step)
        print(
            f"{step:>6,} tables per step ({steps:>3} steps): {seconds:7.1f} s   "
            f"{1000 * seconds / args.tables:6.1f} ms per table",
            flush=True,
        )


if __name__ == "__main__":
    main()
