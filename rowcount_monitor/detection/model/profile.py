"""The seasonal profile: what each bucket of the cycle adds to the level, on the count scale.

Assumes the table's rhythm is a daily shape plus a weekday effect, both additive on the count
scale (multiplicative in rows: a weekend at 30 % of a weekday scales every hour alike), plus
each slot of the week's own departure from their sum; and that its days begin at its own
midnight, which need not be the grid's (a New York business in a UTC grid starts its Saturday
at 05:00): found from the first week. The two parts are running means of what the buckets of
their slot showed beyond the level, learned at once from the first cycles (a mean of all seen
so far) and then forgetting over PROFILE_MEMORY cycles, so a rhythm that slowly changes is
followed; the weekday effect is learned from loaded buckets only (the hours a nightly batch
does not run say nothing about its weekends).

A slot of the week keeps a robust running mean of what it shows beyond the two parts, and the
profile uses an empirical-Bayes share of it (shrink()): where the slots' means spread no more
than their own noise, the two parts draw the rhythm and the slots are hardly used; where they
cannot (busy weekday afternoons, weekend afternoons as quiet as the nights), the slots are
used almost whole, learned from every week without a miss having to page first.

A slot of the week that was empty the last RECURS times is expected empty. Buckets judged
anomalous are not learned from, unless the same slot of the week missed by as much the cycle
before: that load is the slot's rhythm, its mean used whole from then on, not paged every week.
A miss counts here beyond the Gaussian threshold at the budget's rate, not the tail fit's: the
tails' allowance is for noise, and noise does not recur at one slot a week later (a weekly job
inside a heavy-tailed table's band is its rhythm too).
"""

from __future__ import annotations

import numpy as np

from ..models import nan_median  # np.median's value without its overhead (a start takes some 200)

# Cycles a slot's estimate remembers (a running mean of the first ones, then this long a memory):
# an hour of the day a week of days, a weekday or a slot of the week seven weeks.
PROFILE_MEMORY = 7
# A slot whose expectation is at most this (count scale: about 0.1 rows) is empty.
EMPTY = 0.5
# What recurs this many times in a row is the table's rhythm: an empty slot of the week is
# expected empty, a month-end effect is used (calendar_effects.py).
RECURS = 2
# A slot of the week's mean moves by at most this many spreads a week (a Huber mean): one odd
# week, a burst or a holiday, does not draw the slot away from its rhythm.
SLOT_CLIP = 2.0
# A day that starts other than at the grid's midnight is taken when it fits the first week's
# weekday effect this much better (a share of the misfit left).
DAY_START_GAIN = 0.1


def slot_share(weeks: int) -> float:
    """The variance of a slot's running mean after `weeks` weeks, in the noise's: the sum of its
    weeks' squared weights, 1/n while it fills its PROFILE_MEMORY and from then on falling toward
    1/(2 PROFILE_MEMORY - 1) by (1 - 1/PROFILE_MEMORY)^2 a week."""
    if weeks <= PROFILE_MEMORY:
        return 1 / weeks if weeks else 0.0
    steady = 1 / (2 * PROFILE_MEMORY - 1)
    return steady + (1 / PROFILE_MEMORY - steady) * (1 - 1 / PROFILE_MEMORY) ** (2 * (weeks - PROFILE_MEMORY))


