"""Speed of rowcount_monitor.detection: prints figures, asserts nothing.

    python benchmarks/detection_speed.py                 # the default model
    python benchmarks/detection_speed.py --model state   # another one

- evaluate_latest on eight weeks of hourly buckets and on one year of daily buckets (median of
  200 calls; target <= 5 ms), and on eight weeks of a sparse hourly table (1.5 rows a bucket,
  judged on day totals: the newest and, for the hold, the three before it);
- evaluate_carried on the same eight weeks, from the state the check of the bucket before kept
  (what a deployed check does every tick);
- score_series over 5,000 hourly buckets (target >= 2,000 buckets per second).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd

from rowcount_monitor.detection import DetectionPolicy, evaluate_carried, evaluate_latest, score_series


def synthetic(n: int, freq: str, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    idx = pd.date_range("2026-01-05", periods=n, freq=freq)
    period = 24 if freq == "h" else 7
    season = 1 + 0.5 * np.sin(2 * np.pi * np.arange(n) / period)
    return pd.Series((5000 * season * rng.lognormal(0, 0.08, n)).round(), idx)


def median_ms(fn, calls: int = 200) -> float:
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="auto", help="the model to time (default: auto)")
    args = parser.parse_args(argv)
    policy = DetectionPolicy(model=args.model)
    hourly = synthetic(8 * 7 * 24, "h")
    daily = synthetic(365, "D")
    print(
        f"evaluate_latest, 8 weeks hourly ({len(hourly)} buckets): "
        f"median {median_ms(lambda: evaluate_latest(hourly, policy)):.2f} ms"
    )
    print(
        f"evaluate_latest, 1 year daily ({len(daily)} buckets):   "
        f"median {median_ms(lambda: evaluate_latest(daily, policy)):.2f} ms"
    )
    _, state = evaluate_carried(hourly.iloc[:-1], policy)
    print(
        f"evaluate_carried, 8 weeks hourly, from the previous bucket's state: "
        f"median {median_ms(lambda: evaluate_carried(hourly, policy, state)):.2f} ms"
        + ("" if state is not None else f" (model {args.model} keeps no state)")
    )
    sparse = pd.Series(np.random.default_rng(2).poisson(1.5, len(hourly)).astype(float), hourly.index)
    print(
        f"evaluate_latest, 8 weeks sparse hourly ({len(sparse)} buckets): "
        f"median {median_ms(lambda: evaluate_latest(sparse, policy)):.2f} ms"
    )
    long = synthetic(5000, "h", seed=1)
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        score_series(long, policy)
        best = min(best, time.perf_counter() - t0)
    print(f"score_series, 5,000 hourly buckets: {best:.2f} s, {len(long) / best:,.0f} buckets/s (best of 3)")
    for model in ("stl", "sarimax") if args.model == "auto" else ():
        ms = median_ms(lambda model=model: evaluate_latest(hourly, DetectionPolicy(model=model)), calls=5)
        print(f"evaluate_latest, 8 weeks hourly, model={model}: median {ms:.1f} ms")


if __name__ == "__main__":
    main()
