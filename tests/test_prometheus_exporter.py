"""The Prometheus collector on a real (ephemeral) Dagster instance, and the Grafana dashboard
that reads it. The endpoint over HTTP is tested in test_cli.py (serve-metrics)."""

import json
import re
from pathlib import Path

import dagster as dg

from rowcount_monitor.config import load_config
from rowcount_monitor.naming import CHECK_NAME, asset_key
from rowcount_monitor.prometheus_exporter import VerdictCollector

DASHBOARD = Path(__file__).parents[1] / "docs" / "grafana" / "rowcount_monitor.json"


def collected(shop_config):
    entries = load_config(shop_config).tables
    checks = {dg.AssetCheckKey(asset_key(e.warehouse, e.ref), CHECK_NAME): e for e in entries}
    with dg.DagsterInstance.ephemeral() as instance:
        return list(VerdictCollector(instance, checks).collect())


def test_a_check_never_judged_is_state_minus_one_without_values(shop_config):
    families = {f.name: f for f in collected(shop_config)}
    states = {s.labels["asset"]: s.value for s in families["rowcount_monitor_check_state"].samples}
    assert states == {"demo/raw/orders": -1, "demo/raw/payments": -1, "demo/raw/customers": -1}
    assert families["rowcount_monitor_observed"].samples == []
    owners = {s.labels["asset"]: s.labels["owner"] for s in families["rowcount_monitor_check_state"].samples}
    assert owners["demo/raw/payments"] == "payments@shop.example"  # as configured, as in SNS attributes


def test_the_dashboard_queries_only_metrics_the_exporter_serves(shop_config):
    served = {f.name for f in collected(shop_config)}
    panels = json.loads(DASHBOARD.read_text())["panels"]
    queried = {m for p in panels for t in p["targets"] for m in re.findall(r"rowcount_monitor_[a-z_]+", t["expr"])}
    assert queried and queried <= served, queried - served