class Profile:
    """The profile of `short` slots (hours of a day), `blocks` blocks of them (days of a week)
    and their product (hours of a week); `short` alone for a single period, nothing without one."""

    def __init__(self, periods: tuple[int, ...]):
        self.short = min(periods) if periods else 1
        self.long = max(periods) if periods else 1
        self.blocks = self.long // self.short if self.long % self.short == 0 else 1
        # plain lists, not arrays: the filter reads and writes them bucket by bucket
        self.a = [0.0] * self.short  # per phase of the short period
        self.na = [0] * self.short
        self.b = [0.0] * self.blocks  # per block (weekday) of the long period
        self.nb = [0] * self.blocks
        self.day_starts = 0  # the phase of the short period at which a block (a day) begins
        self.empty_run = [0] * self.long  # times in a row each phase was empty
        self.last_miss: list[float | None] = [None] * self.long  # beyond the level, where a phase last missed
        self.slot = [0.0] * self.long  # each slot of the week's mean beyond the two parts
        self.n_slot = [0] * self.long  # weeks it was learned from
        self.own = [False] * self.long  # its miss recurred: its mean is used whole
        self.spread = np.inf  # the noise's, as shrink() last saw it
        self.weight = [0.0] * self.long  # the share of it the profile uses (shrink())

    def start(self, phases: np.ndarray, beyond_level: np.ndarray, level: float, counts: bool = True) -> None:
        """Set the profile from the first cycles at once (medians of each slot, then of each
        block of what the slots leave): learning bucket by bucket from nothing lets the level
        and the profile chase the same first weekend."""
        short = phases % self.short
        for i in range(self.short):
            seen = beyond_level[short == i]
            if len(seen):
                self.a[i], self.na[i] = nan_median(seen), min(len(seen), PROFILE_MEMORY)
        if self.blocks > 1:
            a = np.array(self.a)[short]
            rest = beyond_level - a
            loaded = level + a > EMPTY if counts else np.ones(len(phases), bool)
            fits = []
            for starts in range(self.short):
                block = ((phases - starts) // self.short) % self.blocks
                medians = np.zeros(self.blocks)
                for j in range(self.blocks):
                    seen = rest[(block == j) & loaded]
                    medians[j] = nan_median(seen) if len(seen) else 0.0
                fits.append((float(np.sum(np.abs(rest - medians[block])[loaded])), starts, medians))
            best = min(fits, key=lambda fit: fit[0])
            if best[0] < (1 - DAY_START_GAIN) * fits[0][0]:
                self.day_starts, self.b = best[1], best[2].tolist()
            else:
                self.b = fits[0][2].tolist()
            block = ((phases - self.day_starts) // self.short) % self.blocks
            for j in range(self.blocks):
                self.nb[j] = min(int(np.sum((block == j) & loaded)), PROFILE_MEMORY * self.short)
            rest = (rest - np.array(self.b)[block])[loaded]
            week = (phases % self.long)[loaded]
            if len(rest) >= 3:
                bound = SLOT_CLIP * 1.4826 * float(np.median(np.abs(rest - np.median(rest))))
                for k in range(self.long):
                    seen = rest[week == k]
                    if len(seen):
                        self.slot[k] = float(np.clip(nan_median(seen), -bound, bound))
                        self.n_slot[k] = min(len(seen), PROFILE_MEMORY)

    def shrink(self, spread: float) -> None:
        """Set how much of each slot's own mean the profile uses: an empirical-Bayes shrinkage
        toward the two parts, tau^2 / (tau^2 + v), where v is the variance of the slot's mean
        (the noise's times the sum of its weeks' squared weights in the running mean: 1/n while
        it fills its memory, falling toward 1/(2 PROFILE_MEMORY - 1) only over weeks after) and
        tau^2 the spread of the slots' true means beyond the two parts (what the slots' means
        spread beyond their own v)."""
        if self.blocks < 2:
            return
        self.spread = spread
        noise = spread * spread
        v = [noise * slot_share(n) for n in self.n_slot]
        seen = [k for k in range(self.long) if self.n_slot[k] and not self.own[k]]
        if not seen:
            return
        tau = max(0.0, sum(self.slot[k] ** 2 - v[k] for k in seen) / len(seen))
        for k in range(self.long):
            self.weight[k] = 1.0 if self.own[k] else tau / (tau + v[k]) if self.n_slot[k] and tau > 0 else 0.0

    def slots(self, phase: int) -> tuple[int, int]:
        """(short phase, block) of a bucket at `phase` of the long period."""
        return phase % self.short, ((phase - self.day_starts) // self.short) % self.blocks

    def value(self, phase: int) -> float:
        short = self.short
        return (
            self.a[phase % short]
            + self.b[((phase - self.day_starts) // short) % self.blocks]
            + self.weight[phase % self.long] * self.slot[phase % self.long]
        )

    def empty(self, phase: int, seen: int = RECURS) -> bool:
        """Whether the bucket's phase of the longest period was empty each of the last `seen`
        times it was seen (RECURS: a weekday-only table's Saturday, a nightly batch's noon,
        expected empty whatever the level; once: an empty bucket there is no incident)."""
        return self.empty_run[phase % self.long] >= seen

    def saw(self, phase: int, value: float) -> None:
        """Note whether a bucket at `phase` was empty (count scale `value`)."""
        k = phase % self.long
        self.empty_run[k] = self.empty_run[k] + 1 if value <= EMPTY else 0

    def shared(self, phase: int) -> float | None:
        """The profile at `phase` without the slot's own rhythm (None: it has none)."""
        if not self.own[phase % self.long]:
            return None
        i, j = self.slots(phase)
        return self.a[i] + self.b[j]

    def forget(self, phase: int) -> None:
        """Drop the slot's own rhythm: it no longer held."""
        k = phase % self.long
        self.own[k], self.slot[k], self.n_slot[k], self.weight[k] = False, 0.0, 0, 0.0

    def missed(self, phase: int) -> float | None:
        """What a bucket at `phase` showed beyond the level the last time it was seen, where that
        missed the profile beyond the threshold (None: it did not)."""
        return self.last_miss[phase % self.long]

    def miss(self, phase: int, beyond_level: float | None) -> None:
        """Note what a bucket at `phase` showed beyond the level where it missed the profile
        beyond the threshold (None where it did not)."""
        self.last_miss[phase % self.long] = beyond_level

    def known(self, phase: int) -> bool:
        """Whether the slot of this bucket was ever seen."""
        return self.na[phase % self.short] > 0

    def learn(
        self, phase: int, beyond_level: float, level: float, counts: bool = True, recurring: bool = False
    ) -> None:
        """Learn from a bucket that showed `beyond_level` above the `level`; `recurring`: a miss
        its slot of the week made the cycle before too, which becomes the slot's own."""
        short = self.short
        i, j, k = phase % short, ((phase - self.day_starts) // short) % self.blocks, phase % self.long
        if recurring and not self.own[k]:  # all it showed is the slot's own
            self.own[k], self.weight[k] = True, 1.0
            self.slot[k], self.n_slot[k] = beyond_level - self.a[i] - self.b[j], 1
            return
        if self.blocks > 1 or self.own[k]:
            self.n_slot[k] += 1
            step = beyond_level - self.a[i] - self.b[j] - self.slot[k]
            if not self.own[k]:  # a robust mean: one odd week moves it by at most SLOT_CLIP spreads
                bound = SLOT_CLIP * self.spread
                step = -bound if step < -bound else bound if step > bound else step
            self.slot[k] += step / min(self.n_slot[k], PROFILE_MEMORY)
            beyond_level -= self.weight[k] * self.slot[k]
        self.na[i] += 1
        self.a[i] += (beyond_level - self.a[i] - self.b[j]) / min(self.na[i], PROFILE_MEMORY)
        if self.blocks > 1 and (not counts or level + self.a[i] > EMPTY):
            # a loaded slot shows what its day does; a day's worth of buckets per block: its
            # memory is counted in cycles of the long period
            self.nb[j] += 1
            self.b[j] += (beyond_level - self.a[i] - self.b[j]) / min(self.nb[j], PROFILE_MEMORY * self.short)
