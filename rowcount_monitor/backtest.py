"""Replaying a table's history through a detection policy before enabling it: how many alerts
it would have raised, when and why, beside the table's current policy, and a picture."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd

from .cadence import BUCKET_STEP, BUCKET_UNIT, PARTITION_FORMAT, label_zone, on_clock, to_utc
from .catalog import TableFacts
from .connections import reader, resource_key
from .detection import DetectionPolicy, evaluate_latest, score_series
from .feedback import policy_for
from .history import load_history
from .measures import measured
from .naming import entry_key
from .plots import band_png


@dataclass
class Alert:
    bucket: pd.Timestamp
    observed: float
    reason: str


@dataclass
class Backtest:
    label: str
    policy: DetectionPolicy
    scores: pd.DataFrame
    alerts: list[Alert]  # the first bucket of every run of flagged buckets


def history_from_instance(instance: dg.DagsterInstance, facts: TableFacts, until: pd.Timestamp) -> pd.Series:
    """Every recorded bucket of the table, from its first partition to `until`."""
    entry = facts.entry
    step = BUCKET_STEP[entry.cadence]
    last = on_clock(until, label_zone(entry)).floor(step)
    keys = [t.strftime(PARTITION_FORMAT[entry.cadence]) for t in pd.date_range(facts.start, last, freq=step)]
    parts = [load_history(instance, entry_key(entry), entry, keys[i : i + 2000]) for i in range(0, len(keys), 2000)]
    return pd.concat(parts).sort_index() if parts else pd.Series(dtype=float)


def history_from_warehouse(resources: dict, facts: TableFacts, until: pd.Timestamp) -> pd.Series:
    """The same buckets counted straight from the warehouse's timestamp column (one query)."""
    entry = facts.entry
    step = BUCKET_STEP[entry.cadence]
    warehouse = reader(resources[resource_key(entry.warehouse)].process_config_and_initialize())
    zone = label_zone(entry)
    end = on_clock(until, zone).floor(step)
    counts = warehouse.bucket_counts_many(
        [measured(entry)], BUCKET_UNIT[entry.cadence], to_utc(facts.start, zone), to_utc(end, zone), zone
    )[0]
    grid = pd.date_range(facts.start, end, freq=step, inclusive="left")
    return pd.Series([float(counts.get(t, 0)) for t in grid], index=grid)


def run(history: pd.Series, policy: DetectionPolicy, label: str, explain: bool = True) -> Backtest:
    scores = score_series(history, policy)
    flags = scores["is_anomaly"]
    starts = flags & ~flags.shift(1, fill_value=False)
    alerts = [
        Alert(t, float(history[t]), evaluate_latest(history.loc[:t], policy).reason if explain else "")
        for t in history.index[starts.to_numpy()]
    ]
    return Backtest(label, policy, scores, alerts)


def compare(history: pd.Series, facts: TableFacts, overrides: dict, feedback=None) -> list[Backtest]:
    """The table's current policy (with the feedback given on it) and, when overrides are given,
    the proposed one."""
    current = policy_for(facts.entry, feedback)
    results = [run(history, current, "current policy")]
    if overrides:
        results.append(run(history, replace(current, **overrides), "proposed policy"))
    return results


def plot(history: pd.Series, result: Backtest, path: str, title: str) -> None:
    """History, expected band and alerts of one backtest, as a PNG."""
    flagged = int(result.scores["is_anomaly"].sum())  # the red points; an alert is a run of them
    alerts = f"{len(result.alerts)} alert{'' if len(result.alerts) == 1 else 's'}"
    buckets = f"{flagged} anomalous bucket{'' if flagged == 1 else 's'}"
    Path(path).write_bytes(band_png(history, result.scores, f"{title}: {alerts}, {buckets} ({result.label})"))


def summary(history: pd.Series, result: Backtest) -> dict:
    judged = int(result.scores["expected"].notna().sum())
    return {
        "policy": result.label,
        "buckets": len(history),
        "judged": judged,
        "alerts": len(result.alerts),
        "alerts_per_1000": round(1000 * len(result.alerts) / judged, 2) if judged else np.nan,
    }
