"""Recurring days other than the week: the last and the first day of a month.

Assumes such a day, when it differs (a month-end close loading three times the rows), differs
the same way each month: its effect is the mean of what its past occurrences showed beyond the
rest of the model, used once it was seen RECURS times (profile.py) and all of them leaned the same way beyond
EFFECT_SIGMA standard deviations (until then, a month-end that loads three times is an
anomaly, as it should be the first time). Every bucket of the day shares the day's effect.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .profile import RECURS

# How far each occurrence must lean the same way (sigmas of the day's mean) for the effect to be used.
EFFECT_SIGMA = 3.0

NONE, FIRST, LAST = 0, 1, 2


def day_kinds(dates: pd.DatetimeIndex) -> np.ndarray:
    """FIRST, LAST or NONE for each bucket's (local) date."""
    kind = np.zeros(len(dates), np.int8)
    kind[dates.day == 1] = FIRST
    kind[dates.is_month_end] = LAST
    return kind


class CalendarEffects:
    def __init__(self) -> None:
        # per kind: the current occurrence's mean miss and bucket count, and past occurrences
        self.day_sum = [0.0, 0.0, 0.0]
        self.day_n = [0, 0, 0]
        self.day_sigma = [0.0, 0.0, 0.0]
        self.past: list[list[tuple[float, float]]] = [[], [], []]  # (mean miss, its sigma)
        self.current_day: list[object] = [None, None, None]

    def value(self, kind: int, day: object) -> float:
        """The effect on a bucket of `day`, a day of this kind (NONE: no effect)."""
        if kind == NONE:
            return 0.0
        if self.current_day[kind] != day:  # a new occurrence: the last one is complete
            self._close(kind)
            self.current_day[kind] = day
        if len(self.past[kind]) < RECURS:
            return 0.0
        seen = self.past[kind][-2 * RECURS :]
        signs = {np.sign(m) for m, s in seen}
        if len(signs) != 1 or any(abs(m) < EFFECT_SIGMA * s for m, s in seen):
            return 0.0
        return float(np.mean([m for m, _ in seen]))

    def learn(self, kind: int, day: object, miss: float, sigma: float) -> None:
        """Learn from a bucket of a FIRST or LAST day (`miss`: what it showed beyond the rest of
        the model with this effect left out)."""
        if kind == NONE:
            return
        self.value(kind, day)
        self.day_sum[kind] += miss
        self.day_n[kind] += 1
        self.day_sigma[kind] += sigma

    def _close(self, kind: int) -> None:
        n = self.day_n[kind]
        if n:
            # a day's mean miss has the spread of one bucket over sqrt(n)
            self.past[kind].append((self.day_sum[kind] / n, self.day_sigma[kind] / n / np.sqrt(n)))
        self.day_sum[kind], self.day_n[kind], self.day_sigma[kind] = 0.0, 0, 0.0
