"""What a cadence means: the partition key format, the SQL date_trunc unit and the bucket length;
and when a bucket is ready to count (it ended, and its table's `settle` time has passed)."""

import dagster as dg
import pandas as pd

from ..config import parse_duration

PARTITION_FORMAT = {"hourly": "%Y-%m-%d-%H:%M", "daily": "%Y-%m-%d"}
BUCKET_UNIT = {"hourly": "hour", "daily": "day"}
BUCKET_STEP = {"hourly": pd.Timedelta(hours=1), "daily": pd.Timedelta(days=1)}


def settle_of(asset: dg.AssetsDefinition) -> pd.Timedelta:
    """How long after a bucket ends the tables of a counting asset are complete (one value per
    asset: tables are batched by it)."""
    settle = asset.metadata_by_key[next(iter(asset.keys))].get("settle")
    return pd.Timedelta(seconds=parse_duration(settle)) if settle else pd.Timedelta(0)
