"""The "state" model on a bucket grid: lays the grid out for the filter (model/), runs it once
and turns what it found into Verdicts, worded and bounded as every model's are."""

from __future__ import annotations

import math
from dataclasses import fields, replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .model import Judged, run_filter
from .model.calendar_effects import day_kinds
from .model.filter import Carried
from .models import Fit
from .transform import PHI, from_model_space, to_model_space

if TYPE_CHECKING:
    from .engine import _Grid
    from .policy import DetectionPolicy

# Bucket numbers count from a Monday midnight, so that the phase of a weekly period is the
# hour (or day) of the week.
_MONDAY = pd.Timestamp("1970-01-05")
# A signed series' spread is never below this share of its level (a null rate of 0.001 has a
# band of its own size, not of some absolute unit).
SIGNED_FLOOR = 1e-3


def phases(wall: pd.DatetimeIndex, spacing: pd.Timedelta, periods: tuple[int, ...]) -> np.ndarray:
    """Each bucket's phase in the longest period, from its time on the table's wall clock."""
    number = np.asarray((wall - _MONDAY) // spacing, dtype=np.int64)
    return number % max(periods) if periods else np.zeros(len(wall), np.int64)


def run(
    grid: _Grid,
    end: int,
    counts: bool,
    policy: DetectionPolicy,
    periods: tuple[int, ...],
    ready: np.ndarray,
    origin: int = 0,
    resume: Carried | None = None,
    keep_at: int | None = None,
) -> Judged:
    """The filter over the grid's buckets up to `end` (inclusive); `origin`, `resume`, `keep_at`:
    as run_filter's (carry.py). Resumed, only the buckets after the state are laid out."""
    start = resume.through - origin + 1 if resume is not None else 0
    cut = slice(start, end + 1)
    values = grid.values[cut]
    y = to_model_space(values, counts)
    wall = grid.times[cut] if grid.local is None else grid.local[cut].tz_localize(None)
    daily = grid.spacing <= pd.Timedelta(days=1)
    dates = wall.normalize()
    kinds = day_kinds(dates) if daily else np.zeros(len(wall), np.int8)
    if counts:
        root = float(np.sqrt(PHI))

        def floor(expected: float) -> float:  # from_model_space written out for one float (hot path)
            rows = float(np.sinh((expected if expected > 0.0 else 0.0) * root / 2.0)) ** 2 / PHI
            return 1.0 / math.sqrt(1.0 + PHI * rows)
    else:
        known = grid.values[: end + 1]
        magnitude = float(np.nanmedian(np.abs(known))) if np.any(~np.isnan(known)) else 0.0

        def floor(expected: float) -> float:
            return max(SIGNED_FLOOR * max(abs(expected), magnitude), 1e-12)

    accepted = tuple(int(i) for i in np.flatnonzero(grid.times[cut].isin(policy.accepted_changes)))
    judged = run_filter(
        y,
        phases(wall, grid.spacing, periods),
        np.asarray((dates - _MONDAY).days, dtype=np.int64),
        kinds,
        (grid.excluded | grid.untrained)[cut],
        grid.normal[cut],
        periods,
        policy.false_alerts_per_1000 / 1000.0,
        policy.sensitivity,
        ready[cut],
        floor,
        lambda z: float(from_model_space(z, counts)),
        accepted,
        clock=() if grid.local is not None else tuple(c - start for c in grid.clock if start <= c <= end),
        per_hour=int(pd.Timedelta(hours=1) / grid.spacing) if grid.spacing <= pd.Timedelta(hours=1) else 0,
        counts=counts,
        origin=origin + start,
        resume=resume,
        keep_at=keep_at - start if keep_at is not None else None,
    )
    return _on_grid(judged, start, end + 1)


def _on_grid(judged: Judged, start: int, n: int) -> Judged:
    """A pass over the grid's buckets from `start` laid on the grid's first `n` positions
    (nothing judged before `start`); changes that began before the grid are left out."""
    changes = [(at + start, first + start, shift) for at, first, shift in judged.changes if first + start >= 0]
    returns = [at + start for at in judged.returns if at + start >= 0]
    if start == 0:
        return replace(judged, changes=changes, returns=returns)

    def padded(column: np.ndarray) -> np.ndarray:
        out = np.full(n, np.nan) if column.dtype.kind == "f" else np.zeros(n, column.dtype)
        out[start:] = column
        return out

    columns = {f.name: padded(v) for f in fields(judged) if isinstance(v := getattr(judged, f.name), np.ndarray)}
    return Judged(**columns, changes=changes, returns=returns, carried=judged.carried)


def fit_at(judged: Judged, t: int, periods: tuple[int, ...], counts: bool) -> Fit | None:
    """What the filter found at bucket `t`, as a Fit for the verdict (None: not judged)."""
    if np.isnan(judged.expected[t]):
        return None
    expected = float(judged.expected[t])
    label = f"state(periods={','.join(map(str, periods))})" if periods else "state(non-seasonal)"
    change = next(((at, first, shift) for at, first, shift in reversed(judged.changes) if at < t), None)
    if judged.reverted[t]:  # the counts went back to where they were before that change
        label, change = label + "; back at the level before its last change", None
    elif change is not None and any(change[0] <= at < t for at in judged.returns):
        change = None  # reverted since: no change to speak of
    before = float(from_model_space(expected - change[2], counts)) if change else 0.0
    return Fit(
        expected,
        float(judged.scale[t]),
        float(judged.run_score[t]),
        int(judged.run_length[t]) if not np.isnan(judged.run_length[t]) else 1,
        label,
        upper_k=float(judged.k_high[t]),
        shift_at=change[1] if change else None,
        shift=float(from_model_space(expected, counts)) / max(before, 1e-9) if change else None,
        bursty=bool(judged.bursty[t]),
    )
