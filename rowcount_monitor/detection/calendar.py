"""Public holidays of a policy's calendars, from the `holidays` package.

A calendar is a country code ("US", "DE"), optionally with a subdivision ("US-CA", "DE-BY").
Besides the official days, every calendar covers the year-end week (24 and 26-31 December):
most businesses load far less then, and a page on 27 December is rarely news.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

YEAR_END = "year-end week"


@lru_cache(maxsize=256)
def _days(calendar: str, year: int) -> dict[pd.Timestamp, str]:
    import holidays

    country, _, subdivision = calendar.partition("-")
    try:
        days = holidays.country_holidays(country, subdiv=subdivision or None, years=year)
    except NotImplementedError:
        raise ValueError(
            f"unknown holiday calendar {calendar!r}: use a country code such as US or DE, "
            f"optionally with a subdivision such as US-CA"
        ) from None
    out = {pd.Timestamp(day): name for day, name in days.items()}
    for day in [24, 26, 27, 28, 29, 30, 31]:
        out.setdefault(pd.Timestamp(year, 12, day), YEAR_END)
    return out


def check_calendar(calendar: str) -> None:
    """ValueError naming a calendar the holidays package does not know."""
    if not isinstance(calendar, str) or not calendar:
        raise ValueError(f"a holiday calendar is a country code such as US, not {calendar!r}")
    _days(calendar, 2026)


def holiday_names(calendars: tuple[str, ...], times: pd.DatetimeIndex) -> np.ndarray:
    """The holiday's name for every bucket on a holiday of any of `calendars`, "" elsewhere."""
    names: dict[pd.Timestamp, str] = {}
    for year in range(times[0].year, times[-1].year + 1):
        for calendar in calendars:
            for day, name in _days(calendar, year).items():
                names.setdefault(day, name)
    days = times.normalize()
    found = days.isin(list(names))
    out = np.full(len(times), "", object)
    if found.any():
        out[found] = [names[d] for d in days[found]]
    return out


# Daylight-saving rules whose changes move loads kept in local time by an hour of UTC, for a
# table whose time zone is not given: the United States' (its zones change within a few night
# hours of each other) and the European Union's (all its zones at 01:00 UTC). A table with a
# time zone (Australia, Chile, ...) gets its own zone's changes instead.
CLOCK_ZONES = ("America/New_York", "Europe/Berlin")


def check_zone(name: str) -> None:
    """ValueError naming a time zone that is not an IANA name."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as America/New_York or UTC") from None


def local_times(times: pd.DatetimeIndex, zone: str | None) -> pd.DatetimeIndex:
    """UTC bucket times as wall-clock times of `zone` (tz-aware), or as given without a zone."""
    return times.tz_localize("UTC").tz_convert(zone) if zone else times


@lru_cache(maxsize=64)
def _clock_changes(year: int, zones: tuple[str, ...]) -> np.ndarray:
    """The UTC hours (int64 ns, naive) at which `zones` change their clocks in `year`."""
    utc = pd.date_range(f"{year}-01-01", f"{year + 1}-01-01", freq="h", inclusive="left")
    found = []
    for zone in zones:
        offset = (utc.tz_localize("UTC").tz_convert(zone).tz_localize(None) - utc).asi8
        found.extend(utc.asi8[1:][np.diff(offset) != 0])
    return np.sort(np.array(found, dtype=np.int64))


def clock_changes(times: pd.DatetimeIndex, zone: str | None = None) -> np.ndarray:
    """Positions in `times` (sub-daily buckets, UTC) of the first bucket after a daylight-saving
    change of `zone` (default CLOCK_ZONES), strictly after the first bucket."""
    if len(times) < 2:
        return np.array([], dtype=int)
    zones = (zone,) if zone else CLOCK_ZONES
    stamps = np.concatenate([_clock_changes(y, zones) for y in range(times[0].year, times[-1].year + 1)])
    positions = np.searchsorted(times.asi8, stamps)
    return np.unique(positions[(positions > 0) & (positions < len(times))])
