"""`rowcount-monitor serve-metrics`: the latest verdict of every row-count check as Prometheus
gauges, for dashboards and alert rules beside the SNS pages (a Grafana dashboard is in
docs/grafana/rowcount_monitor.json).

Every scrape reads the verdicts in one query on the Dagster instance's check log, the record the
checks already write and the sensor and `status` read: nothing is written twice, so the endpoint
can never disagree with the UI. Labels are stable per series (table, asset, metric, owner and
the configured severity); the state of the check is a value, so a check that starts failing does
not start a new series.
"""

from __future__ import annotations

import calendar
import datetime as dt
import time
from collections.abc import Iterator

import dagster as dg
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from .cadence import PARTITION_FORMAT
from .config import TableConfig
from .report import Row, latest_verdicts

LABELS = ("table", "asset", "metric", "owner", "severity")
# the check's state as a value: failing WARN and failing ERROR apart, and "never judged"
STATE = {"no verdict": -1, "ok": 0}
FAILING = {"WARN": 1, "ERROR": 2}
# Row field -> (metric name, help)
_GAUGES = {
    "observed": ("rowcount_monitor_observed", "The latest judged bucket's value (rows for row counts)."),
    "expected": ("rowcount_monitor_expected", "What the detector expected for that bucket."),
    "lower": ("rowcount_monitor_band_lower", "The lower edge of the expected band."),
    "upper": ("rowcount_monitor_band_upper", "The upper edge of the expected band."),
    "score": ("rowcount_monitor_score", "How far the value lies from the expectation, in robust standard deviations."),
}


class VerdictCollector(Collector):
    """Gauges of the latest verdict of each check in `checks` (check key -> its table's config)."""

    def __init__(self, instance: dg.DagsterInstance, checks: dict[dg.AssetCheckKey, TableConfig]):
        self.instance = instance
        self.checks = checks

    def collect(self) -> Iterator[GaugeMetricFamily]:
        started = time.perf_counter()
        rows = latest_verdicts(self.instance, {k: k.asset_key.to_user_string() for k in self.checks})
        families = {field: GaugeMetricFamily(name, text, labels=LABELS) for field, (name, text) in _GAUGES.items()}
        state = GaugeMetricFamily(
            "rowcount_monitor_check_state",
            "The latest verdict: 0 passing, 1 failing (WARN), 2 failing (ERROR), -1 not judged yet.",
            labels=LABELS,
        )
        bucket = GaugeMetricFamily(
            "rowcount_monitor_bucket_timestamp_seconds", "Start of the latest judged bucket (UTC).", labels=LABELS
        )
        checked = GaugeMetricFamily(
            "rowcount_monitor_checked_timestamp_seconds", "When the latest verdict was made.", labels=LABELS
        )
        for key, entry in self.checks.items():
            row = rows[key]
            labels = labels_for(key, entry)
            state.add_metric(labels, _state(row))
            if row.verdict == "no verdict":
                continue
            for field, family in families.items():
                value = getattr(row, field)
                if value is not None:
                    family.add_metric(labels, float(value))
            if row.bucket:  # (a dbt model's snapshot check has no partition)
                start = dt.datetime.strptime(row.bucket, PARTITION_FORMAT[entry.cadence])
                bucket.add_metric(labels, calendar.timegm(start.timetuple()))
            if row.checked_at is not None:
                checked.add_metric(labels, row.checked_at)
        yield from families.values()
        yield from (state, bucket, checked)
        yield GaugeMetricFamily(
            "rowcount_monitor_scrape_duration_seconds",
            "How long reading the verdicts for this scrape took.",
            value=time.perf_counter() - started,
        )


def labels_for(key: dg.AssetCheckKey, entry: TableConfig) -> list[str]:
    """table as in the SNS `table` attribute, owner as in its `owner` attribute (as configured),
    severity as configured (`auto`: ERROR for a zero load, else WARN)."""
    metric = getattr(entry, "metric", None) or "row_count"
    return [entry.table, key.asset_key.to_user_string(), metric, entry.owner or "", entry.severity or "auto"]


def _state(row: Row) -> int:
    return FAILING.get(row.severity or "WARN", 1) if row.verdict == "failing" else STATE[row.verdict]
