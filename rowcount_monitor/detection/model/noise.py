"""The noise: how far the model's own one-step-ahead forecasts miss, and the thresholds that
give the false-alert rate a policy asks for.

Assumes the misses of normal buckets are exchangeable over the last NOISE_CYCLES cycles: their
spread is a running mean absolute miss (what a Gaussian's standard deviation would be), learned
from buckets judged normal only, so an incident does not widen the band for the next one. The
threshold starts from the Gaussian quantile of the per-bucket rate the budget allows and is
raised by how much heavier the table's tails are: the TAIL_QUANTILE of the misses of normal
buckets over TAIL_CYCLES cycles, in today's spread, against the Gaussian's, once TAIL_SUPPORT of
them are known (a conformal check on the model's own out-of-sample errors). The misses are kept
as they were, not in the spread of their own day: a young spread, set from a handful of changes
between cycles, would otherwise make its first weeks' misses look like heavy tails for as long
as the tail remembers them. A table that went beyond that threshold on one side
in TAIL_EVENTS separate episodes within TAIL_CYCLES cycles bursts routinely: its bursts' excesses
over the threshold are taken as exponential, and that side's threshold is raised to where the
largest of that many such bursts is expected to reach (threshold + mean excess x ln n), so a
burst the table makes routinely does not page and one well beyond them does. Counts add
their sampling noise: a band is never narrower than Poisson noise allows (transform.py makes
that about one unit at small counts).
"""

from __future__ import annotations

import math
from collections import deque
from functools import lru_cache
from statistics import NormalDist

import numpy as np
from scipy.stats import t as student

# Cycles of the shortest period the spread remembers.
NOISE_CYCLES = 8
# The tail check: the share of normal misses inside the quantile compared, and how many it needs.
TAIL_QUANTILE = 0.99
TAIL_SUPPORT = 150
# Episodes beyond the threshold on one side, within this many cycles, that make a table bursty.
TAIL_EVENTS = 5
TAIL_CYCLES = 30
_GAUSS = NormalDist()
_MEAN_ABS = float(np.sqrt(np.pi / 2))  # standard deviation / mean absolute deviation, for a Gaussian


@lru_cache(maxsize=256)
def gaussian_k(rate: float) -> float:
    """How many standard deviations a two-sided test may allow to fire at `rate` per bucket."""
    return _GAUSS.inv_cdf(1 - rate / 2)


@lru_cache(maxsize=4096)
def _predictive_k(rate: float, support: int) -> float:
    """The threshold for a spread estimated from `support` misses: Student's t with one degree
    of freedom fewer, widened for the next bucket's own miss."""
    if support >= 1000:
        return gaussian_k(rate)
    return float(student.ppf(1 - rate / 2, max(support - 1, 1))) * float(np.sqrt(1 + 1 / max(support, 1)))


def _quantiles(x: np.ndarray, qs: tuple[float, ...]) -> list[float]:
    """np.quantile's (linear) quantiles of `x`, the same to the last bit, at a third of its cost."""
    ordered, n, out = np.sort(x), len(x), []
    for q in qs:
        at = q * (n - 1)
        below = math.floor(at)
        a, b, share = float(ordered[below]), float(ordered[min(below + 1, n - 1)]), at - below
        out.append(b - (b - a) * (1 - share) if share >= 0.5 else a + (b - a) * share)
    return out


_DEGREES = (2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0, 15.0, 30.0, np.inf)


@lru_cache(maxsize=64)
def _t_table(rate: float) -> tuple[np.ndarray, np.ndarray]:
    """For each candidate degrees of freedom: the ratio of the |t| quantiles TAIL_QUANTILE / 90 %,
    and the ratio of the |t| quantile at `rate` to the TAIL_QUANTILE one."""
    shape, reach = [], []
    for nu in _DEGREES:

        def q(p: float, nu: float = nu) -> float:
            return _GAUSS.inv_cdf(p) if np.isinf(nu) else float(student.ppf(p, nu))

        high = q(0.5 + TAIL_QUANTILE / 2)
        shape.append(high / q(0.95))
        reach.append(q(1 - rate / 2) / high)
    return np.array(shape), np.array(reach)


class Spread:
    """A running mean absolute miss over `memory` misses, as the standard deviation a Gaussian
    with that mean absolute deviation has, never below `floor`."""

    def __init__(self, floor: float, memory: int = 8 * 24):
        self.floor = floor  # the least spread (the transform's unit for counts)
        self.memory = memory
        self.mean_abs = 0.0
        self.n = 0
        self.support = 0  # the misses (or changes) the spread rests on

    @property
    def known(self) -> bool:
        return self.n >= 3

    def scale(self) -> float:
        spread, floor = _MEAN_ABS * self.mean_abs, self.floor
        return floor if floor > spread else spread

    def learn(self, miss: float, limit: float = np.inf) -> None:
        """Learn from a miss; one beyond `limit` counts as `limit`."""
        size = -miss if miss < 0 else miss  # (written out: this runs several times a bucket)
        self.n += 1
        self.support += 1
        self.mean_abs += ((limit if limit < size else size) - self.mean_abs) / (
            self.memory if self.memory < self.n else self.n
        )


