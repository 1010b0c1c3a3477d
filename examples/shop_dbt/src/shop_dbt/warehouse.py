"""The shop's DuckDB file: where it is, and `python -m shop_dbt.warehouse` to write it with
17 days of orders, one day of which loaded a third of its rows."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

PATH_ENV = "SHOP_DUCKDB"  # read by dbt/profiles.yml too
FIRST_DAY = "2026-10-01"
DAYS = 17
BAD_DAY = "2026-10-16"


def path() -> Path:
    return Path(os.environ.get(PATH_ENV, Path(__file__).resolve().parents[2] / "shop.duckdb"))


def days() -> list[str]:
    return [d.strftime("%Y-%m-%d") for d in pd.date_range(FIRST_DAY, periods=DAYS, freq="D")]


def write(to: Path) -> None:
    """Orders of a shop busy on weekdays (a weekend day sells 40 %), 3 % day-to-day noise."""
    rng = np.random.default_rng(1)
    rows = []
    for day in pd.date_range(FIRST_DAY, periods=DAYS, freq="D"):
        n = round(2000 * (0.4 if day.day_of_week >= 5 else 1.0) * rng.lognormal(0, 0.03))
        if day.strftime("%Y-%m-%d") == BAD_DAY:
            n //= 3
        at = day + pd.to_timedelta(np.sort(rng.uniform(0, 86400, n)), unit="s")
        rows.append(pd.DataFrame({"ordered_at": at, "customer_id": rng.integers(1, 900, n)}))
    orders = pd.concat(rows, ignore_index=True)
    orders.insert(0, "id", range(1, len(orders) + 1))
    to.unlink(missing_ok=True)
    with duckdb.connect(str(to)) as conn:
        conn.execute("CREATE TABLE orders AS SELECT * FROM orders")


if __name__ == "__main__":
    write(path())
    print(f"{path()}: orders of {DAYS} days from {FIRST_DAY}, {BAD_DAY} with a third of its rows", file=sys.stderr)
