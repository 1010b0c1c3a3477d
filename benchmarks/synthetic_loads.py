"""Detection on synthetic warehouse loads: a second opinion beside the NAB development set.

Hourly series shaped like the demo shop's eight hourly tables (their level, day/night swing,
weekend share, growth and noise; Poisson counts), three seeds each, 60 days. Prints false
alerts per 1,000 clean buckets (days 22-60 judged, no incident) and how many of the 24
series catch each injected incident within six buckets of its start. Asserts nothing.

    python benchmarks/synthetic_loads.py
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from rowcount_monitor.demo_warehouse import TABLES
from rowcount_monitor.detection import DetectionPolicy, score_series

INCIDENTS = {"half load": (1, 0.5), "zero load": (1, 0.0), "double load": (1, 2.0),
             "6 h at -40 %": (6, 0.6), "12 h at -30 %": (12, 0.7)}


def loads(table, seed: int, days: int = 60) -> pd.Series:
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2026-01-01", periods=days * 24, freq="h")
    swing = 1 + table.daily_swing * np.sin(2 * np.pi * (idx.hour.to_numpy() - 8) / 24)
    week = np.where(idx.day_of_week >= 5, table.weekend, 1.0)
    growth = 1 + table.growth * np.arange(len(idx)) / (90 * 24)
    mean = table.level * swing * week * growth * rng.lognormal(0, table.noise, len(idx))
    return pd.Series(rng.poisson(mean).astype(float), idx)


def main() -> None:
    policy = DetectionPolicy()
    false = judged = trials = 0
    caught = dict.fromkeys(INCIDENTS, 0)
    for table in [t for t in TABLES if t.cadence == "hourly"]:
        for seed in range(3):
            clean = loads(table, 100 + seed)
            scores = score_series(clean, policy, since=clean.index[24 * 21])
            flags = scores["is_anomaly"]
            false += int((flags & ~flags.shift(1, fill_value=False)).sum())
            judged += int(scores["expected"].notna().sum())
            at = 24 * 45 + 14 + 5 * seed
            for name, (length, factor) in INCIDENTS.items():
                broken = clean.copy()
                broken.iloc[at:at + length] = (broken.iloc[at:at + length] * factor).round()
                flagged = score_series(broken, policy, since=broken.index[at])["is_anomaly"]
                caught[name] += bool(flagged.iloc[at:at + length + 6].any())
            trials += 1
    print(f"false alerts: {1000 * false / judged:.2f} per 1,000 clean buckets ({false} in {judged:,})")
    for name, n in caught.items():
        print(f"caught {name:14s} {n}/{trials}")


if __name__ == "__main__":
    main()
