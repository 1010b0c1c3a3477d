"""Unit tests of rowcount_monitor.detection: per model, per edge case, and walk-forward equivalence."""

import numpy as np
import pandas as pd
import pytest

from rowcount_monitor.detection import DetectionPolicy, evaluate_latest, score_series


def hourly(days=28, level=1000.0, weekly=False, seed=0, start="2026-01-05"):
    """Hourly loads with a daily cycle (and optionally weekend dips) and 5 % multiplicative noise."""
    rng = np.random.default_rng(seed)
    idx = pd.date_range(start, periods=days * 24, freq="h")
    daily = 1 + 0.6 * np.sin(2 * np.pi * (idx.hour - 6) / 24)
    week = np.where(idx.day_of_week >= 5, 0.3, 1.0) if weekly else 1.0
    return pd.Series(level * daily * week * rng.lognormal(0, 0.05, len(idx)), idx).round()


def with_last(series, value):
    s = series.copy()
    s.iloc[-1] = value
    return s


@pytest.mark.parametrize("model", ["state", "stl", "sarimax"])
def test_each_model_passes_a_normal_load_and_flags_a_half_load(model):
    s = hourly(days=21)
    policy = DetectionPolicy(model=model)
    normal = evaluate_latest(s, policy)
    assert not normal.is_anomaly, normal.reason
    assert normal.lower <= normal.observed <= normal.upper
    assert model in normal.model
    half = evaluate_latest(with_last(s, s.iloc[-1] * 0.5), policy)
    assert half.is_anomaly, half.reason
    assert half.score < 0
    assert "below the expected" in half.reason


def test_verdict_reason_names_numbers_and_the_bucket():
    s = hourly(days=21)
    v = evaluate_latest(with_last(s, 10))
    assert v.is_anomaly
    assert v.reason.startswith("10 is")
    assert "% below the expected" in v.reason
    last = s.index[-1]
    assert f"{last.day_name()} {last:%H:%M} load" in v.reason
    assert v.n_history == len(s) - 1


def test_band_is_multiplicative_for_large_counts():
    small = evaluate_latest(hourly(days=21, level=1_000))
    large = evaluate_latest(hourly(days=21, level=1_000_000))
    width_small = (small.upper - small.lower) / small.expected
    width_large = (large.upper - large.lower) / large.expected
    assert large.upper - large.lower > 100 * (small.upper - small.lower)
    assert width_large == pytest.approx(width_small, rel=0.5)


def test_weekly_pattern_is_learned_so_weekends_do_not_alert():
    s = hourly(days=42, weekly=True)
    flags = score_series(s)
    last_two_weeks = flags.iloc[-14 * 24 :]
    assert last_two_weeks["is_anomaly"].sum() <= 2
    v = evaluate_latest(s.loc[:"2026-02-14 12:00"])  # a Saturday noon, 30 % of a weekday
    assert "168" in v.model and not v.is_anomaly, v.reason


def test_cold_start_gives_no_verdict_until_min_history():
    s = hourly(days=2)
    v = evaluate_latest(with_last(s, 0))
    assert not v.is_anomaly
    assert v.reason == f"insufficient history ({len(s) - 1} of 168 buckets)"
    assert np.isnan(v.expected)
    rows = score_series(s)
    assert rows["lower"].isna().all() and not rows["is_anomaly"].any()


def test_zero_load_in_a_never_empty_series_is_a_drop():
    s = hourly(days=14)
    v = evaluate_latest(with_last(s, 0))
    assert v.is_anomaly and v.observed == 0
    assert v.reason.startswith("0 rows")
    assert v.lower >= 0


def test_zero_is_normal_for_a_series_that_is_often_empty():
    rng = np.random.default_rng(3)
    idx = pd.date_range("2026-01-01", periods=24 * 14, freq="h")
    s = pd.Series(rng.poisson(0.7, len(idx)).astype(float), idx)
    s.iloc[-1] = 0
    assert not evaluate_latest(s).is_anomaly


def test_constant_series_does_not_divide_by_zero():
    idx = pd.date_range("2026-01-01", periods=24 * 10, freq="h")
    s = pd.Series(500.0, idx)
    same = evaluate_latest(s)
    assert not same.is_anomaly and same.expected == pytest.approx(500)
    assert np.isfinite(same.score)
    assert evaluate_latest(with_last(s, 250)).is_anomaly
    assert not evaluate_latest(with_last(s, 510)).is_anomaly  # 2 % < min_relative_change


def test_gaps_in_history_are_missing_buckets_not_errors():
    s = hourly(days=21).drop(hourly(days=21).index[100:130])
    v = evaluate_latest(s)
    assert not v.is_anomaly and v.n_history == len(s) - 1


