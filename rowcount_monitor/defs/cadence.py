"""What a cadence means: the partition key format, the SQL date_trunc unit and the bucket length."""

import pandas as pd

PARTITION_FORMAT = {"hourly": "%Y-%m-%d-%H:%M", "daily": "%Y-%m-%d"}
BUCKET_UNIT = {"hourly": "hour", "daily": "day"}
BUCKET_STEP = {"hourly": pd.Timedelta(hours=1), "daily": pd.Timedelta(days=1)}
