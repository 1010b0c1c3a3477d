"""The level: where the table's counts sit once the profile is taken out, on the count scale.

Assumes the level drifts slowly (growth) and sometimes changes for good (a new source, a
migration). Drift is followed by a running mean of what normal buckets show beyond the profile,
forgetting over LEVEL_MEMORY buckets. A change is a CUSUM excursion of the standardised misses
(each bucket adds what it leans beyond LEAN sigmas) beyond CHANGE_EVIDENCE; it becomes
the new level only after it held for `hold` buckets (a cycle of the shortest period: a day of
an hourly table, three loads of a daily one) with its latest third still leaning the same way.
A change to under OUTAGE_SHARE of the rows is an outage, never a new level.

For REVERT_CYCLES cycles after a change the level before it stays known, and going back to it
is tested the same way, the other way round: a CUSUM of how much better each bucket fits it
than the current level. A bucket that fits it better, once that case is made, is judged under
it (a return to the level before a change is never an anomaly); the level goes back to it only
once that held for `hold` buckets with the latest third of them fitting it better on the whole.
A dip that lands near the old level for less than that (a short day after a step up) leaves the
level where it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from statistics import median  # np.median's value for a short list, without an array's cost

# Buckets the level remembers.
LEVEL_MEMORY = 24
# A bucket leans a way when it misses by LEAN sigmas or more: the CUSUM's allowance per bucket
# (and, in filter.py, what a bucket must show to be part of a run).
LEAN = 1.0
# The CUSUM evidence that starts a pending change.
CHANGE_EVIDENCE = 8.0
# A change to under this share of the rows the table had is an outage, never a new normal.
OUTAGE_SHARE = 0.1
# How long the level before an accepted change stays known, in cycles of the shortest period.
REVERT_CYCLES = 7
# back_to's answers: the bucket fits the level before the last change (which has not held yet),
# and the level went back to it.
BACK_PENDING, BACK = 1, 2


def hold_for(periods: tuple[int, ...]) -> int:
    """Buckets a change must hold: a cycle of the shortest period (a day of hourly buckets),
    three loads of a daily table."""
    return min(periods) if periods and min(periods) > 7 else 3


@dataclass
class Earlier:
    """The level before the last accepted change, and the case that the counts went back to it."""

    value: float
    accepted_at: int  # where the change it preceded was accepted
    evidence: float = 0.0  # the CUSUM of how much better buckets fit it than the current level
    since: int | None = None  # where that evidence began
    gains: list[float] = field(default_factory=list)  # each bucket's share of it since then


class Level:
    def __init__(self, periods: tuple[int, ...]):
        self.value = 0.0  # known once n > 0
        self.n = 0
        self.hold = hold_for(periods)
        self.revert_for = REVERT_CYCLES * (min(periods) if periods else 7)
        self.up = self.down = 0.0  # CUSUM sums
        self.started: int | None = None  # where the current excursion began
        self.misses: list[tuple[int, float, float]] = []  # (position, miss, standardised) since it began
        self.before: Earlier | None = None

    def pending(self) -> bool:
        return self.started is not None

    def learn(self, miss: float) -> None:
        """Follow drift from a bucket judged normal that missed the forecast by `miss`."""
        self.n += 1
        self.value += miss / min(self.n, LEVEL_MEMORY)

    def watch(self, t: int, miss: float, r: float, to_rows: Callable[[float], float]) -> tuple[float, int] | None:
        """Feed the CUSUM with a bucket's miss (count scale) and standardised miss `r`. Returns
        (shift, first bucket) when a sustained change is accepted (the level has moved by
        `shift`), else None. `to_rows` maps a count-scale value to rows (the outage test)."""
        r = min(max(float(r), -CHANGE_EVIDENCE / 2), CHANGE_EVIDENCE / 2)  # one bucket is no change
        up, down = self.up + r - LEAN, self.down - r - LEAN
        self.up, self.down = (up if up > 0.0 else 0.0), (down if down > 0.0 else 0.0)
        if self.up == 0.0 and self.down == 0.0:
            self.started, self.misses = None, []
            return None
        if self.started is None:
            self.started = t
        self.misses.append((t, miss, r))
        back = max(self.hold // 3, 3)
        if len(self.misses) >= back and abs(median([rr for _, _, rr in self.misses[-back:]])) < LEAN:
            self.reset()  # the counts are back where they were: the excursion ended without a change
            return None
        if max(self.up, self.down) < CHANGE_EVIDENCE or t - self.started + 1 < self.hold:
            return None
        sign = 1.0 if self.up > self.down else -1.0
        standardised = [rr for _, _, rr in self.misses[-max(self.hold // 3, 1) :]]
        if sign * median(standardised) < LEAN:
            return None
        shift = median([m for _, m, _ in self.misses[-self.hold :]])
        if sign < 0 and to_rows(self.value + shift) < OUTAGE_SHARE * to_rows(self.value):
            return None
        first = self.started
        self.accept(t, shift)
        return shift, first

    def accept(self, t: int, shift: float) -> None:
        """Take the level `shift` higher from bucket `t` on. A change whose excursion began right
        where the last one was accepted continues it (a closure of two days is taken for two
        changes in turn): the level to go back to stays the one before the first."""
        continues = self.before is not None and self.started is not None and self.started <= self.before.accepted_at + 1
        self.before = Earlier(self.before.value if continues and self.before is not None else self.value, t)
        self.value += shift
        self.reset()

    def reset(self) -> None:
        self.up = self.down = 0.0
        self.started, self.misses = None, []

    def back_to(self, t: int, r: float, r_before: float, k: float) -> int:
        """Whether bucket `t` went back to the level before the last change (module docstring):
        0 (no), BACK_PENDING (it is judged under that level, which has not held yet) or BACK
        (the level went back). `r`, `r_before`: its standardised misses against the current
        level and that one; each bucket adds half the difference of their squares to the case,
        which must exceed what one bucket beyond the threshold `k` makes."""
        before = self.before
        if before is None or self.earlier(t) is None:
            return 0
        gain = (r * r - r_before * r_before) / 2
        before.evidence = max(0.0, before.evidence + gain)
        if before.evidence == 0.0:
            if before.since is not None:  # (most buckets after a change: no list made for each)
                before.since, before.gains = None, []
        else:
            before.since = t if before.since is None else before.since
            before.gains.append(gain)
        if abs(r_before) > k or abs(r_before) >= abs(r) or before.evidence <= k * k / 2:
            return 0
        assert before.since is not None
        if t - before.since + 1 < self.hold or sum(before.gains[-max(self.hold // 3, 1) :]) <= 0.0:
            return BACK_PENDING
        self.value, self.before = before.value, None
        self.reset()
        return BACK

    def earlier(self, t: int) -> float | None:
        """The level before the last accepted change, while it is remembered."""
        before = self.before
        return before.value if before is not None and t - before.accepted_at <= self.revert_for else None