def test_excluded_periods_leave_training_and_are_not_judged():
    s = hourly(days=21)
    outage = s.copy()
    outage.iloc[-60:-36] = 5  # a day-long outage two days ago
    exclude = ((outage.index[-60], outage.index[-37]),)
    before = evaluate_latest(s)
    with_outage = evaluate_latest(outage, DetectionPolicy(exclude=exclude))
    assert with_outage.upper - with_outage.lower == pytest.approx(before.upper - before.lower, rel=0.15)
    inside = DetectionPolicy(exclude=((s.index[-1], s.index[-1]),))
    v = evaluate_latest(with_last(s, 1), inside)
    assert not v.is_anomaly and "excluded period" in v.reason


def test_a_past_outage_does_not_widen_the_band_without_being_told():
    s = hourly(days=21)
    outage = s.copy()
    outage.iloc[-60:-50] = 0
    clean, after = evaluate_latest(s), evaluate_latest(outage)
    assert after.upper - after.lower == pytest.approx(clean.upper - clean.lower, rel=0.15)
    assert after.expected == pytest.approx(clean.expected, rel=0.05)


@pytest.mark.parametrize(
    "direction,value,flagged",
    [
        ("drop", 0.4, True),
        ("drop", 2.5, False),
        ("spike", 0.4, False),
        ("spike", 2.5, True),
        ("both", 0.4, True),
        ("both", 2.5, True),
    ],
)
def test_direction(direction, value, flagged):
    s = hourly(days=21)
    v = evaluate_latest(with_last(s, s.iloc[-1] * value), DetectionPolicy(direction=direction, fail_on_zero=False))
    assert v.is_anomaly is flagged


def test_m_of_n_flags_only_sustained_anomalies():
    s = hourly(days=21)
    policy = DetectionPolicy(min_anomalies=2, window=3)
    one = with_last(s, s.iloc[-1] * 0.3)
    assert evaluate_latest(one).is_anomaly
    assert not evaluate_latest(one, policy).is_anomaly
    two = one.copy()
    two.iloc[-2] = two.iloc[-2] * 0.3
    assert evaluate_latest(two, policy).is_anomaly


def test_signed_series_with_negative_values():
    s = hourly(days=21) - 1500  # e.g. rows added between snapshots, often negative
    assert not evaluate_latest(s).is_anomaly
    assert evaluate_latest(with_last(s, s.iloc[-1] + 5000)).is_anomaly


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda s: s.iloc[::-1], "not sorted"),
        (lambda s: pd.concat([s.iloc[:10], s.iloc[9:]]), "duplicate timestamps"),
        (lambda s: with_last(s, -5), "cannot be negative"),
        (lambda s: with_last(s, np.nan), "is NaN"),
        (
            lambda s: s.set_axis(s.index[:-1].append(pd.DatetimeIndex([s.index[-1] + pd.Timedelta(minutes=17)]))),
            "irregular spacing",
        ),
        (lambda s: s.reset_index(drop=True), "DatetimeIndex"),
    ],
)
def test_bad_input_is_a_clear_value_error(make, message):
    with pytest.raises(ValueError, match=message):
        evaluate_latest(make(hourly(days=5)), DetectionPolicy(value_type="count"))


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(model="prophet"),
        dict(direction="up"),
        dict(sensitivity=0),
        dict(min_anomalies=3, window=2),
        dict(seasonality=[1]),
        dict(min_relative_change=-0.1),
    ],
)
def test_bad_policy_is_a_clear_value_error(kwargs):
    with pytest.raises(ValueError):
        DetectionPolicy(**kwargs)


@pytest.mark.parametrize("seed", range(4))
def test_score_series_equals_evaluate_latest_row_by_row(seed):
    rng = np.random.default_rng(seed)
    n = 24 * 14
    idx = pd.date_range("2026-03-01", periods=n, freq="h")
    values = rng.lognormal(6, 0.4, n) * (1 + 0.5 * np.sin(np.arange(n) * 2 * np.pi / 24))
    values[rng.choice(n, 8, replace=False)] *= rng.choice([0, 0.2, 3.0], 8)
    s = pd.Series(values.round(), idx).drop(idx[rng.choice(n, 5, replace=False)])
    policy = DetectionPolicy(min_history=30, min_anomalies=2, window=3) if seed % 2 else DetectionPolicy()
    table = score_series(s, policy)
    assert list(table.columns) == ["expected", "lower", "upper", "score", "is_anomaly"]
    assert table["is_anomaly"].dtype == bool
    for i in range(len(s)):
        v = evaluate_latest(s.iloc[: i + 1], policy)
        row = table.iloc[i]
        assert bool(row["is_anomaly"]) == v.is_anomaly, i
        for col in ("expected", "lower", "upper", "score"):
            assert row[col] == pytest.approx(getattr(v, col), nan_ok=True), (i, col)
    assert (table["score"].abs() > policy.k).any()  # the anomalies were judged


