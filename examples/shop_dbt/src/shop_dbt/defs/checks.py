"""The anomaly check on a model chosen in Python (the factory); daily_orders is watched by the
component in monitors/defs.yaml."""

import dagster as dg

from rowcount_monitor import build_row_count_anomaly_checks

from .models import DAILY

defs = dg.Definitions(
    asset_checks=build_row_count_anomaly_checks([dg.AssetSpec("daily_customers", partitions_def=DAILY)])
)
