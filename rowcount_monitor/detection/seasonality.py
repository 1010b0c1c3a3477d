"""Bucket spacing and the seasonal periods worth trying for it."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

_DAY = pd.Timedelta(days=1)


def infer_spacing(index: pd.DatetimeIndex) -> pd.Timedelta:
    """The bucket spacing: the smallest step, which every other step must be a multiple of.

    Missing buckets (a step of two or more spacings) are allowed; a step that is not a whole
    number of spacings means no regular bucket grid fits and is a ValueError.
    """
    if len(index) < 2:
        raise ValueError("history needs at least two buckets to infer their spacing")
    steps = np.diff(index.asi8)  # in the index's unit (numpy, not pandas: a check calls this per verdict)
    spacing = int(steps.min())
    unit = index.unit
    if spacing <= 0:
        raise ValueError("history timestamps must be strictly increasing (sorted, no duplicates)")
    odd = steps[steps % spacing != 0]
    if len(odd):
        raise ValueError(
            f"irregular spacing: a step of {pd.Timedelta(int(odd[0]), unit=unit)} is not a multiple of the bucket "
            f"spacing {pd.Timedelta(spacing, unit=unit)}, so no seasonal period fits"
        )
    return pd.Timedelta(spacing, unit=unit)


@lru_cache(maxsize=64)
def candidate_periods(spacing: pd.Timedelta) -> tuple[int, ...]:
    """Daily and weekly periods in buckets, for spacings that divide a day or a week evenly."""
    if spacing < _DAY and _DAY % spacing == pd.Timedelta(0):
        per_day = int(_DAY / spacing)
        return (per_day, 7 * per_day) if per_day >= 2 else (7 * per_day,)
    if spacing == _DAY:
        return (7,)
    return ()


def resolve_periods(seasonality: str | list[int] | tuple[int, ...] | None, spacing: pd.Timedelta) -> tuple[int, ...]:
    """The periods a policy asks for: "auto" -> candidates for the spacing, None -> none."""
    if seasonality == "auto":
        return candidate_periods(spacing)
    if seasonality is None:
        return ()
    if isinstance(seasonality, str):
        raise ValueError(f"seasonality must be 'auto', None or a list of periods, not {seasonality!r}")
    return tuple(sorted(seasonality))