def test_a_missing_count_in_the_history_is_history_not_an_error():
    """A NaN (a bucket whose count is unknown) is accepted by evaluate_latest in the history;
    score_series leaves that row unjudged and judges the others as evaluate_latest does."""
    rng = np.random.default_rng(5)
    idx = pd.date_range("2026-03-01", periods=24 * 12, freq="h")
    s = pd.Series(rng.poisson(500, len(idx)).astype(float), idx)
    s.iloc[[100, 250]] = np.nan
    policy = DetectionPolicy(min_anomalies=2, window=3)
    table = score_series(s, policy)
    assert table.iloc[[100, 250]]["expected"].isna().all() and not table.iloc[[100, 250]]["is_anomaly"].any()
    for i in (101, 200, 251, len(s) - 1):
        v = evaluate_latest(s.iloc[: i + 1], policy)
        assert table.iloc[i]["expected"] == pytest.approx(v.expected, nan_ok=True)
        assert bool(table.iloc[i]["is_anomaly"]) == v.is_anomaly


def test_score_series_equivalence_for_stl_on_a_short_series():
    s = hourly(days=5)
    s.iloc[-3] = 0
    policy = DetectionPolicy(model="stl", min_history=72)
    table = score_series(s, policy)
    for i in range(len(s) - 30, len(s)):
        v = evaluate_latest(s.iloc[: i + 1], policy)
        assert table["expected"].iloc[i] == pytest.approx(v.expected, nan_ok=True)
        assert bool(table["is_anomaly"].iloc[i]) == v.is_anomaly


def test_daily_buckets_use_a_weekly_period():
    rng = np.random.default_rng(1)
    idx = pd.date_range("2025-01-01", periods=120, freq="D")
    s = pd.Series(np.where(idx.day_of_week >= 5, 2000, 9000) * rng.lognormal(0, 0.04, 120), idx).round()
    v = evaluate_latest(s)
    assert "periods=7" in v.model and not v.is_anomaly, v.reason
    assert v.reason.endswith(f"a {idx[-1].day_name()} load")
    assert evaluate_latest(with_last(s, s.iloc[-1] * 0.5)).is_anomaly


def test_score_series_since_judges_only_the_rows_from_then_on_and_the_same_way():
    s = with_last(hourly(days=21, weekly=True, seed=3), 10)
    since = s.index[-48]
    full, part = score_series(s), score_series(s, since=since)
    pd.testing.assert_frame_equal(part.loc[since:], full.loc[since:])
    before = part.loc[: since - pd.Timedelta(hours=1)]
    assert before[["expected", "lower", "upper", "score"]].isna().all().all()
    assert not before["is_anomaly"].any() and part["is_anomaly"].iloc[-1]


def test_a_three_hour_shortfall_is_caught_by_the_short_run_test():
    """Three loads each 10 % short (no single-bucket alert) together are a failing source; a
    six-load mean would half-dilute them with normal loads."""
    s = hourly(days=21, seed=11)
    s.iloc[-3:] = (s.iloc[-3:] * 0.9).round()
    first, second, third = (evaluate_latest(s.iloc[: len(s) - k]) for k in (2, 1, 0))
    assert not first.is_anomaly and not second.is_anomaly
    assert third.is_anomaly, third.reason
    assert "the last 3 loads together run below expectation" in third.reason


def test_a_small_share_that_jumps_pages_on_its_own_scale_in_the_default_model():
    """A null rate of 0.001 that becomes 0.05: the least spread of a value metric is a share of
    its own size (it was 0.02 in the metric's units, and the jump stayed inside +-0.08)."""
    rng = np.random.default_rng(7)
    idx = pd.date_range("2026-09-07", periods=24 * 21, freq="h")
    s = pd.Series(0.001 * rng.lognormal(0, 0.1, len(idx)), idx)
    s.iloc[-1] = 0.05
    verdict = evaluate_latest(s, DetectionPolicy(value_type="signed"))
    assert verdict.is_anomaly and verdict.upper < 0.01, verdict
    normal = evaluate_latest(s.iloc[:-1], DetectionPolicy(value_type="signed"))
    assert not normal.is_anomaly and normal.lower < 0.001 < normal.upper, normal
