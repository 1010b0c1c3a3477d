"""The seasonal profile: what each bucket of the cycle adds to the level, on the count scale.

Assumes the table's rhythm is a daily shape plus a weekday effect, both additive on the count
scale (multiplicative in rows: a weekend at 30 % of a weekday scales every hour alike), plus an
hour-of-week correction for tables whose weekend hours have a shape of their own. Each part is
a running mean of what the buckets of its slot showed beyond the level, learned at once from the
first cycles (a mean of all seen so far) and then forgetting over PROFILE_MEMORY cycles, so a
rhythm that slowly changes is followed. The hour-of-week correction is weighted by
n / (n + SHRINK) after n weeks: with one week known it moves the profile halfway, so one odd
week cannot teach the profile a new shape. Buckets judged anomalous are not learned from.
"""

from __future__ import annotations

import numpy as np

# Cycles a slot's estimate remembers (a running mean of the first ones, then this long a memory).
PROFILE_MEMORY = 6
# Weeks of evidence at which the hour-of-week correction carries half its weight.
SHRINK = 1.0


class Profile:
    """The profile of `short` slots (hours of a day), `blocks` blocks of them (days of a week)
    and their product (hours of a week); `short` alone for a single period, nothing without one."""

    def __init__(self, periods: tuple[int, ...]):
        self.short = min(periods) if periods else 1
        self.long = max(periods) if periods else 1
        self.blocks = self.long // self.short if self.long % self.short == 0 else 1
        self.a = np.zeros(self.short)  # per phase of the short period
        self.na = np.zeros(self.short)
        self.b = np.zeros(self.blocks)  # per block (weekday) of the long period
        self.nb = np.zeros(self.blocks)
        self.c = np.zeros(self.long if self.blocks > 1 else 1)  # per phase of the long period
        self.nc = np.zeros(len(self.c))

    def start(self, phases: np.ndarray, beyond_level: np.ndarray) -> None:
        """Set the profile from the first cycles at once (medians of each slot, then of each
        block of what the slots leave): learning bucket by bucket from nothing lets the level
        and the profile chase the same first weekend."""
        short = phases % self.short
        for i in range(self.short):
            seen = beyond_level[short == i]
            if len(seen):
                self.a[i], self.na[i] = float(np.median(seen)), min(len(seen), PROFILE_MEMORY)
        if self.blocks > 1:
            rest = beyond_level - self.a[short]
            block = (phases // self.short) % self.blocks
            for j in range(self.blocks):
                seen = rest[block == j]
                if len(seen):
                    self.b[j], self.nb[j] = float(np.median(seen)), min(len(seen), PROFILE_MEMORY * self.short)

    def slots(self, phase: int) -> tuple[int, int, int]:
        """(short phase, block, long phase) of a bucket at `phase` of the long period."""
        return phase % self.short, (phase // self.short) % self.blocks, phase % len(self.c)

    def value(self, phase: int) -> float:
        i, j, k = self.slots(phase)
        weight = self.nc[k] / (self.nc[k] + SHRINK) if self.blocks > 1 else 0.0
        return self.a[i] + self.b[j] + weight * self.c[k]

    def known(self, phase: int) -> bool:
        """Whether the slot of this bucket was ever seen."""
        return self.na[phase % self.short] > 0

    def learn(self, phase: int, beyond_level: float) -> None:
        """Learn from a bucket that showed `beyond_level` above the level."""
        i, j, k = self.slots(phase)
        self.na[i] += 1
        self.a[i] += (beyond_level - self.a[i] - self.b[j]) / min(self.na[i], PROFILE_MEMORY)
        if self.blocks > 1:
            # a day's worth of buckets per block: its memory is counted in cycles of the long period
            self.nb[j] += 1
            self.b[j] += (beyond_level - self.a[i] - self.b[j]) / min(self.nb[j], PROFILE_MEMORY * self.short)
            self.nc[k] += 1
            rest = beyond_level - self.a[i] - self.b[j]
            self.c[k] += (rest - self.c[k]) / min(self.nc[k], PROFILE_MEMORY)
