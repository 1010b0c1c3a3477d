"""evaluate_latest and score_series: validation, the bucket grid, and the verdict rules."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy.stats import norm, poisson

from .calendar import clock_changes, holiday_names, local_times
from .carry import Carry, kept_behind, origin_of, pack, resumable, state_key
from .models import Fit, fit_sarimax, fit_stl, history_reach, training_window, usable_periods
from .policy import DetectionPolicy, Verdict
from .seasonality import infer_spacing, resolve_periods
from .statespace import fit_at
from .statespace import run as run_state
from .transform import PHI, from_model_space, to_model_space

MODELS: dict[str, Callable[..., Fit | None]] = {"stl": fit_stl, "sarimax": fit_sarimax}
# fail_on_zero: "never zero" means fewer than this share of zeros in the training window, and a
# zero is an incident only where the count model gives it less than this probability (a zero
# where 5 rows were expected happens about once in 100 loads; where 15 were, once in 10,000).
ZERO_SHARE = 0.01
ZERO_PROBABILITY = 1e-4
# Tables averaging fewer rows than this per bucket are judged on a whole cycle's total (a day of
# hourly buckets, a week of daily ones): one bucket of a sparse table says nothing.
SPARSE_ROWS = 3.0
# ... and once such a total is anomalous, the check keeps failing for this many more buckets
# while the totals after it are sparse ones: consecutive totals share all but one bucket, and one
# hovering at its band's edge as a bad day left it turned one alert into several ("recovered",
# then failing again: 9 of 154 false alerts over three seeds of benchmarks/corpus.py).
SPARSE_HOLD = 3
# Before a band can be drawn, an empty load is still judged once a whole cycle of the longest
# period (a week) was never near empty: the zero rule needs no rhythm, but a weekday-only table
# is empty on its first Saturday. Without a season, after this many loads.
EARLY_ZERO_LOADS = 7


@dataclass(frozen=True)
class _Grid:
    """A series laid on its regular bucket grid (NaN where a bucket is missing)."""

    times: pd.DatetimeIndex
    values: np.ndarray  # raw values, NaN for missing buckets
    excluded: np.ndarray  # bool: out of training and never flagged (policy.exclude, holidays)
    spacing: pd.Timedelta
    holiday: np.ndarray  # the public holiday's name, "" on other buckets
    untrained: np.ndarray  # bool: out of training only (buckets the user called incidents)
    normal: np.ndarray  # bool: the user called this bucket expected: never masked, never flagged
    span: int = 1  # buckets of the table per grid bucket (a sparse table's totals)
    clock: tuple[int, ...] = ()  # positions just after a daylight-saving change
    local: pd.DatetimeIndex | None = None  # the times on the table's wall clock, where it has a zone
    unit: float = 1.0  # a signed series is modelled in units of its typical size (see _in_units)


def _validated(series: pd.Series) -> pd.Series:
    if not isinstance(series, pd.Series):
        raise ValueError(f"history must be a pandas Series, not {type(series).__name__}")
    if not isinstance(series.index, pd.DatetimeIndex):
        raise ValueError("history must be indexed by bucket timestamps (a DatetimeIndex)")
    if series.index.has_duplicates:
        dup = series.index[series.index.duplicated()][0]
        raise ValueError(f"history has duplicate timestamps, first at {dup}")
    if not series.index.is_monotonic_increasing:
        raise ValueError("history timestamps are not sorted in increasing order")
    try:
        values = series.astype(float)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"history values must be numbers: {exc}") from None
    return values


def _grid(series: pd.Series, policy: DetectionPolicy) -> _Grid:
    spacing = infer_spacing(pd.DatetimeIndex(series.index))
    times = pd.date_range(series.index[0], series.index[-1], freq=spacing)
    values = series.reindex(times).to_numpy(dtype=float)
    excluded = np.zeros(len(times), bool)
    for start, end in policy.exclude:
        excluded |= (times >= start) & (times <= end)
    sub_daily = spacing < pd.Timedelta(days=1)  # UTC instants; daily buckets are local dates already
    local = local_times(times, policy.timezone) if sub_daily and policy.timezone else None
    dates = times if local is None else local.tz_localize(None)
    holiday = holiday_names(policy.holidays, dates) if policy.holidays else np.full(len(times), "", object)
    excluded |= holiday != ""
    clock = tuple(clock_changes(times, policy.timezone)) if spacing < pd.Timedelta(hours=12) else ()
    return _Grid(
        times,
        values,
        excluded,
        spacing,
        holiday,
        times.isin(policy.incidents),
        times.isin(policy.expected),
        clock=clock,
        local=local,
    )


def _totals(grid: _Grid, pos: int, span: int) -> tuple[_Grid, int]:
    """The grid of `span`-bucket totals ending at `pos` and every `span` buckets before it, and
    the position of the tested total in it. A total with a missing bucket is missing."""
    first_end = pos % span if pos % span == span - 1 else pos % span + span
    ends = np.arange(first_end, pos + 1, span)
    filled = np.concatenate(([0.0], np.cumsum(np.nan_to_num(grid.values[: pos + 1]))))
    gaps = np.concatenate(([0], np.cumsum(np.isnan(grid.values[: pos + 1]))))
    values = filled[ends + 1] - filled[ends + 1 - span]
    values[(gaps[ends + 1] - gaps[ends + 1 - span]) > 0] = np.nan

    def count_in(flags: np.ndarray) -> np.ndarray:
        c = np.concatenate(([0], np.cumsum(flags[: pos + 1])))
        return c[ends + 1] - c[ends + 1 - span]

    holiday = (
        np.array([grid.holiday[e] or next((h for h in grid.holiday[e + 1 - span : e] if h), "") for e in ends], object)
        if any(grid.holiday[: pos + 1])
        else np.full(len(ends), "", object)
    )
    totals = _Grid(
        grid.times[ends],
        values,
        count_in(grid.excluded) > 0,
        grid.spacing * span,
        holiday,
        count_in(grid.untrained) > 0,
        count_in(grid.normal) == span,
        grid.span * span,
        local=grid.local[ends] if grid.local is not None else None,
    )
    return totals, len(ends) - 1


def _is_counts(values: np.ndarray, policy: DetectionPolicy) -> bool:
    negative = bool(np.nanmin(values) < 0) if np.any(~np.isnan(values)) else False
    if policy.value_type == "count" and negative:
        raise ValueError("row counts cannot be negative (use value_type='signed' for deltas)")
    return policy.value_type == "count" or (policy.value_type == "auto" and not negative)


def _min_history(policy: DetectionPolicy, periods: tuple[int, ...]) -> int:
    if policy.min_history is not None:
        return policy.min_history
    if policy.model == "state":  # two cycles give the noise its first misses (the filter widens its band for few)
        return max(2 * min(periods), max(periods)) if periods else 14
    return max(3 * min(periods), max(periods)) if periods else 14


def required_history(policy: DetectionPolicy, spacing: pd.Timedelta) -> int:
    """Buckets of history needed before a verdict, for buckets `spacing` apart."""
    return _min_history(policy, resolve_periods(policy.seasonality, spacing))


def _sparse_at(grid: _Grid, positions: np.ndarray, periods: tuple[int, ...]) -> np.ndarray:
    """At each of `positions`: too few rows per bucket before it (the mean over the training
    window) for one bucket to say anything, so it is judged on cycle totals."""
    window = training_window(periods)
    values = grid.values[: int(positions.max()) + 1]  # nothing after the last one counts
    seen = np.concatenate(([0], np.cumsum(~np.isnan(values))))
    rows = np.concatenate(([0.0], np.cumsum(np.nan_to_num(values))))
    start = np.maximum(0, positions - window)
    n = seen[positions] - seen[start]
    with np.errstate(invalid="ignore", divide="ignore"):
        return (n > 0) & ((rows[positions] - rows[start]) / np.maximum(n, 1) < SPARSE_ROWS)


def _judge(grid: _Grid, pos: int, counts: bool, policy: DetectionPolicy, explain: bool = True) -> Verdict:
    """Judge the bucket at grid position `pos` from the buckets before it with the STL or SARIMAX
    model (the state model's verdicts come from one pass: `_state_verdicts`)."""
    observed = float(grid.values[pos])
    if np.isnan(observed):
        raise ValueError(f"the tested value at {grid.times[pos]} is NaN")
    periods = resolve_periods(policy.seasonality, grid.spacing)
    if not counts:
        grid = _in_units(grid, pos)
    history = grid.values[:pos]
    n_history = int(np.sum(~np.isnan(history) & ~grid.excluded[:pos]))
    needed = _min_history(policy, periods)
    if n_history < needed:
        insufficient = f"insufficient history ({n_history} of {needed} buckets)"
        cycle = max(periods, default=EARLY_ZERO_LOADS)
        early = _early_zero(grid, pos, policy, cycle, insufficient) if counts else None
        return early or Verdict.unjudged(observed, insufficient, n_history=n_history)
    first = max(0, pos + 1 - history_reach(periods))
    z = _model_history(grid, first, pos, counts)
    model = policy.model
    fit = MODELS[model](z, periods)
    if fit is None:
        return Verdict.unjudged(
            observed, f"{model} cannot fit this history yet ({n_history} buckets)", model, n_history
        )
    return _verdict_from_fit(grid, pos, z, fit, counts, policy, periods, n_history, explain)


def _in_units(grid: _Grid, pos: int) -> _Grid:
    """A signed series (a value metric) is modelled in units of the median size of its history
    before `pos`: the models' least spread (MIN_SCALE) is then a share of the metric's own size,
    not of 1 (a null rate going from 0.001 to 0.05 stayed inside a band of +-0.08)."""
    past = np.abs(grid.values[:pos])
    past = past[~np.isnan(past)]
    unit = float(np.median(past)) if len(past) else 0.0
    return replace(grid, unit=unit if unit > 0 else 1.0)


def _model_history(grid: _Grid, first: int, pos: int, counts: bool) -> np.ndarray:
    """The buckets from `first` to the tested one at `pos`, in model space, with the history's
    excluded buckets and the ones the user called incidents left out (NaN)."""
    z = to_model_space(grid.values[first : pos + 1], counts) / grid.unit
    z[:-1][grid.excluded[first:pos] | grid.untrained[first:pos]] = np.nan
    return z


def _early_zero(grid: _Grid, pos: int, policy: DetectionPolicy, cycle: int, why: str) -> Verdict | None:
    """A zero load judged before there is history for a band: a daily table needs two weeks
    for its weekday rhythm (three for STL and SARIMAX), but an empty load after a week of loads that were never near empty
    is an incident on any rhythm. None where the zero rule does not apply yet."""
    if not (policy.fail_on_zero and policy.direction != "spike" and grid.values[pos] == 0):
        return None
    if grid.excluded[pos] or grid.normal[pos]:  # a holiday, an excluded period, feedback said expected
        return None
    history = grid.values[:pos][~np.isnan(grid.values[:pos]) & ~grid.excluded[:pos]]
    if len(history) < cycle or history.min() <= 0 or (1 + PHI * history.min()) ** (-1 / PHI) >= ZERO_PROBABILITY:
        return None
    when = _describe_bucket(grid, pos)
    reason = (
        f"0 rows for {when} where all {len(history):,} loads so far had rows (the fewest {_fmt(history.min())}); "
        f"no band yet: {why}"
    )
    return Verdict(
        is_anomaly=True,
        observed=0.0,
        expected=float(np.median(history)),
        lower=float(history.min()),
        upper=float(history.max()),
        score=float("nan"),
        model="zero rule",
        n_history=len(history),
        reason=reason,
        raw_anomaly=True,
    )


def _verdict_from_fit(
    grid: _Grid,
    pos: int,
    z: np.ndarray,
    fit: Fit,
    counts: bool,
    policy: DetectionPolicy,
    periods: tuple[int, ...],
    n_history: int,
    explain: bool,
    k: float | None = None,
) -> Verdict:
    observed = float(grid.values[pos])
    k = policy.k if k is None else k
    k_up = fit.upper_k if fit.upper_k is not None else k
    expected = float(from_model_space(fit.expected, counts)) * grid.unit
    lower = float(from_model_space(fit.expected - k * fit.scale, counts)) * grid.unit
    upper = float(from_model_space(fit.expected + k_up * fit.scale, counts)) * grid.unit
    tolerance = policy.min_relative_change * abs(expected)
    lower, upper = min(lower, expected - tolerance), max(upper, expected + tolerance)
    if counts:
        lower = max(lower, 0.0)

    bucket_score = (z[-1] - fit.expected) / fit.scale
    # no run test on a sparse table's cycle totals (days, for an hourly table): the last three
    # hold a bad day for two days after it, and paged on and off through them
    run_score = fit.run_score if grid.span == 1 else 0.0
    joins = np.sign(run_score) == np.sign(bucket_score)  # a run scores only where the bucket leans its way
    score = run_score if joins and abs(run_score) > abs(bucket_score) else bucket_score
    by_run = score is run_score

    relative = (observed - expected) / abs(expected) if expected else (np.inf if observed else 0.0)
    big_enough = abs(relative) >= policy.min_relative_change
    raw = (score > k_up if score > 0 else -score > k) and big_enough and _direction_ok(score, policy)
    # A count's own sampling noise (Poisson, the least a count has) overrules the band where it
    # alone gives a count that far off more often than the band's sigmas do: the model-space
    # band is a normal approximation, too narrow in the tails of a few dozen rows (a 0 where 7
    # were expected happens once in 1,100 loads; 22 where 43 were, once in 2,700: no page).
    by_chance = None  # how often sampling noise alone gives this count, where that overrules the band
    if raw and counts and not by_run:
        tail = _poisson_tail(observed, expected)
        if tail >= norm.sf(k_up if score > 0 else k):
            raw, by_chance = False, tail

    training = grid.values[max(0, pos - training_window(usable_periods(z, periods))) : pos]
    training = training[~np.isnan(training)]
    zero_load = (
        counts
        and policy.fail_on_zero
        and observed == 0
        and len(training) > 0
        and np.mean(training == 0) < ZERO_SHARE
        and policy.direction != "spike"
        and (1 + PHI * expected) ** (-1 / PHI) < ZERO_PROBABILITY
    )
    when = _describe_bucket(grid, pos) if explain else ""
    if grid.holiday[pos]:
        raw, reason = False, f"{_fmt(observed)} for {when}: public holiday ({grid.holiday[pos]}), reported, not judged"
    elif grid.excluded[pos]:
        raw, reason = False, f"{_fmt(observed)} for {when}: bucket is in an excluded period, not judged"
    elif grid.normal[pos]:
        raw, reason = False, f"{_fmt(observed)} for {when}: marked expected by feedback, not judged"
    elif zero_load:
        raw = True
        reason = (
            f"0 rows for {when} where the last {len(training):,} loads were never empty "
            f"(expected {_fmt(expected)}, band {_fmt(lower)}–{_fmt(upper)})"
        )
    elif by_chance is not None and explain:
        reason = (
            f"{_fmt(observed)} is outside the band {_fmt(lower)}–{_fmt(upper)} for {when}, but where "
            f"{_fmt(expected)} rows are expected sampling noise alone gives a count that far off "
            f"once in {1 / by_chance:,.0f} loads: not an anomaly"
        )
    elif explain:
        reason = _reason(observed, expected, lower, upper, relative, raw, by_run, fit.horizon, when)
    else:
        reason = ""
    if explain:
        reason += _notes(grid, fit, fit.bursty and observed > expected)
    judged = not (grid.excluded[pos] or grid.normal[pos])
    return Verdict(
        bool(raw),
        observed,
        expected,
        lower,
        upper,
        float(score),
        fit.label,
        n_history,
        reason,
        raw_anomaly=bool(raw),
        span=grid.span if judged else 1,
    )


def _poisson_tail(observed: float, expected: float) -> float:
    """The chance of a count at least as far from `expected` as `observed`, on its side, from
    sampling noise alone (Poisson: the least noise a count has)."""
    if observed < expected:
        return float(poisson.cdf(observed, expected))
    return float(poisson.sf(observed - 1, expected))


def _direction_ok(score: float, policy: DetectionPolicy) -> bool:
    return policy.direction == "both" or (policy.direction == "drop") == (score < 0)


def _fmt(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 100 or float(x).is_integer() else f"{x:,.2f}"


def _notes(grid: _Grid, fit: Fit, burst_band: bool) -> str:
    """What the band allowed for, in the words of the verdict's reason."""
    notes = []
    if fit.shift_at is not None:
        when = grid.times[fit.shift_at]
        notes.append(f"a level change from {when:%Y-%m-%d %H:%M} (x{fit.shift:.2f}) was accepted as the new normal")
    if burst_band:
        notes.append("the upper band allows for this table's routine bursts")
    if grid.span > 1:
        notes.append(f"a sparse table, judged on the total of {grid.span} buckets")
    return "".join(f"; {n}" for n in notes)


def _describe_bucket(grid: _Grid, pos: int) -> str:
    """How a verdict names its bucket, on the table's wall clock where it has a zone ("a Monday
    09:00 EST load"); a total of several buckets is stamped with its last one."""
    spacing, span = grid.spacing, grid.span
    ts = grid.times[pos] if grid.local is None else grid.local[pos]
    zone = f" {ts:%Z}" if grid.local is not None else ""
    if span > 1:
        return (
            f"the {span} loads up to {ts:%A %Y-%m-%d %H:%M}{zone}"
            if spacing <= pd.Timedelta(days=1)
            else f"the {span} loads up to {ts:%A %Y-%m-%d}"
        )
    if spacing < pd.Timedelta(days=1):
        return f"a {ts.day_name()} {ts:%H:%M}{zone} load"
    if spacing == pd.Timedelta(days=1):
        return f"a {ts.day_name()} load"
    return f"the load of {ts:%Y-%m-%d %H:%M}"


def _reason(
    observed: float,
    expected: float,
    lower: float,
    upper: float,
    relative: float,
    raw: float,
    by_run: bool,
    horizon: int,
    when: str,
) -> str:
    band = f"(band {_fmt(lower)}–{_fmt(upper)})"
    if not raw:
        return f"{_fmt(observed)} is within the expected band {_fmt(lower)}–{_fmt(upper)} for {when}"
    word = "below" if relative < 0 else "above"
    if np.isinf(relative):
        text = f"{_fmt(observed)} rows where none were expected {band} for {when}"
    else:
        text = (
            f"{_fmt(observed)} is {abs(relative) * 100:,.0f} % {word} the expected {_fmt(expected)} {band} for {when}"
        )
    if by_run:
        text += f"; the last {horizon} loads together run {word} expectation"
    return text


def evaluate_latest(history: pd.Series, policy: DetectionPolicy | None = None) -> Verdict:
    """Judge the last element of `history` (indexed by bucket timestamp) from the ones before it.

    Raises ValueError for unsorted or duplicate timestamps, negative counts, a NaN tested value
    or a spacing that no regular bucket grid fits.
    """
    return _evaluate(history, policy or DetectionPolicy(), None)


def evaluate_carried(
    history: pd.Series, policy: DetectionPolicy | None = None, state: bytes | None = None
) -> tuple[Verdict, bytes | None]:
    """evaluate_latest for a check that runs on every new bucket of a table: `state` is what its
    previous call returned (None: none yet), and the "state" model resumes its filter there
    instead of walking all of `history` again (carry.py says when a state is used and what a
    verdict then rests on). Returns the verdict and the state to pass next time (None where the
    model keeps none: other models, sparse tables, signed values)."""
    carry = Carry(state)
    verdict = _evaluate(history, policy or DetectionPolicy(), carry)
    return verdict, carry.kept


def _evaluate(history: pd.Series, policy: DetectionPolicy, carry: Carry | None) -> Verdict:
    series = _validated(history)
    if len(series) < 2:
        nan = float("nan")
        observed = float(series.iloc[-1]) if len(series) else nan
        if np.isnan(observed):
            raise ValueError("history is empty or its tested value is NaN")
        return Verdict.unjudged(observed, f"insufficient history (0 of {policy.min_history or 'at least 3'} buckets)")
    grid = _grid(series, policy)
    counts = _is_counts(grid.values, policy)
    positions = grid.times.get_indexer(series.index)
    if policy.model == "state":
        if np.isnan(grid.values[positions[-1]]):
            raise ValueError(f"the tested value at {grid.times[positions[-1]]} is NaN")
        # the verdicts before it that the M-of-N rule, and a sparse table's hold, look at
        rows = _state_verdicts(
            grid, positions[-policy.window - SPARSE_HOLD :], counts, policy, explain_last=True, carry=carry
        )
        newest, rows = rows[-1], rows[:-1]
    else:
        newest = _judge(grid, int(positions[-1]), counts, policy)
        # the verdicts before it that the M-of-N rule, and a sparse table's hold, look at
        before = policy.window - 1 + (SPARSE_HOLD if newest.span > 1 else 0)
        rows = [
            _judge(grid, int(p), counts, policy, explain=False) if not np.isnan(grid.values[p]) else _MISSING
            for p in positions[-1 - before : -1]
        ]  # a missing count is no anomaly
    plain, held = _flags([*rows, newest], policy)
    reason = newest.reason
    if held[-1] and not plain[-1]:
        reason += (
            f"; the check keeps failing: a total of this sparse table was anomalous within the last "
            f"{SPARSE_HOLD} buckets, and consecutive totals share all but one bucket"
        )
    return replace(newest, is_anomaly=bool(held[-1]), reason=reason)


_MISSING = Verdict.unjudged(float("nan"), "missing count")


def _state_verdicts(
    grid: _Grid,
    positions: np.ndarray,
    counts: bool,
    policy: DetectionPolicy,
    explain_last: bool = False,
    carry: Carry | None = None,
) -> list[Verdict]:
    """The "state" model's verdicts on the buckets at `positions`, the last one worded where
    `explain_last`. A bucket of a sparse table (too few rows a bucket to say anything) is judged
    on the total of the cycle up to it, among the totals a cycle apart before it (a filter pass
    over those totals); any other, by one pass of the filter over the buckets up to the last."""
    periods = resolve_periods(policy.seasonality, grid.spacing)
    positions = np.asarray(positions, dtype=np.int64)
    sparse = _sparse_at(grid, positions, periods) if counts and periods else np.zeros(len(positions), bool)
    rows: list[Verdict | None] = [None] * len(positions)
    dense = np.flatnonzero(~sparse)
    if len(dense):
        explain = explain_last and not sparse[-1]
        carried = carry if counts and not sparse.any() else None  # a count table judged bucket by bucket
        for i, row in zip(dense, _state_pass(grid, positions[dense], counts, policy, explain, carried), strict=True):
            rows[i] = row
    span = min(periods) if periods else 1
    for offset in np.unique(positions[sparse] % span):
        group = np.flatnonzero(sparse & (positions % span == offset))
        last = int(positions[group[-1]])
        totals, at = _totals(grid, last, span)
        at_totals = at - (last - positions[group]) // span
        for i in group[at_totals < 0]:  # no whole cycle before it yet
            rows[i] = Verdict.unjudged(float(grid.values[positions[i]]), "insufficient history (less than a cycle)")
        group, at_totals = group[at_totals >= 0], at_totals[at_totals >= 0]
        if not len(group):
            continue
        explain = explain_last and group[-1] == len(positions) - 1
        judged = _state_pass(totals, at_totals, counts, replace(policy, min_history=None), explain)
        for i, row in zip(group, judged, strict=True):
            rows[i] = row
    judged = [row for row in rows if row is not None]
    assert len(judged) == len(rows), "a position without a verdict"
    return judged


def _state_pass(
    grid: _Grid,
    positions: np.ndarray,
    counts: bool,
    policy: DetectionPolicy,
    explain_last: bool,
    carry: Carry | None = None,
) -> list[Verdict]:
    """One pass of the filter over the grid up to the last of `positions`, and its verdicts
    there; with `carry`, from the state it holds where that can be used, keeping the next."""
    periods = resolve_periods(policy.seasonality, grid.spacing)
    end = int(positions[-1])
    valid = ~np.isnan(grid.values[: end + 1]) & ~grid.excluded[: end + 1]
    before = np.concatenate(([0], np.cumsum(valid)))[:-1]  # usable buckets before each one
    needed = _min_history(policy, periods)
    origin = origin_of(grid.times, grid.spacing)
    if carry is None:
        judged = run_state(grid, end, counts, policy, periods, before >= needed, origin)
    else:  # the state's key is hashed only for a check that carries one
        key, keep_at = state_key(policy, grid.spacing, counts, periods), end - kept_behind(periods)
        resume = resumable(carry.state, key, grid.values, origin, int(positions[0]))
        judged = run_state(grid, end, counts, policy, periods, before >= needed, origin, resume, keep_at)
        if judged.carried is not None:
            carry.kept = pack(key, grid.values, origin, keep_at, judged.carried, max(periods, default=7))
    z = to_model_space(grid.values[: end + 1], counts)
    rows = []
    for i, pos in enumerate(positions):
        pos = int(pos)
        observed = float(grid.values[pos])
        explain = explain_last and i == len(positions) - 1
        if np.isnan(observed):
            rows.append(_MISSING)
            continue
        fit = fit_at(judged, pos, periods, counts)
        k_low = float(judged.k_low[pos])
        if fit is None:
            reason = f"insufficient history ({before[pos]} of {needed} buckets)"
            early = _early_zero(grid, pos, policy, max(periods, default=EARLY_ZERO_LOADS), reason) if counts else None
            rows.append(early or Verdict.unjudged(observed, reason, n_history=int(before[pos])))
            continue
        rows.append(
            _verdict_from_fit(grid, pos, z[: pos + 1], fit, counts, policy, periods, int(before[pos]), explain, k=k_low)
        )
    return rows


def _flags(rows: list[Verdict], policy: DetectionPolicy) -> tuple[np.ndarray, np.ndarray]:
    """(M-of-N flags, is_anomaly) of consecutive verdicts (oldest first): at least min_anomalies
    raw anomalies among the last `window`; is_anomaly also where, on a sparse table, such a flag
    lies at most SPARSE_HOLD buckets back with nothing but sparse totals judged since."""
    raw = np.array([v.raw_anomaly for v in rows], dtype=int)
    flagged = np.convolve(raw, np.ones(policy.window, dtype=int))[: len(raw)] >= policy.min_anomalies
    at = np.arange(len(rows))
    totals_run = at - np.maximum.accumulate(np.where([v.span > 1 for v in rows], -1, at))  # sparse verdicts in a row
    held = flagged.copy()
    for lag in range(1, SPARSE_HOLD + 1):
        held[lag:] |= flagged[:-lag] & (totals_run[lag:] > lag)
    return flagged, held


def score_series(
    series: pd.Series, policy: DetectionPolicy | None = None, since: pd.Timestamp | None = None
) -> pd.DataFrame:
    """Walk forward over a whole history: every row judged only from the rows before it,
    exactly as evaluate_latest(series.iloc[: i + 1]) judges it.

    Returns columns expected, lower, upper, score, is_anomaly (bool); rows without enough
    history, and rows whose value is NaN (a missing count), have NaN bounds and is_anomaly False. With `since`, only rows from that timestamp on
    are judged (the rows before it still serve as their history): a cheap band for a picture
    of the last weeks.
    """
    policy = policy or DetectionPolicy()
    series = _validated(series)
    columns = ["expected", "lower", "upper", "score", "is_anomaly"]
    if len(series) < 2:
        return pd.DataFrame(
            {"expected": np.nan, "lower": np.nan, "upper": np.nan, "score": np.nan, "is_anomaly": False},
            index=series.index,
            columns=columns,
        )
    grid = _grid(series, policy)
    # evaluate_latest on a prefix lays its own grid and decides count-vs-signed on the prefix;
    # rows where either differs from the whole series' choice are judged through it directly.
    steps = np.diff(pd.DatetimeIndex(series.index).asi8)
    final_spacing_from = int(np.argmax(steps == steps.min())) + 1
    negative_seen = np.maximum.accumulate(np.nan_to_num(series.to_numpy(), nan=0.0) < 0)
    counts_whole = _is_counts(grid.values, policy)
    positions = grid.times.get_indexer(series.index)
    rows = []
    skip_before = pd.Timestamp(since) if since is not None else series.index[0]
    if policy.model == "state":
        rows = _state_verdicts(grid, positions, counts_whole, policy)
        for i in range(len(rows)):
            if i == 0 or series.index[i] < skip_before:
                rows[i] = Verdict.unjudged(float(series.iloc[i]), "not judged")
        positions = positions[:0]
    for i, pos in enumerate(positions):
        if i == 0 or series.index[i] < skip_before or np.isnan(series.iloc[i]):  # a NaN is history, never tested
            rows.append(Verdict.unjudged(float(series.iloc[i]), "not judged"))
        elif i < final_spacing_from:
            rows.append(evaluate_latest(series.iloc[: i + 1], replace(policy, min_anomalies=1, window=1)))
        else:
            counts = counts_whole if policy.value_type != "auto" else not negative_seen[i]
            rows.append(_judge(grid, int(pos), counts, policy, explain=False))
    _, flagged = _flags(rows, policy)
    return pd.DataFrame(
        {
            "expected": [v.expected for v in rows],
            "lower": [v.lower for v in rows],
            "upper": [v.upper for v in rows],
            "score": [v.score for v in rows],
            "is_anomaly": flagged,
        },
        index=series.index,
    )
