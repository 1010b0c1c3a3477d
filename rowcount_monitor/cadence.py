"""What a cadence means: the partition key format, the SQL date_trunc unit and the bucket length;
when a bucket is ready to count (it ended, and its table's `settle` time has passed); and on
which clock its buckets are labelled.

A bucket's label (its partition key, its timestamp in the history cache and in the series the
check judges) is the wall-clock start of the bucket on that clock: UTC for hourly tables, the
table's own `timezone` for daily ones (a New York business's day starts at its midnight, and its
daylight-saving days last 23 and 25 hours). Hourly buckets stay UTC hours whatever the zone: an
hour of local time is repeated or skipped twice a year, and the checks need a regular grid;
the zone still shapes how they are judged and named (DetectionPolicy.timezone)."""

import re

import pandas as pd

PARTITION_FORMAT = {"hourly": "%Y-%m-%d-%H:%M", "daily": "%Y-%m-%d"}
BUCKET_UNIT = {"hourly": "hour", "daily": "day"}
BUCKET_STEP = {"hourly": pd.Timedelta(hours=1), "daily": pd.Timedelta(days=1)}


def local_zone(zone: str | None) -> str | None:
    """A configured time zone, or None where it is UTC's clock (no zone, UTC, Etc/UTC)."""
    return zone if zone not in (None, "", "UTC", "Etc/UTC") else None


def zone_suffix(zone: str | None) -> str:
    """What a counting asset or schedule of a zone's tables adds to its name ('_america_new_york';
    '' for UTC). A sign before a number is spelled out: Etc/GMT+3 and Etc/GMT-3 are different zones."""
    if not local_zone(zone):
        return ""
    signed = re.sub(r"[+-](?=\d)", lambda m: "_plus_" if m.group(0) == "+" else "_minus_", zone.lower())
    return "_" + re.sub(r"[^a-z0-9]+", "_", signed)


def label_zone(entry) -> str | None:
    """The zone a table's bucket labels are wall-clock times of; None for UTC."""
    return local_zone(entry.timezone) if entry.cadence == "daily" else None


def to_utc(label: pd.Timestamp, zone: str | None) -> pd.Timestamp:
    """The instant (naive UTC) a bucket labelled `label` on `zone`'s clock starts at."""
    if zone is None:
        return label
    # a day starting in a skipped hour (a few zones once changed clocks at midnight) starts after it
    local = label.tz_localize(zone, ambiguous=False, nonexistent="shift_forward")
    return local.tz_convert("UTC").tz_localize(None)


def bucket_span(partition: str | None, entry) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """The UTC span of the bucket labelled `partition` of `entry`'s table; None where there is
    no bucket (an unpartitioned check) or the label is not one of its cadence."""
    if partition is None:
        return None
    try:
        start = pd.to_datetime(partition, format=PARTITION_FORMAT[entry.cadence])
    except (KeyError, ValueError):
        return None
    zone = label_zone(entry)
    return to_utc(start, zone), to_utc(start + BUCKET_STEP[entry.cadence], zone)


def on_clock(instant: pd.Timestamp, zone: str | None) -> pd.Timestamp:
    """An instant (naive UTC) as a wall-clock time of `zone` (naive), as bucket labels are."""
    return instant if zone is None else instant.tz_localize("UTC").tz_convert(zone).tz_localize(None)
