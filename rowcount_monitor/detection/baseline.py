"""The robust seasonal baseline, `model="baseline"`.

Everything is a median, so one bad load cannot move the expectation or the band. On top of the
same-phase medians it knows the things real warehouse tables do:
a level that changes for good, a daily rhythm that moves by an hour (daylight saving), a
weekly rhythm it cannot know yet, hours that are always empty, and tables whose loads burst.
It sees only model-space numbers on a regular grid, never timestamps.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import NamedTuple

import numpy as np

from .models import (
    BASE_CYCLES,
    MIN_CYCLES,
    WEEKLY_GAIN,
    Fit,
    lagged_median,
    nan_median,
    robust_center_scale,
    row_nanmedian,
    run_horizon,
    run_horizons,
    run_score,
    spread,
    training_window,
    usable_periods,
)
from .transform import PHI, from_model_space

# A level change is sustained when CHANGE_SHARE of the buckets since it lie on the same side of
# the expectation (by CHANGE_SIDE sigmas at least) and their median lies CHANGE_SIGMA beyond it.
CHANGE_SIDE = 0.5
CHANGE_SHARE = 0.8
CHANGE_SIGMA = 2.0
# A change found is not one where re-levelling by it makes the spread this many times larger.
WORSE_FIT = 2.0
# A change the same-phase medians have followed already (it left a bump of residuals, a cycle
# or more long, some cycles back) is taken only where re-levelling by it narrows the spread to
# this share: an incident that ended leaves a bump too, and re-levelling by it widens the spread.
FOLLOWED_FIT = 0.8
# A recent change whose last this many buckets (the tested one included) are back nearer the
# old level has ended (fewer, where the change is only a few buckets long: a daily table's).
ENDED = 3
# A change to (almost) nothing is an outage, never a new normal: below this share of the old rows.
CHANGE_FLOOR = 0.1
# The daily rhythm is taken to have moved by a bucket (a daylight-saving change) when the shifted
# same-phase medians fit the last cycle this much better than the unshifted ones.
PHASE_GAIN = 0.6
# ... judged on this many of the latest telling buckets: a daylight-saving change must be
# recognised within hours, and only the ramps of a daily rhythm show it.
PHASE_TAIL = 3
# ... or, more than CLOCK_WEEK days after any daylight-saving change the engine knows of, on
# twice as many (all of them there): a rhythm moved by an hour is then a rescheduled job or a
# zone the policy does not name, rare next to three ramps fitted by chance after a short day or
# one early morning (7 of seed 3's 79 false alerts, benchmarks/corpus.py).
PHASE_TAIL_FAR = 2 * PHASE_TAIL
CLOCK_WEEK = 7
# ... each of which the moved rhythm must fit within this many sigmas: after a level change or a
# short day the plain rhythm misfits many buckets, and a moved one can fit two ramps by chance.
PHASE_MISS = 3.0
# History is moved at a daylight-saving change only on this many telling buckets since it (a
# few days of a daily rhythm's ramps): two or three can favour it by chance.
CLOCK_EVIDENCE = 6
# A table "bursts" when its loads exceeded the band upwards at least this many separate times
# in the history in reach; its upper band then reaches this far beyond its second-largest burst.
TAIL_EVENTS = 6
# ... or, with fewer cycles of its longest rhythm in reach than that (a table a few weeks old),
# once a cycle and at least this many times: one bursting weekly paged for six weeks.
MIN_TAIL_EVENTS = 4
TAIL_MARGIN = 1.25
# The spread never falls below what the TAIL_QUANTILE of the drops shows (in Gaussian units),
# measured once TAIL_SUPPORT residuals are in reach (an hourly table's third week), and never
# raised beyond TAIL_CAP times the MAD's: a few deep drops in reach (an old incident) cannot
# blind the band, and noise whose tails are heavier than Gaussian no longer pages every week.
TAIL_QUANTILE = 0.99
TAIL_SUPPORT = 300
TAIL_CAP = 1.3
_TAIL_Z = NormalDist().inv_cdf(TAIL_QUANTILE)
# The provisional band takes the longer rhythm's spread where the known rhythms' is this many
# times larger, and that spread rests on at least SUPPORT residuals.
INFLATED = 1.5
SUPPORT = 24
# A median of same-phase values at or below this (model space, ~0.1 rows) is a structurally
# empty bucket (a weekend of a weekday-only table, the hours a nightly batch does not run).
EMPTY = 0.5
PROVISIONAL = "; provisional (weekly rhythm not yet known)"
# A daily table's first weeks are judged against the same weekday so far once this many pairs
# of same-weekday neighbours measure its noise (fit_early).
EARLY_PAIRS = 7
# A load this far above its expectation (model space: five times the rows, at large counts) is
# a burst, which no rhythm predicts: it does not decide between two rhythms.
BURST = np.log(5) / np.sqrt(PHI)


class _Change(NamedTuple):
    """A level change: the bucket it began at, the shift that brings the history before it to
    the current level, and whether the same-phase medians have followed it already."""

    at: int
    shift: float
    followed: bool = False


def accept_after(periods: tuple[int, ...]) -> int:
    """Buckets a level change must hold before it is the new normal: a day of sub-daily
    buckets (one cycle of the shortest period), three loads of daily or coarser ones."""
    return min(periods) if periods and min(periods) > 7 else 3


@dataclass
class _State:
    """One pass of the baseline over the history in reach."""

    base: np.ndarray  # expected value of every bucket from `start` on (the tested one last)
    used: tuple[int, ...]
    center: float
    scale: float
    support: int  # residuals the center and scale were measured on


def fit_baseline(
    z: np.ndarray,
    periods: tuple[int, ...],
    sensitivity: float,
    counts: bool = True,
    change_at: int | None = None,
    normal: np.ndarray | None = None,
    clock_changes: tuple[int, ...] = (),
) -> Fit | None:
    """Robust seasonal baseline: same-phase medians of recent cycles.

    1. for every bucket in the training window, the median of the same phase in the previous
       five cycles: hour of day, or hour of week where that fits the history in reach at
       least a fifth better;
    2. a sustained level change in the recent history (or one accepted by the user at
       `change_at`) re-levels everything before it, keeping the seasonal shape (looked for
       against the hour-of-week rhythm too where hour of day was chosen: a level change makes
       same-weekday medians fit worse for weeks);
    3. training buckets deviating more than `sensitivity` sigmas are masked and step 1 redone
       (unless `normal` says the user called them expected);
    4. cycles before a daylight-saving change (`clock_changes`) are moved by one bucket where
       that fits the buckets since far better; the rhythm shifted by one bucket replaces it where
       that fits the last cycle far better (a change too recent for the first);
    5. the expectation is the same-phase median plus the median residual, the spread the MAD
       of the residuals of buckets that are not structurally empty, never below the count noise
       nor (up to TAIL_CAP times it) below what the table's own deepest drops show (`_tail_spread`).
    Before a longer period has three cycles but after it has one, a second fit on that period
    alone is made and the band is the union of both: a provisional band that allows for a
    weekday effect not yet known (row counts only: a signed series has no weekends to allow for).
    Where the known rhythms give no median for the tested bucket (a weekday-only table, whose
    loads next to its empty weekends they mask), the longer period's fit judges alone, once its
    spread rests on SUPPORT residuals.
    """
    usable = usable_periods(z, periods)
    pending = [p for p in periods if p not in usable and len(z) - 1 >= p]
    # before the weekly rhythm is known, a weekend is indistinguishable from a level change
    fit = _fit(
        z, usable, sensitivity, counts, change_at, normal, choose=True, changes=not pending, clock_changes=clock_changes
    )
    if not pending or not usable or not counts:
        return fit
    # one or two cycles of the longer period cannot tell a level change from its rhythm
    other = _fit(z, (pending[-1],), sensitivity, counts, change_at, normal, choose=False, changes=False)
    if fit is None:  # the known rhythms have no median here: the longer one alone, once it can
        if other is None or other.support < SUPPORT:
            return None
        return replace(other, label=other.label + PROVISIONAL, provisional=True)
    return fit if other is None else _union(fit, other, sensitivity)


def fit_early(z: np.ndarray, period: int, sensitivity: float, counts: bool) -> Fit | None:
    """A provisional band from a rhythm's first cycles (a daily table's first three weeks,
    before the weekly rhythm can be chosen): the union of the bands around each load of the same
    phase so far (one or two: one of them may be bad, and its neighbour cannot outvote it), each
    as wide as the difference of two loads is noisy, measured on the pairs of same-phase
    neighbours where there are EARLY_PAIRS of them. None before that."""
    same = z[-1 - period :: -period] if len(z) > period else z[:0]
    same = same[~np.isnan(same)]
    pairs = z[period:-1] - z[: -1 - period]
    pairs = pairs[~np.isnan(pairs)]
    if len(same) == 0 or len(pairs) < EARLY_PAIRS:
        return None
    noise = max(robust_center_scale(pairs)[1], np.sqrt(2) * _count_noise(float(np.median(same)), counts))
    lower, upper = float(same.min()) - sensitivity * noise, float(same.max()) + sensitivity * noise
    label = f"baseline(periods={period}); provisional (from {len(same)} cycle(s))"
    return Fit((lower + upper) / 2, (upper - lower) / (2 * sensitivity), 0.0, 1, label, provisional=True)


def _fit(
    z: np.ndarray,
    usable: tuple[int, ...],
    sensitivity: float,
    counts: bool,
    change_at: int | None,
    normal: np.ndarray | None,
    choose: bool,
    changes: bool,
    clock_changes: tuple[int, ...] = (),
) -> Fit | None:
    window = training_window(usable)
    horizon = run_horizon(usable)
    start = max(0, len(z) - 1 - window - horizon)
    train = z.copy()
    train[-1] = np.nan
    state = _pass(train, start, usable, counts, choose)
    change, accepted = None, None
    if change_at is not None and start <= change_at < len(z) - 1:
        change = _Change(
            change_at, float(nan_median(train[change_at:-1] - state.base[change_at - start : -1])) - state.center
        )
    elif changes:
        change = _level_change(z, train, usable, state.used, counts)
        if len(usable) > 1 and state.used != usable[-1:]:
            relevelled = _with_longer_rhythm(z, train, start, usable, counts, state)
            if relevelled is not None:
                train, state, accepted = relevelled
                z, change = np.concatenate((train[:-1], z[-1:])), None
    if change is not None and np.isfinite(change.shift):
        moved = _relevelled(train, change)
        after = _pass(moved, start, state.used, counts, choose=False)
        # a change found against same-phase medians that reach back past an older change
        # can be an artefact of it: re-levelling by it then makes the fit far worse; one the
        # medians have followed already is taken only where re-levelling clearly helps
        limit = FOLLOWED_FIT if change.followed else WORSE_FIT
        if change_at is not None or after.scale <= limit * state.scale:
            train, state, accepted = moved, after, change
            z = np.concatenate((train[:-1], z[-1:]))
    realigned = _realigned(train, z, start, state, counts, clock_changes)
    if realigned is not None:
        train, z, state = realigned
    # masked over all the history in reach (older cycles feed the same-phase medians too),
    # each bucket against the same phase two cycles either side: the first cycles have no
    # earlier ones, and one burst there must not make the normal loads after it look deviant
    around = _phase_median_around(train, state.used[0] if state.used else 1)
    deviant = np.abs(train - around - state.center) > sensitivity * state.scale
    if normal is not None:
        deviant &= ~normal
    train[deviant] = np.nan
    state = _pass(train, start, state.used, counts, choose=False)
    if np.isnan(state.base[-1]):
        return None
    base, label = _phase_shifted(train, z, state, clock_changes), ""
    if base is not state.base:
        label = "; rhythm shifted by one bucket"
    elif realigned is not None:
        label = "; history before a daylight-saving change moved by one bucket"
    # no short-term level on top: a median of the last half cycle's residuals followed a short
    # day or a slow decline within hours and hid it
    expected = float(base[-1]) + state.center
    noise = _count_noise(expected, counts)
    # the table's tails, both ways, against the same phase around each bucket with the deviant
    # ones left out: two bursts among a slot's neighbours make its normal loads look like drops
    settled = z[:-1] - _phase_median_around(train, state.used[0] if state.used else 1)[:-1] - state.center
    tail = _tail_spread(settled, sensitivity * state.scale)
    scale = max(min(tail, TAIL_CAP * state.scale), state.scale, noise)
    score, length = _run(z[start:], base, state.center, usable, counts, sensitivity * scale, noise)
    used = state.used
    name = f"baseline(periods={','.join(map(str, used))})" if used else "baseline(non-seasonal)"
    cycles = (len(z) - 1) // max(usable) if usable else TAIL_EVENTS
    upper_k = _burst_sensitivity(settled, scale, sensitivity, min(TAIL_EVENTS, max(MIN_TAIL_EVENTS, cycles)))
    fit = Fit(
        expected,
        scale,
        score,
        length,
        name + label,
        upper_k=upper_k,
        bursty=upper_k > sensitivity,
        support=state.support,
        shift_at=accepted.at if accepted else None,
        shift=float(from_model_space(expected, counts))
        / max(float(from_model_space(expected - accepted.shift, counts)), 1e-9)
        if accepted
        else None,
    )
    if not label and _just_after(clock_changes, len(z) - 1, used):
        fit = _around_clock_change(fit, train, z, start, state.center, used, counts, sensitivity, noise)
    return fit


def _with_longer_rhythm(
    z: np.ndarray, train: np.ndarray, start: int, usable: tuple[int, ...], counts: bool, state: _State
) -> tuple[np.ndarray, _State, _Change] | None:
    """(train, state, change): the history re-levelled by a level change seen against the longer
    rhythm (hour of week), where the shorter one was chosen and the longer one, re-levelled, fits
    better; None otherwise. Same-weekday medians straddle a level change for three of their five
    cycles while hour-of-day ones follow it within days: left alone, a weekly table fell back to
    its daily rhythm after a level change and paged on its weekends."""
    change = _level_change(z, train, usable, usable[-1:], counts)
    if change is None or not np.isfinite(change.shift):
        return None
    moved = _relevelled(train, change)
    after = _pass(moved, start, usable, counts, choose=True)
    if after.used != usable[-1:] or after.scale >= state.scale:
        return None
    return moved, after, change


def _relevelled(train: np.ndarray, change: _Change) -> np.ndarray:
    """`train` with the history before a level change brought to the level since it."""
    moved = train.copy()
    moved[: change.at] += change.shift
    return moved


def _run(
    loaded: np.ndarray,
    base: np.ndarray,
    center: float,
    usable: tuple[int, ...],
    counts: bool,
    limit: float,
    noise: float,
) -> tuple[float, int]:
    """The run test's score and run length: the loads (masked or not: a run of bad loads is the
    point) against their expectation (`base` + `center`), over every run length."""
    resid = loaded - base - center
    if counts:  # always-empty buckets say nothing about a run (and would shrink its spread to 0)
        resid[:-1][base[:-1] <= EMPTY] = np.nan
    runs = [(run_score(resid, h, limit, noise), h) for h in run_horizons(usable)]
    return max(runs, key=lambda r: abs(r[0]))


def _just_after(clock_changes: tuple[int, ...], tested: int, used: tuple[int, ...]) -> bool:
    """Whether the tested bucket lies within a day after a daylight-saving change, for a daily rhythm."""
    return bool(used) and used[0] >= 12 and _within_after(clock_changes, tested, 24)


def _within_after(clock_changes: tuple[int, ...], tested: int, buckets: int) -> bool:
    """Whether a daylight-saving change fell on the tested bucket or fewer than `buckets` before it."""
    return any(0 <= tested - at < buckets for at in clock_changes)


def _around_clock_change(
    fit: Fit,
    train: np.ndarray,
    z: np.ndarray,
    start: int,
    center: float,
    used: tuple[int, ...],
    counts: bool,
    k: float,
    noise: float,
) -> Fit:
    """The band widened to hold the rhythm moved by one bucket either way, and the run test
    judged against whichever rhythm fits the run best: on the day after a daylight-saving
    change a table loading in local time has moved by an hour of UTC, and until a few of its
    ramps have shown which way (`_phase_shifted`), a ramp an hour early or late is the change,
    not an incident."""
    expected, runs = [fit.expected], [(fit.run_score, fit.horizon)]
    for step in (-1, 1):
        base = _moved_base(train, start, used[0], step)
        if np.isnan(base[-1]):
            continue
        expected.append(float(base[-1]) + center)
        runs.append(_run(z[start:], base, center, used, counts, k * fit.scale, noise))
    upper_k = fit.upper_k if fit.upper_k is not None else k
    lower, upper = min(expected) - k * fit.scale, max(expected) + upper_k * fit.scale
    run = _agreed_run([r for r, _ in runs])
    horizon = next((h for r, h in runs if r == run), fit.horizon)
    return replace(
        fit,
        expected=(lower + upper) / 2,
        scale=(upper - lower) / (2 * k),
        upper_k=k,
        run_score=run,
        horizon=horizon,
        clock_band=True,
    )


def _phase_median_around(train: np.ndarray, period: int) -> np.ndarray:
    """For every bucket, the median of the same phase in the two cycles before and after it."""
    n = len(train)
    pad = np.full(2 * period, np.nan)
    padded = np.concatenate((pad, train, pad))
    shifted = [padded[2 * period + j * period : 2 * period + j * period + n] for j in (-2, -1, 1, 2)]
    return row_nanmedian(np.stack(shifted, axis=1))


def _pass(train: np.ndarray, start: int, periods: tuple[int, ...], counts: bool, choose: bool) -> _State:
    base, used = seasonal_base(train, start, periods, choose)
    resid = train[start:] - base
    loaded = base[:-1] > EMPTY if counts else np.ones(len(base) - 1, bool)
    sample = resid[:-1][loaded] if loaded.sum() >= 10 else resid[:-1]
    center, scale = robust_center_scale(sample)
    return _State(base, used, center, scale, int(np.sum(~np.isnan(resid[:-1][loaded]))))


def _count_noise(expected: float, counts: bool) -> float:
    """The spread a count has from sampling alone, in model space: the transform makes it about
    1 at small counts. A MAD of a handful of small integers can be far below it (even 0)."""
    if not counts:
        return 0.0
    return 1.0 / np.sqrt(1.0 + PHI * float(from_model_space(expected, True)))


def _level_change(
    z: np.ndarray, train: np.ndarray, usable: tuple[int, ...], used: tuple[int, ...], counts: bool
) -> _Change | None:
    """A sustained level change in the history in reach, or None.

    Looked for over three cycles of the longest period (the same-phase medians take that long
    to follow), against a pass of the baseline over them, in two shapes:
    - a recent change: from some bucket on, at least CHANGE_SHARE of the buckets up to the
      tested one (and at least accept_after of them) lie on the same side of the expectation,
      CHANGE_SIGMA beyond it in the median;
    - an older one: the buckets before some point lie so, those after it (at least
      accept_after) are the current level; its size is the gap between the two parts' median
      residuals, in the spread of the part after it (the median and spread of all residuals
      are pulled and inflated by the change itself);
    - one the medians have followed already (`_followed_change`).
    A change to (almost) nothing is an outage, never a new level."""
    need = accept_after(usable)
    first = max(0, len(z) - 1 - max(training_window(usable), MIN_CYCLES * max(usable, default=1)))
    state = _pass(train, first, used, counts, choose=False)
    resid = z[first:-1] - state.base[:-1]
    r = (resid - state.center) / state.scale
    if len(r) < 2 * need:
        return None
    tested = (z[-1] - state.base[-1] - state.center) / state.scale
    # structurally empty buckets (a weekday-only table's weekends) fit exactly: no spread
    loaded = np.where(state.base[:-1] > EMPTY, r, np.nan) if counts else r
    valid = ~np.isnan(r)
    for sign in (1.0, -1.0):
        side = valid & (sign * np.where(valid, r, 0.0) > CHANGE_SIDE)
        # a recent change: a suffix on the far side
        valid_after, side_after = np.cumsum(valid[::-1])[::-1], np.cumsum(side[::-1])[::-1]
        ok = side & (valid_after >= need) & (side_after >= CHANGE_SHARE * valid_after)
        if ok.any():
            at = int(np.argmax(ok))
            since = nan_median(r[at:])
            if (
                sign * since >= CHANGE_SIGMA * _spread_of(loaded[:at], need)
                and not _ended(np.append(r[at:], tested), since, sign)
                and _not_an_outage(z, first, at, sign < 0, counts)
            ):
                return _Change(first + at, float(nan_median(resid[at:])) - state.center)
        # an older change: a prefix on the far side, the rest at the current level
        valid_before, side_before = np.cumsum(valid), np.cumsum(side)
        ok = side & (valid_before >= need) & (side_before >= CHANGE_SHARE * valid_before)
        ok[len(r) - need :] = False
        if ok.any():
            at = int(len(ok) - 1 - np.argmax(ok[::-1])) + 1  # the first bucket after the prefix
            after = nan_median(r[at:])
            if (
                sign * (nan_median(r[:at]) - after) >= CHANGE_SIGMA * _spread_of(loaded[at:], need)
                and abs(after) < CHANGE_SIGMA / 2
                and _not_an_outage(z, first, at, sign > 0, counts)
            ):
                return _Change(first + at, float(nan_median(resid[at:]) - nan_median(resid[:at])))
    return _followed_change(z, first, r, resid, loaded, valid, state.center, usable, need, counts)


def _followed_change(
    z: np.ndarray,
    first: int,
    r: np.ndarray,
    resid: np.ndarray,
    loaded: np.ndarray,
    valid: np.ndarray,
    center: float,
    usable: tuple[int, ...],
    need: int,
    counts: bool,
) -> _Change | None:
    """A level change the same-phase medians have already followed, or None. Its loads lie
    beyond the expectation only until most of the five cycles of medians are at the new level:
    a bump of a cycle or more, some cycles back, with the residuals before and after it at zero.
    The earliest cycle-long stretch that lies on one side as a recent change must
    (fit_baseline takes it only where re-levelling narrows the spread)."""
    span = max(need, min(usable, default=0))
    if len(r) < 2 * span:
        return None
    kernel = np.ones(span)
    counted = np.convolve(valid, kernel, "valid")
    for sign in (1.0, -1.0):
        side = np.convolve(valid & (sign * np.where(valid, r, 0.0) > CHANGE_SIDE), kernel, "valid")
        ok = (counted >= need) & (side >= CHANGE_SHARE * counted)
        if not ok.any():
            continue
        at = int(np.argmax(ok))
        if sign * nan_median(r[at : at + span]) >= CHANGE_SIGMA * _spread_of(loaded[:at], need) and _not_an_outage(
            z, first, at, sign < 0, counts
        ):
            return _Change(first + at, float(nan_median(resid[at : at + span])) - center, followed=True)
    return None


def _ended(r: np.ndarray, since: float, sign: float) -> bool:
    """Whether the last ENDED of the residuals `r` since a change, the tested bucket's last
    (all but the first two, where there are fewer), are back nearer the level before it than
    the one after it (`since`: the median of the change's own): a short day or an outage that
    has ended, not a new level (accepting it would judge the recovered loads against the level
    it left). Two bad daily loads and a normal one a sigma to the same side are three loads
    beyond the expectation whose median is the bad level: only the last ones show the end."""
    last = min(ENDED, max(1, len(r) - 2))
    return bool(sign * nan_median(r[-last:]) < sign * since / 2)


def _spread_of(r: np.ndarray, need: int) -> float:
    """The spread of the residuals on one side of a change, the side the test measures from (in
    units of the spread over all of them, which the change itself inflates: a third of the
    buckets 1.5 times their old level), where there are `need` of them; never above 1."""
    if np.sum(~np.isnan(r)) < need:
        return 1.0
    return min(1.0, robust_center_scale(r)[1])


def _not_an_outage(z: np.ndarray, first: int, at: int, drop: float, counts: bool) -> bool:
    """False where the level after bucket `at` is (almost) nothing next to the level before."""
    if not (counts and drop):
        return True
    before = nan_median(z[first : first + at]) if at else np.nan
    after = nan_median(z[first + at : -1])
    return bool(before > 0) and bool(from_model_space(after, True) >= CHANGE_FLOOR * from_model_space(before, True))


def _phase_shifted(train: np.ndarray, z: np.ndarray, state: _State, clock_changes: tuple[int, ...]) -> np.ndarray:
    """The base with the rhythm moved one bucket earlier or later, where that fits the latest
    telling buckets far better (loads kept in local time while buckets are UTC move an hour at
    each daylight-saving change; the same-phase medians take three cycles to follow). Telling
    buckets are those where the moved rhythm differs from the plain one, a daily rhythm's ramps:
    the last PHASE_TAIL of them within two days decide (PHASE_TAIL_FAR away from the week after
    a known change), as loaded (`z`: masking would hide exactly the buckets that tell)."""
    if not state.used or state.used[0] < 12:
        return state.base
    period = state.used[0]
    day = 24 if period % 24 == 0 else period
    near = _within_after(clock_changes, len(z) - 1, CLOCK_WEEK * day)
    least, last = (2, PHASE_TAIL) if near else (PHASE_TAIL_FAR, PHASE_TAIL_FAR)
    look = min(2 * day, len(state.base) - 1)
    first = len(train) - 1 - look
    observed = z[first:-1]
    plain = state.base[-look - 1 :]
    gap = observed - plain[:-1]
    if np.all(np.isnan(gap)) or not np.nanmax(np.abs(gap - nan_median(gap)), initial=0.0) > 3 * state.scale:
        return state.base  # the plain rhythm fits the last two days: nothing to explain
    best, best_err = None, None
    for step in (-1, 1):
        candidate = _moved_base(train, first, period, step)
        if np.isnan(candidate[-1]):
            continue
        err = _moved_error(observed, plain[:-1], candidate[:-1], state.scale, least=least, last=last)
        if err is not None and (best_err is None or err < best_err):
            best, best_err = candidate, err
    if best is None:
        return state.base
    base = state.base.copy()
    base[-look - 1 :] = best
    return base


def _moved_base(train: np.ndarray, start: int, period: int, step: int) -> np.ndarray:
    """The same-phase medians from `start` on with the rhythm moved `step` buckets earlier
    (later where negative); the tested bucket, last, never moves into the history."""
    moved = np.roll(train, -step)
    moved[-1] = np.nan
    return lagged_median(moved, start, period)


def _agreed_run(scores: list[float]) -> float:
    """The run score several fits agree on: the weakest where they lean the same way, none
    where they disagree."""
    same_side = len({np.sign(s) for s in scores}) == 1
    return min(scores, key=abs) if same_side else 0.0


def _realigned(
    train: np.ndarray, z: np.ndarray, start: int, state: _State, counts: bool, clock_changes: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, _State] | None:
    """(train, z, state) with the cycles before a daylight-saving change moved one bucket
    earlier or later, where that fits the buckets since the change far better (on at least
    CLOCK_EVIDENCE telling buckets: until then `_phase_shifted` follows the change); None otherwise.

    A daily rhythm kept in local time moves an hour of UTC at the change, and same-phase medians
    over five weeks take three to follow: without this, the ramps of a business day are judged
    against the old hour for weeks. Telling buckets are those where the moved history expects
    something else than the plain one (the ramps); only they decide."""
    if not state.used or state.used[0] < 12:
        return None
    best, best_err = None, None
    for at in clock_changes:
        if not 0 < at < len(train) - 1:
            continue
        since = max(at, start)
        observed, plain = train[since:-1], state.base[since - start : -1]
        for step in (-1, 1):
            moved_train = _moved_before(train, at, step)
            moved = _pass(moved_train, start, state.used, counts, choose=False)
            err = _moved_error(observed, plain, moved.base[since - start : -1], state.scale, least=CLOCK_EVIDENCE)
            if err is not None and (best_err is None or err < best_err):
                best, best_err = (moved_train, _moved_before(z, at, step), moved), err
    return best


def _moved_before(x: np.ndarray, at: int, step: int) -> np.ndarray:
    """`x` with its buckets before `at` taken from `step` buckets later (the tested value, last,
    never moves into the history)."""
    out = x.copy()
    if step > 0:
        out[:at] = x[1 : at + 1]
    else:
        out[1:at] = x[: at - 1]
        out[0] = np.nan
    return out


def _moved_error(
    observed: np.ndarray,
    plain: np.ndarray,
    candidate: np.ndarray,
    scale: float,
    least: int,
    last: int | None = None,
) -> float | None:
    """How far a moved rhythm `candidate` misses the `observed` buckets that tell it from the
    `plain` one (they differ by two sigmas: a daily rhythm's ramps; only the `last` of them, if
    given), where at least `least` tell, the plain rhythm misses them by 2 sigmas (as much as
    they tell by: a smaller miss is noise, which a moved rhythm can fit as well by chance) and
    the moved one fits PHASE_GAIN better (and, judging the `last`, misses none by PHASE_MISS
    sigmas); None otherwise. Both net of the current level, so that a level change is not taken
    for a moved rhythm."""
    telling = np.flatnonzero((np.abs(candidate - plain) > 2 * scale) & ~np.isnan(observed))
    if last is not None:
        telling = telling[-last:]
    if len(telling) < least:
        return None
    err_plain = float(np.mean(_misses(observed - plain, telling)))
    misses = _misses(observed - candidate, telling)
    if last is not None and float(np.max(misses)) > PHASE_MISS * scale:
        return None  # a rhythm that moved fits every ramp it tells by, not two of three
    err = float(np.mean(misses))
    return err if err_plain > 2 * scale and err < PHASE_GAIN * err_plain else None


def _misses(resid: np.ndarray, telling: np.ndarray) -> np.ndarray:
    """How far the telling buckets miss, net of the level of all of them."""
    return np.abs(resid[telling] - nan_median(resid))


def _tail_spread(resid: np.ndarray, limit: float) -> float:
    """The spread the table's own lower tail shows, in Gaussian units: the TAIL_QUANTILE of
    its drops below the same phase around them, over all the history in reach, once
    TAIL_SUPPORT residuals back it (0 before). The MAD measures the middle of the residuals
    only; with noise whose tails are heavier than Gaussian it put bands where loads stray every
    week. Drops, not rises: routine
    bursts have their own allowance (`_burst_sensitivity`). Drops beyond `limit` next to another
    such drop are an outage or a short day, not noise, and are left out: noise strays one load
    at a time."""
    deep = resid < -limit
    in_run = deep & (np.r_[False, deep[:-1]] | np.r_[deep[1:], False])
    drops = -resid[~np.isnan(resid) & ~in_run]
    if len(drops) < TAIL_SUPPORT:
        return 0.0
    return max(0.0, float(np.quantile(drops, TAIL_QUANTILE))) / _TAIL_Z


def _burst_sensitivity(resid: np.ndarray, scale: float, sensitivity: float, events: int) -> float:
    """The upper band's reach, in sigmas: `sensitivity`, or a little beyond the second-largest
    burst of a table that bursts routinely (`events` separate exceedances in all the history
    in reach, against the same phase of the cycles around them: a weekly burst is seen about
    seven times in eight weeks, four times in a table's first four)."""
    r = np.nan_to_num(resid / scale, nan=0.0)
    above = r > sensitivity
    starts = above & ~np.r_[False, above[:-1]]
    if int(starts.sum()) < events:
        return sensitivity
    return max(sensitivity, TAIL_MARGIN * float(np.sort(r[above])[-2]))


def _union(a: Fit, b: Fit, k: float) -> Fit | None:
    """One band spanning both fits' bands: anomalous only where both call it anomalous.

    Where the spread of `a` (the rhythms known so far) is INFLATED times that of `b` (the longer
    rhythm, one or two cycles of it), it is swollen by the very rhythm it does not know (a
    weekday-only table's weekends, seen from the daily rhythm alone): its band is then drawn with
    the spread of `b`. A spread that rests on fewer than SUPPORT residuals of loaded buckets (a
    weekly fit a few hours past its first week has a handful) is never narrower than the other;
    where the other is swollen too, there is no band yet (None): taking the swollen one drew
    bands of a million times the expected rows on weekday-only tables a day past their first week.
    The upper band reaches as far as `a`'s burst allowance only where `b` sees bursts too."""
    if b.support < SUPPORT:
        if a.scale > INFLATED * b.scale:
            return None  # neither spread can be trusted: no band rather than a meaningless one
        b = replace(b, scale=max(a.scale, b.scale))
    elif a.scale > INFLATED * b.scale:
        a = replace(a, scale=b.scale)
    # the known rhythm's burst allowance only where the longer one sees the bursts too: a daily
    # fit takes a weekday-only table's Monday ramps (after empty weekends) for bursts
    a_up = a.upper_k if a.upper_k is not None and (b.bursty or b.support < SUPPORT) else k
    b_up = b.upper_k if b.upper_k is not None else k
    lower = min(a.expected - k * a.scale, b.expected - k * b.scale)
    upper = max(a.expected + a_up * a.scale, b.expected + b_up * b.scale)
    expected, scale = (lower + upper) / 2, (upper - lower) / (2 * k)
    run = _agreed_run([a.run_score, b.run_score])
    return Fit(
        expected,
        scale,
        run,
        a.horizon,
        a.label + PROVISIONAL,
        upper_k=k,
        shift_at=a.shift_at,
        shift=a.shift,
        provisional=True,
        bursty=b.bursty or a_up > k,
    )


def seasonal_base(
    train: np.ndarray, start: int, periods: tuple[int, ...], choose: bool = True
) -> tuple[np.ndarray, tuple[int, ...]]:
    """Expected value of every bucket from `start` on, from the cycles before it.

    Returns the base and the periods it uses: with `choose`, a longer period is kept only
    where it fits the history in reach at least WEEKLY_GAIN better; without, the longest
    period given is used.
    """
    if not periods:
        return lagged_median(train, start, 1), ()
    first = max(0, start - BASE_CYCLES * max(periods[1:], default=0))
    base = lagged_median(train, first, periods[0])
    used = (periods[0],)
    for period in periods[1:]:
        longer = lagged_median(train, first, period)
        # judged over all the history in reach, not just the training window, so that the
        # choice is stable from one bucket to the next
        observed = train[first:-1]
        if not choose:
            base, used = longer, (period,)
            continue
        short_resid, long_resid = observed - base[:-1], observed - longer[:-1]
        # a burst (five times the rows either rhythm expects) fits neither: left out of both
        burst = (short_resid > BURST) & (long_resid > BURST)
        short_resid[burst] = long_resid[burst] = np.nan
        if spread(long_resid) < WEEKLY_GAIN * spread(short_resid):
            base, used = longer, (period,)
    return base[start - first :], tuple(used)
