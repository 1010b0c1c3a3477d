"""Anomaly checks on assets a project already has (build_row_count_anomaly_checks, and the
component's `watch:`): the values they record are judged, with no asset and no warehouse query
of ours, and a failure reaches SNS like any of the project's own."""

import json

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from rowcount_monitor import RowCountMonitor, build_row_count_anomaly_checks
from rowcount_monitor.alerting.sns import SNSPublisher
from rowcount_monitor.naming import CHECK_NAME

from .aws import aws_env, drain, moto_server, topic_with_queue

DAYS = pd.date_range("2026-10-01", "2026-11-15", freq="D")
BAD_DAY = "2026-11-10"


def _counts() -> dict[str, int]:
    """A weekday rhythm (quiet weekends) with 3 % noise; one day loads a third of its rows."""
    rng = np.random.default_rng(7)
    counts = {}
    for day in DAYS:
        rows = 10_000 * (0.4 if day.day_of_week >= 5 else 1.0) * rng.lognormal(0, 0.03)
        counts[day.strftime("%Y-%m-%d")] = round(rows / 3 if day.strftime("%Y-%m-%d") == BAD_DAY else rows)
    return counts


COUNTS = _counts()
COUNTS_AFTER_BAD_DAY = (pd.Timestamp(BAD_DAY) + pd.Timedelta(days=1)).strftime("%Y-%m-%d")
LAST_DAY = list(COUNTS)[-1]


@dg.asset(partitions_def=dg.DailyPartitionsDefinition(start_date="2026-10-01"))
def orders(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"dagster/row_count": COUNTS[context.partition_key]})


def test_a_watched_asset_fails_its_check_on_the_bad_day_only_and_pages_its_owner_once(tmp_path, monkeypatch):
    """Through the component, as a project's defs.yaml declares it: `watch:` an asset of its
    own, the alerts of its checks to SNS (moto's server on 127.0.0.1)."""
    with moto_server() as endpoint:
        aws_env(monkeypatch, endpoint)
        topic, queue = topic_with_queue(endpoint)
        monkeypatch.setenv("ROWCOUNT_MONITOR_SNS_TOPIC_ARN", topic)
        alerts = {"outbox": str(tmp_path / "outbox.sqlite"), "retry_backoff_seconds": 0}
        component = RowCountMonitor(watch=["orders"], owner="team-orders", alerts=alerts)
        defs = dg.Definitions.merge(
            dg.Definitions(assets=[orders]), component.build_defs(dg.ComponentTree.for_test().load_context)
        )
        job = defs.resolve_implicit_global_asset_job_def()
        sensor = next(s for s in defs.sensors if s.name == "row_count_alerts")
        failed, judged, cursor = [], 0, None
        with dg.instance_for_test() as instance:
            for day in COUNTS:
                result = job.execute_in_process(instance=instance, partition_key=day, raise_on_error=False)
                (evaluation,) = result.get_asset_check_evaluations()  # the check ran with the asset
                assert evaluation.check_name == CHECK_NAME
                judged += "insufficient history" not in (evaluation.description or "")
                if not evaluation.passed:
                    failed.append(day)
                if day in (BAD_DAY, COUNTS_AFTER_BAD_DAY, LAST_DAY):  # the sensor's ticks, twice over the bad day
                    for _ in range(2):
                        with dg.build_sensor_context(
                            instance=instance,
                            cursor=cursor,
                            definitions=defs,
                            resources={"sns": SNSPublisher(topic_arn=topic)},
                        ) as context:
                            sensor(context)
                            cursor = context.cursor
        messages = drain(endpoint, queue)
    assert failed == [BAD_DAY]
    assert judged >= 25  # every day after the first two weeks was judged, not waved through
    assert [m["MessageAttributes"]["kind"]["Value"] for m in messages] == ["anomaly", "recovered"]
    assert json.loads(messages[0]["Message"])["observed"] == COUNTS[BAD_DAY]
    assert {json.loads(m["Message"])["table"] for m in messages} == {"orders"}
    assert messages[0]["MessageAttributes"]["owner"]["Value"] == "team-orders"


def test_the_check_judges_the_partition_its_run_materialized_not_the_newest():
    defs = dg.Definitions(assets=[orders], asset_checks=build_row_count_anomaly_checks([orders]))
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        for day in COUNTS:
            if day != BAD_DAY:
                job.execute_in_process(instance=instance, partition_key=day)
        late = job.execute_in_process(instance=instance, partition_key=BAD_DAY, raise_on_error=False)
        (evaluation,) = late.get_asset_check_evaluations()
    assert not evaluation.passed and evaluation.metadata["observed"].value == COUNTS[BAD_DAY]


def test_an_unpartitioned_asset_is_judged_per_day_and_a_second_run_replaces_the_first():
    @dg.asset
    def totals() -> dg.MaterializeResult:
        return dg.MaterializeResult(metadata={"dagster/row_count": 5})

    defs = dg.Definitions(assets=[totals], asset_checks=build_row_count_anomaly_checks([totals]))
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        job.execute_in_process(instance=instance)
        (evaluation,) = job.execute_in_process(instance=instance).get_asset_check_evaluations()
    # two runs today are one daily bucket: too little history to judge, and never a failure
    assert evaluation.passed and "insufficient history" in evaluation.description


def test_a_cadence_other_than_hourly_or_daily_is_refused_by_name():
    with pytest.raises(ValueError, match="cadence must be one of hourly, daily, not 'weekly'"):
        build_row_count_anomaly_checks([orders], cadence="weekly")
