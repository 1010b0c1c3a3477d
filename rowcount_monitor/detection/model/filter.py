"""One pass over a table's history: each bucket judged from the state the buckets before it
left, then learned from (unless judged anomalous), so a whole history is scored in one pass and
the newest bucket's verdict is the same whether it is judged alone or in a backtest.

The decision: a bucket's miss, in standard deviations of the noise, against the threshold the
false-alert budget gives (noise.py); and a run test on the mean miss of the last few buckets
(three, a quarter cycle, a whole cycle of the shortest period), whose own spread is learned
the same way, for loads that are each a little off and together clearly wrong (a short day).
The budget is the rate of each kind of test: the bucket test fires at the rate asked, and the
run tests, nested windows that all end at the tested bucket, fire together at it too (each of
the R lengths at rate/R, a union bound within the family). A run's score is reported on the
bucket test's scale (times gaussian_k(rate) / gaussian_k(rate/R)), so one threshold judges both.
The two kinds are not split further: a run counts only where the bucket leans its way, so they
seldom fire apart, and docs/detection.md measures the rate the two realise together.
The clock: at a daylight-saving change the policy's zone makes (or, without one, the United
States' or the European Union's), a table that loads on local time moves its daily rhythm by
an hour of the grid. For a cycle of the longest period after a change (a week: every slot of
the rhythm seen once) the rhythm moved either way is kept beside the rhythm as it was: a
bucket is anomalous only if it is under all three, and the buckets where they differ by
CLOCK_TELLING sigmas decide (CLOCK_EVIDENCE of them, each scored by how much better a rhythm
fits): the rhythm moves for good when a moved one fits clearly better.

A run counts only where the tested bucket itself leans (level.LEAN) the same way, and holds
no bucket flagged on its own nor one set aside (a holiday, an excluded bucket, a named incident):
a huge load, a day off or a quiet holiday must not make the normal loads after it look like a
run.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .calendar_effects import CalendarEffects
from .level import BACK, BACK_PENDING, CHANGE_EVIDENCE, LEAN, LEVEL_MEMORY, Level
from .noise import NOISE_CYCLES, TAIL_CYCLES, Noise, Spread, gaussian_k
from .profile import EMPTY, Profile

# After a daylight-saving change: where the rhythms must differ (sigmas) for a bucket to tell
# them apart, and how many telling buckets decide.
CLOCK_TELLING = 2.0
CLOCK_EVIDENCE = 6


def run_lengths(periods: tuple[int, ...]) -> tuple[int, ...]:
    """Three buckets, a quarter cycle (3 to 6) and, for a sub-daily cycle, the whole of it."""
    short = min(periods) if periods else 0
    lengths = {3, min(max(short // 4, 3), 6)} if short else {3}
    if short > 7:
        lengths.add(short)
    return tuple(sorted(lengths))


@dataclass
class Judged:
    """Per bucket (NaN or False where not judged): the forecast and spread on the count scale,
    the standardised miss and run score, the threshold, and what the level did."""

    expected: np.ndarray
    scale: np.ndarray
    score: np.ndarray
    run_score: np.ndarray
    run_length: np.ndarray
    k_low: np.ndarray
    k_high: np.ndarray
    reverted: np.ndarray  # judged under the level before the last change (the counts went back to it)
    bursty: np.ndarray  # the upper threshold was raised for the table's routine bursts
    changes: list[tuple[int, int, float]] = field(default_factory=list)  # (accepted at, first bucket, shift) per change
    returns: list[int] = field(default_factory=list)  # where the level went back to the one before a change
    carried: bytes | None = None  # the state after the bucket `keep_at` asked for (Carried, pickled)


@dataclass
class Carried:
    """Everything the filter knows after a bucket, so that a later pass resumes there instead of
    walking the history again. Positions are absolute bucket numbers (a grid's position plus its
    origin), so a state outlives the grid it was taken from."""

    through: int  # the last bucket it learned from
    profile: Profile
    level: Level
    calendar: CalendarEffects
    noise: Noise
    run_noise: list[Spread]
    recent: list[float]
    offset: int
    watch_until: int | None
    watch: dict[int, list[float]]
    changes: list[tuple[int, int, float]]
    returns: list[int]


# One loop over the buckets, each judged then learned from: split into calls per bucket, the
# pass would cost a function call per stage per bucket in the hot path of every check.
def run_filter(  # noqa: C901
    y: np.ndarray,
    phases: np.ndarray,
    days: np.ndarray,
    day_kinds: np.ndarray,
    skip: np.ndarray,
    trust: np.ndarray,
    periods: tuple[int, ...],
    rate: float,
    k_fixed: float | None,
    ready: np.ndarray,
    floor: Callable[[float], float],
    to_rows: Callable[[float], float],
    accepted: tuple[int, ...] = (),
    clock: tuple[int, ...] = (),
    per_hour: int = 1,
    counts: bool = True,
    origin: int = 0,
    resume: Carried | None = None,
    keep_at: int | None = None,
) -> Judged:
    """`y`: the counts on the count scale (NaN: missing); `phases`: each bucket's phase in the
    longest period; `days`, `day_kinds`: its (local) date and calendar kind; `skip`: buckets not
    to learn from (excluded, holidays, incidents); `trust`: buckets the user called normal
    (learned from even when they miss); `rate`: the false alerts a bucket may raise per bucket;
    `k_fixed`: a fixed threshold instead (the expert's sensitivity); `ready`: buckets with
    enough history before them to be judged; `floor(expected)`: the
    least spread at an expectation; `to_rows`: count scale to rows; `accepted`: positions from
    which the user declared the level the new normal; `clock`: positions just after a
    daylight-saving change; `per_hour`: buckets per hour (how far such a change moves a rhythm);
    `counts`: whether `y` are counts (which can be empty) or any real values; `origin`: the
    absolute number of position 0; `resume`: a state to go on from (the buckets up to its
    `through` are not walked again); `keep_at`: the position after which to keep the state
    (`Judged.carried`)."""
    n = len(y)

    def nan() -> np.ndarray:
        return np.full(n, np.nan)

    out = Judged(nan(), nan(), nan(), nan(), nan(), nan(), nan(), reverted=np.zeros(n, bool), bursty=np.zeros(n, bool))
    cycle = min(periods) if periods else 7
    lengths = run_lengths(periods)
    k_base = gaussian_k(rate) if k_fixed is None else k_fixed
    # the run tests share the rate among their lengths: a run's score on the bucket test's scale
    run_scale = 1.0 if k_fixed is not None else k_base / gaussian_k(rate / len(lengths))
    accepted_set = set(accepted)
    clock_at = set(clock)
    if resume is None:
        profile, level, calendar = Profile(periods), Level(periods), CalendarEffects()
        noise = Noise(
            0.0, NOISE_CYCLES * cycle, TAIL_CYCLES * cycle, burst_length=sorted(lengths)[min(1, len(lengths) - 1)]
        )
        # the spreads of the means of unit misses
        run_noise = [Spread(1.0 / np.sqrt(length), NOISE_CYCLES * cycle) for length in lengths]
        recent: list[float] = []  # clipped standardised misses of the latest buckets (NaN: none)
        offset = 0  # how far the rhythm moved with the clock
        watch_until: int | None = None  # while a clock change is watched (absolute): the evidence per move
        watch: dict[int, list[float]] = {}  # [telling buckets, gain] of the rhythm moved either way
        changes: list[tuple[int, int, float]] = []  # as Judged's, in absolute positions
        returns: list[int] = []
        first = int(np.argmax(ready)) if ready.any() else n
        _start(y[:first], phases[:first], skip[:first], cycle, profile, level, noise, k_base, counts, origin)
    else:
        profile, level, calendar, noise, run_noise = (
            resume.profile,
            resume.level,
            resume.calendar,
            resume.noise,
            resume.run_noise,
        )
        recent, offset, watch_until, watch = resume.recent, resume.offset, resume.watch_until, resume.watch
        changes, returns = resume.changes, resume.returns
        first = resume.through - origin + 1
    keep = -1  # the state is kept as the loop reaches this position (the one after keep_at)
    started = resume is not None or first < n  # a state before the first bucket judged is no state
    if started and keep_at is not None and keep_at >= first - 1:
        keep = keep_at + 1

    def carry(through: int) -> bytes:
        state = Carried(
            through, profile, level, calendar, noise, run_noise, recent[-max(lengths) :], offset, watch_until, watch,
            changes, returns,
        )  # fmt: skip
        return pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)

    # plain Python values in the loop: indexing numpy arrays bucket by bucket costs most of a pass
    ys, phase_of, kinds, dates = y.tolist(), phases.tolist(), day_kinds.tolist(), days.tolist()
    skips, trusted = skip.tolist(), trust.tolist()
    rows: list[tuple[int, float, float, float, float, int, float, float, bool]] = []  # per judged bucket, as Judged's
    for t in range(first, n):
        if t == keep:
            out.carried = carry(origin + t - 1)
        at = origin + t  # the bucket's absolute position: what the stages remember
        value = ys[t]
        if value != value:  # NaN: a missing count
            recent.append(np.nan)
            continue
        if t in clock_at and per_hour:
            watch_until, watch = at + profile.long, {-per_hour: [0, 0.0], per_hour: [0, 0.0]}
        if watch_until is not None and at >= watch_until:
            watch_until = None
        phase, kind, day = phase_of[t] + offset, kinds[t], dates[t]
        if at % cycle == 0 and noise.known:  # how much of each slot of the week to use, once a cycle
            profile.shrink(noise.scale())
        effect = calendar.value(kind, day)
        if not level.n:
            level.value, level.n = value - effect, 1
            recent.append(np.nan)
            continue
        if t in accepted_set:
            level.accept(at, value - effect - profile.value(phase) - level.value)
        season = profile.value(phase) + effect
        empty = counts and profile.empty(phase)
        expected = 0.0 if empty else level.value + season
        if counts:  # no count is below zero rows
            expected = max(expected, 0.0)
        scale = max(noise.scale(), floor(expected))
        r = (value - expected) / scale
        quiet = counts and value <= EMPTY and profile.empty(phase, seen=1)
        if quiet:  # empty where the same slot of the cycle was empty the last time: its rhythm
            expected, r = 0.0, 0.0
        k_even = noise.threshold(rate) if k_fixed is None else k_fixed
        k_low = k_high = k_even
        if k_fixed is None:
            k_low, k_high = max(k_even, noise.burst(-1, k_even)), max(k_even, noise.burst(1, k_even))
        k = k_high if r > 0 else k_low
        # the slot's load the last time it missed beyond the Gaussian threshold: made again, its
        # rhythm (the tails' allowance is for noise, and noise does not recur at a slot a week on)
        before, recurring = profile.missed(phase), False
        if before is not None and abs(r) > k_base and abs(value - level.value - effect - before) <= k_base * scale:
            expected, recurring = level.value + effect + before, True
            r = (value - expected) / scale
            k = k_high if r > 0 else k_low
        shared = profile.shared(phase)  # a slot's own rhythm that did not hold: the days' again
        if shared is not None and abs(r) > k_base and abs(value - level.value - effect - shared) <= k_base * scale:
            expected = level.value + effect + shared
            r = (value - expected) / scale
            k = k_high if r > 0 else k_low
            profile.forget(phase)
        earlier = level.earlier(at)
        back = (
            level.back_to(at, r, (value - earlier - season) / scale, min(k_low, k_high)) if earlier is not None else 0
        )
        if back and earlier is not None:  # at the level before the last change: judged under it
            out.reverted[t] = True
            if back == BACK:
                returns.append(at)
                recent.clear()
            expected = earlier + season
            r = (value - expected) / scale
            k = k_high if r > 0 else k_low
        telling = False
        if watch_until is not None and not empty:
            for move, evidence in watch.items():
                other = level.value + profile.value(phase + move) + effect
                if abs(other - expected) <= CLOCK_TELLING * scale:
                    continue
                telling = True
                r_other = (value - other) / scale
                evidence[0] += 1
                evidence[1] += float(np.clip(r * r - r_other * r_other, -25.0, 25.0))
                if abs(r_other) < abs(r):  # judged under whichever rhythm fits it
                    expected, r = other, r_other
                    k = k_high if r > 0 else k_low
            best = max(watch, key=lambda m: watch[m][1])
            seen, gain = watch[best]
            if seen >= CLOCK_EVIDENCE and gain / seen > CLOCK_TELLING**2:
                offset, watch_until = offset + best, None  # the rhythm moved with the clock
            elif all(s >= CLOCK_EVIDENCE and g / s < -(CLOCK_TELLING**2) for s, g in watch.values()):
                watch_until = None  # the rhythm as it was fits clearly better: it stayed
        judged = noise.known and profile.known(phase)
        flagged = abs(r) > k
        if not skips[t]:
            profile.miss(phase, value - level.value - effect if abs(r) > k_base or recurring else None)
        # a bucket flagged on its own, or set aside, is no part of a run: its neighbours are
        # judged on their own
        recent.append(np.nan if flagged or skips[t] else float(r))
        runs = []
        for length, spread in zip(lengths, run_noise, strict=True):
            window = recent[-length:]
            mean = sum(window) / length
            if len(window) < length or mean != mean:  # too few, or a NaN among them
                runs.append(0.0)
                continue
            runs.append(mean / spread.scale() if spread.known else 0.0)
            if not flagged and not skips[t]:
                spread.learn(mean)
        if judged:
            best = 0  # the run that leans furthest (the first such)
            for i in range(1, len(runs)):
                if abs(runs[i]) > abs(runs[best]):
                    best = i
            if not skips[t]:  # a holiday or an incident the user named is no burst of the table's
                noise.observe(at, r, k_even)
            leaning = runs[best] * r > 0 and abs(r) >= LEAN
            run = runs[best] * run_scale if leaning else 0.0
            rows.append((t, expected, scale, r, run, lengths[best], k_low, k_high, k_high > k_even))
        if skips[t] or back == BACK_PENDING:  # at the level before, or at this one: not known yet
            continue
        profile.saw(phase, value)
        if quiet:  # a slot empty again: nothing to learn about the level
            continue
        miss = value - expected
        change = level.watch(at, miss, r, to_rows) if not trusted[t] else None
        if change is not None:
            changes.append((at, change[1], change[0]))
            recent.clear()  # a run is of misses against the level as it is now
            continue
        if kind:  # a first or last day of a month
            calendar.learn(kind, day, value - level.value - profile.value(phase), scale)
        changing = max(level.up, level.down) >= CHANGE_EVIDENCE
        if (telling or changing or flagged) and not trusted[t]:
            continue
        # a burst within the table's allowance moves the state no more than an ordinary miss
        limit = np.inf if recurring or trusted[t] else k_even * scale
        # the spread of loads (not of empty slots), and not of a rhythm the profile is learning
        if (not counts or expected > EMPTY or value > EMPTY) and not recurring:
            noise.learn(miss, limit)
        miss = min(max(miss, -limit), limit)
        level.learn(miss)
        profile.learn(phase, expected + miss - effect - level.value, level.value, counts=counts, recurring=recurring)
    if keep == n:
        out.carried = carry(origin + n - 1)
    out.changes = [(a - origin, f - origin, shift) for a, f, shift in changes]  # before position 0: negative
    out.returns = [a - origin for a in returns]
    if rows:
        where, *columns = zip(*rows, strict=True)
        targets = (out.expected, out.scale, out.score, out.run_score, out.run_length, out.k_low, out.k_high, out.bursty)
        for target, column in zip(targets, columns, strict=True):
            target[list(where)] = column
    return out


def _start(
    y: np.ndarray,
    phases: np.ndarray,
    skip: np.ndarray,
    cycle: int,
    profile: Profile,
    level: Level,
    noise: Noise,
    k: float,
    counts: bool,
    origin: int,
) -> None:
    """The state at the first bucket judged, from the buckets before it at once: the level is
    the median of the loads among them (empty buckets are the profile's), the profile the medians of its slots around it, the noise from the changes
    between buckets a cycle apart (a fit's own residuals understate it). Their bursts beyond
    `k` count toward the noise's episodes: a table bursts from its first days."""
    use = ~np.isnan(y) & ~skip
    if use.sum() < 3:
        return
    values, at = y[use], phases[use]
    loads = values[values > EMPTY] if counts else values
    level.value, level.n = float(np.median(loads if len(loads) else values)), LEVEL_MEMORY
    profile.start(at, values - level.value, level.value, counts)
    season = np.array([profile.value(int(p)) for p in at])
    loaded = values > EMPTY if counts else np.ones(len(values), bool)
    if loaded.any():
        level.value += float(np.median((values - level.value - season)[loaded]))
    clean = np.where(use, y, np.nan)
    for t in np.flatnonzero(use):
        profile.saw(int(phases[t]), y[t])
    loaded = clean > EMPTY if counts else ~np.isnan(clean)
    pairs = clean[cycle:] - clean[:-cycle] if len(clean) > cycle else clean[:0]
    noise.start(pairs[loaded[cycle:] | loaded[:-cycle]] if len(clean) > cycle else pairs)
    if noise.known:
        for t in np.flatnonzero(use):
            miss = y[t] - level.value - profile.value(int(phases[t]))
            noise.observe(origin + int(t), miss / max(noise.scale(), 1e-9), k)
            # a miss beyond the threshold here is remembered: made again, it is the slot's rhythm
            profile.miss(int(phases[t]), y[t] - level.value if abs(miss) > k * noise.scale() else None)