class Noise(Spread):
    """The spread of a table's misses, their tails and its routine bursts (the thresholds)."""

    def __init__(self, floor: float, memory: int = 8 * 24, tail_memory: int = 30 * 24, burst_length: int = 6):
        super().__init__(floor, memory)
        self.burst_length = burst_length  # the longest episode that is a burst, not a stretch of misfit
        self.tail_memory = tail_memory
        self.recent: deque[float] = deque(maxlen=max(tail_memory, TAIL_SUPPORT))  # |misses| (count scale)
        self.episodes: deque[list[float]] = deque()  # [last bucket, side, peak, first bucket] of each episode
        self._tail = 0.0
        self._since = 24
        self._bursts: dict[int, tuple[float, float]] | None = (
            None  # mean peak and log count of each side, until the episodes change
        )

    def start(self, changes: np.ndarray) -> None:
        """Set the spread from the changes between buckets a cycle apart (each the difference of
        two misses: sqrt(2) spreads), held as the evidence of a few buckets only: the misses of
        forecasts made afterwards take over within a cycle."""
        changes = changes[~np.isnan(changes)]
        if len(changes) >= 3:
            mad = float(np.median(np.abs(changes - np.median(changes))))
            self.mean_abs, self.n, self.support = float(mad / 0.6745 / np.sqrt(2) / _MEAN_ABS), 3, len(changes)

    def learn(self, miss: float, limit: float = np.inf) -> None:
        """Learn from the miss (observed - expected, count scale) of a bucket judged normal. One
        beyond `limit` (a burst within the table's allowance) counts as `limit` in the spread and
        not at all in the tails: the bursts have a stage of their own (burst()), and a tail fit
        that took them in would widen the band on both sides."""
        if self.n >= 3 and abs(miss) <= limit:
            self.recent.append(abs(miss))
            self._since += 1
        super().learn(miss, limit)

    def threshold(self, rate: float) -> float:
        """The threshold (in spreads) a two-sided test may use to fire at `rate` per bucket."""
        if len(self.recent) < TAIL_SUPPORT:  # a spread from few misses is itself uncertain
            return max(gaussian_k(rate), _predictive_k(rate, self.support))
        if self._since >= 24:  # recomputed a day of hourly buckets at a time
            scale = max(self.scale(), 1e-9)  # the misses' quantiles in today's spread
            q90, high = (q / scale for q in _quantiles(np.fromiter(self.recent, float), (0.9, TAIL_QUANTILE)))
            shape, reach = _t_table(rate)
            # the shapes fall as the degrees of freedom grow: the t whose shape the misses show
            self._tail = float(high * np.interp(-high / max(q90, 1e-12), -shape, reach))
            self._since = 0
        plain = gaussian_k(rate)
        return plain if plain > self._tail else self._tail

    def observe(self, t: int, r: float, k: float) -> None:
        """Note a bucket `t` judged with standardised miss `r` against threshold `k`: runs of
        buckets beyond it on one side are one episode."""
        while self.episodes and self.episodes[0][0] < t - self.tail_memory:
            self.episodes.popleft()
            self._bursts = None
        if abs(r) <= k:
            return
        self._bursts = None
        side = 1 if r > 0 else -1
        last = self.episodes[-1] if self.episodes else None
        if last is not None and last[1] == side and last[0] == t - 1:
            last[0], last[2] = t, max(last[2], abs(r))
        else:
            self.episodes.append([t, side, abs(r), t])

    def burst(self, side: int, k: float) -> float:
        """The threshold a routinely bursting side needs over the plain threshold `k`: `k` plus
        the mean excess of its bursts over it times the log of their number (the expected largest
        of that many exponential excesses), else 0 for a side that does not burst routinely."""
        if self._bursts is None:
            self._bursts = {}
            for s in (-1, 1):
                peaks = [p for last, e, p, first in self.episodes if e == s and last - first < self.burst_length]
                self._bursts[s] = (
                    (sum(peaks) / len(peaks), float(np.log(len(peaks)))) if len(peaks) >= TAIL_EVENTS else (0.0, 0.0)
                )
        mean_peak, log_n = self._bursts[side]
        return k + (mean_peak - k) * log_n if mean_peak > k else 0.0
