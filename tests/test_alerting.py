"""Row-count checks on real materializations, and their forwarding to SNS through boto3 against
moto's server on 127.0.0.1 (and a proxy in front of it that can fail), read back from SQS."""

import base64
import io
import json
import logging
import re
from datetime import datetime
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest

from rowcount_monitor.alerting.messages import Alert
from rowcount_monitor.alerting.outbox import CheckState, Outbox
from rowcount_monitor.alerting.sns import SNSPublisher
from rowcount_monitor.defs import build_definitions
from rowcount_monitor.defs.backfill_job import JOB_NAME
from rowcount_monitor.history import CACHE_FILE, HistoryCache
from rowcount_monitor.naming import CHECK_NAME

from .aws import SECRET, FlakyProxy, aws_env, drain, moto_server, topic_with_queue
from .conftest import table_entry, write_config

ORDERS = dg.AssetKey(["demo", "raw", "orders"])
CHECK = dg.AssetCheckKey(ORDERS, CHECK_NAME)


@pytest.fixture
def sns(monkeypatch):
    with moto_server() as endpoint:
        aws_env(monkeypatch, endpoint)
        topic, queue = topic_with_queue(endpoint)
        yield endpoint, topic, queue


@pytest.fixture
def shop(tmp_path, writable_db):
    """A writable copy of the demo warehouse and a config for orders, with its own outbox."""
    db = writable_db

    def make(notify="state_changes", also=(), **entry):
        import yaml

        path = tmp_path / "rowcount_monitor.yaml"
        path.write_text(
            yaml.safe_dump(
                {
                    "warehouses": {"demo": {"type": "duckdb", "path": str(db)}},
                    "tables": [table_entry("orders", owner="team-orders", **entry), *also],
                    "alerts": {
                        "notify": notify,
                        "outbox": str(tmp_path / "outbox.sqlite"),
                        "retry_backoff_seconds": 0,
                        "ui_base_url": "http://dagster.example:3000",
                    },
                }
            )
        )
        return build_definitions(path)

    return db, make, tmp_path / "outbox.sqlite"


def backfill_until(defs, instance, until, judge_days=0, judged_only=False):
    config = {
        "ops": {
            "fill_missing_buckets": {"config": {"until": until, "judge_days": judge_days, "judged_only": judged_only}}
        }
    }
    assert defs.resolve_job_def(JOB_NAME).execute_in_process(instance=instance, run_config=config).success


def cut_hour(db, hour: str, keep: float):
    """Delete rows of one hour so that only `keep` of them remain (a broken load)."""
    with duckdb.connect(str(db)) as conn:
        conn.execute(f"""DELETE FROM shop.raw.orders WHERE date_trunc('hour', loaded_at) = TIMESTAMP '{hour}'
                         AND id % 100 >= {int(keep * 100)}""")


def materialize(defs, instance, partition):
    job = defs.resolve_implicit_global_asset_job_def()
    result = job.execute_in_process(instance=instance, asset_selection=[ORDERS], partition_key=partition)
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == 1  # the check ran in the same run as the materialization
    return evaluations[0]


def tick(defs, instance, topic, cursor=None):
    sensor = next(s for s in defs.sensors if s.name == "row_count_alerts")
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources={"sns": SNSPublisher(topic_arn=topic)}
    ) as context:
        result = sensor(context)
        return result, context.cursor


def broken_friday(shop, instance):
    """Orders with 30 % of the Friday 14:00 load and history recorded up to 13:00."""
    db, make, _ = shop
    defs = make()
    cut_hour(db, "2026-02-27 14:00", keep=0.3)
    backfill_until(defs, instance, "2026-02-27 13:00")
    return defs


def test_check_passes_normal_loads_and_fails_a_broken_one(shop):
    with dg.instance_for_test() as instance:
        defs = broken_friday(shop, instance)
        normal = materialize(defs, instance, "2026-02-27-13:00")
        broken = materialize(defs, instance, "2026-02-27-14:00")
    assert normal.passed and "within the expected band" in normal.description
    assert not broken.passed
    assert broken.severity == dg.AssetCheckSeverity.WARN
    assert "% below the expected" in broken.description and "a Friday 14:00 load" in broken.description
    meta = {k: v.value for k, v in broken.metadata.items()}
    assert meta["observed"] < meta["lower"] < meta["expected"] < meta["upper"]
    # readable: whole rows, no 495.8778274829107
    assert isinstance(meta["observed"], int) and all(meta[k] == round(meta[k]) for k in ("expected", "lower", "upper"))
    assert meta["n_history"] > 72 and meta["model"].startswith("state")
    assert meta["false_alerts_per_1000"] == 0.25 and "sensitivity" not in meta  # the budget set the threshold
    assert "plot" not in normal.metadata  # pictures only for failures, by default
    pixels = png_pixels(meta["plot"])
    band = np.all(np.abs(pixels - [0xB5, 0xD9, 0xEB]) < 40, axis=-1)  # the light blue band
    red = np.all(np.abs(pixels - [0xE3, 0x1A, 0x1C]) < 40, axis=-1)  # the tested point, flagged
    assert band.mean() > 0.02 and red.sum() > 10
    assert red[:, int(0.85 * pixels.shape[1]) :].sum() > 10  # the flagged point is the newest (legend aside)


def test_checks_a_range_run_planned_but_never_ran_do_not_hold_back_later_alerts(shop):
    """A range of partitions materialized at once (a UI backfill) plans the row-count check of
    each and runs none; the failure of the next normal run is still forwarded on the next pass,
    not an hour later."""
    with dg.instance_for_test() as instance:
        defs = broken_friday(shop, instance)
        job = defs.resolve_implicit_global_asset_job_def()
        hours = {
            "dagster/asset_partition_range_start": "2026-02-27-12:00",
            "dagster/asset_partition_range_end": "2026-02-27-13:00",
        }
        assert job.execute_in_process(instance=instance, asset_selection=[ORDERS], tags=hours).success
        assert not materialize(defs, instance, "2026-02-27-14:00").passed
        result, _ = tick(defs, instance, "")
    assert "read 1 check evaluations, queued 1 alerts" in result.skip_message


def png_pixels(markdown: str) -> np.ndarray:
    """The RGB pixels of the PNG inside a markdown data: URI image."""
    from PIL import Image

    match = re.fullmatch(r"!\[[^\]]*\]\(data:image/png;base64,([A-Za-z0-9+/=]+)\)", markdown)
    assert match, markdown[:80]
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(match.group(1)))).convert("RGB")).astype(int)


def test_checks_read_history_from_the_cache_and_rebuild_it_from_the_event_log(shop):
    with dg.instance_for_test() as instance:
        defs = broken_friday(shop, instance)
        first = materialize(defs, instance, "2026-02-27-14:00")
        cache_file = Path(instance.root_directory) / CACHE_FILE
        cached = HistoryCache.at(cache_file).read(
            ["demo/raw/orders"], pd.Timestamp("2026-01-01"), pd.Timestamp("2026-03-01")
        )
        records = instance.fetch_materializations(ORDERS, limit=10_000).records
        logged = {
            pd.to_datetime(r.partition_key, format="%Y-%m-%d-%H:%M"): r.asset_materialization.metadata[
                "dagster/row_count"
            ].value
            for r in records
        }
        assert cached["demo/raw/orders"].to_dict() == logged and len(logged) > 250
        for path in cache_file.parent.glob(CACHE_FILE + "*"):
            path.unlink()  # the cache is lost: the next check rebuilds it from the event log
        again = materialize(defs, instance, "2026-02-27-14:00")
        assert HistoryCache.at(cache_file).complete(["demo/raw/orders"]) == {"demo/raw/orders"}
    assert not first.passed
    assert (again.passed, again.description, again.metadata) == (first.passed, first.description, first.metadata)


def test_cold_start_passes_with_insufficient_history(shop):
    _, make, _ = shop
    defs = make()
    with dg.instance_for_test() as instance:
        first = materialize(defs, instance, "2026-02-22-05:00")
    assert first.passed
    assert first.description == "insufficient history (0 of 168 buckets)"


def test_a_zero_load_is_an_error(shop):
    db, make, _ = shop
    defs = make()
    cut_hour(db, "2026-02-27 10:00", keep=0)
    with dg.instance_for_test() as instance:
        backfill_until(defs, instance, "2026-02-27 10:00")
        zero = materialize(defs, instance, "2026-02-27-10:00")
    assert not zero.passed and zero.severity == dg.AssetCheckSeverity.ERROR
    assert zero.description.startswith("0 rows")


def evaluations(instance) -> dict:
    return {
        r.event_log_entry.dagster_event.event_specific_data.partition: r.event_log_entry.dagster_event.event_specific_data
        for r in instance.event_log_storage.get_event_records(
            dg.EventRecordsFilter(dg.DagsterEventType.ASSET_CHECK_EVALUATION), limit=100
        )
    }


def verdicts(instance) -> dict:
    return {p: (e.passed, e.description, e.metadata) for p, e in evaluations(instance).items()}


def test_backfill_judges_recent_buckets_as_the_live_check_does(shop):
    db, make, _ = shop
    defs = make()
    cut_hour(db, "2026-02-28 09:00", keep=0.4)
    with dg.instance_for_test() as backfilled, dg.instance_for_test() as live, dg.instance_for_test() as first:
        backfill_until(defs, backfilled, "2026-02-28 12:00", judge_days=1)
        judged = evaluations(backfilled)
        assert len(judged) == 24
        # the judged buckets first (what the demo does before the UI starts), the rest later:
        # the same verdicts, and in the end the same buckets recorded
        backfill_until(defs, first, "2026-02-28 12:00", judge_days=1, judged_only=True)
        assert first.get_materialized_partitions(ORDERS) == set(judged)
        assert verdicts(first) == verdicts(backfilled)
        backfill_until(defs, first, "2026-02-28 12:00", judge_days=1)
        assert first.get_materialized_partitions(ORDERS) == backfilled.get_materialized_partitions(ORDERS)
        assert verdicts(first) == verdicts(backfilled)
        backfill_until(defs, live, "2026-02-28 09:00")
        for hour in ("2026-02-28-09:00", "2026-02-28-10:00"):
            now = materialize(defs, live, hour)
            assert (now.passed, now.description, now.metadata) == (
                judged[hour].passed,
                judged[hour].description,
                judged[hour].metadata,
            )
            # the bucket's materialization carries the band its check drew, in both ways of judging
            band = {k: now.metadata[k] for k in ("expected", "lower", "upper")}
            assert band_of(live, hour) == band_of(backfilled, hour) == band
        assert band_of(backfilled, "2026-02-27-09:00") == {}  # recorded, not judged: no band
    assert not judged["2026-02-28-09:00"].passed


def band_of(instance, partition):
    """The expected, lower and upper a bucket's latest materialization records."""
    [record] = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=ORDERS, asset_partitions=[partition]), limit=1
    ).records
    metadata = record.asset_materialization.metadata
    return {k: metadata[k] for k in ("expected", "lower", "upper") if k in metadata}


def test_end_to_end_one_anomalous_bucket_one_message(shop, sns):
    endpoint, topic, queue = sns
    db, make, _ = shop
    defs = make()
    cut_hour(db, "2026-02-27 15:00", keep=0.25)
    with dg.instance_for_test() as instance:
        backfill_until(defs, instance, "2026-02-27 12:00")
        for hour in ("12", "13", "14", "15"):
            materialize(defs, instance, f"2026-02-27-{hour}:00")
        result, cursor = tick(defs, instance, topic)
        again, _ = tick(defs, instance, topic, cursor)
    messages = drain(endpoint, queue)
    assert len(messages) == 1, result
    m = messages[0]
    body = json.loads(m["Message"])
    assert m["Subject"].startswith("[WARN] shop.raw.orders: row count anomaly (")
    assert {k: v["Value"] for k, v in m["MessageAttributes"].items()} == {
        "owner": "team-orders",
        "severity": "WARN",
        "table": "shop.raw.orders",
        "kind": "anomaly",
    }
    assert body["partition"] == "2026-02-27-15:00" and body["observed"] < body["lower"]
    assert body["url"] == "http://dagster.example:3000/assets/demo/raw/orders?view=checks"
    assert body["run_id"] and "% below the expected" in body["summary"]
    assert "queued 0 alerts" in again.skip_message and "sent 0" in again.skip_message


def test_state_changes_fail_fail_fail_pass_sends_two_messages(shop, sns):
    endpoint, topic, queue = sns
    db, make, _ = shop
    defs = make()
    for hour in ("13", "14", "15"):
        cut_hour(db, f"2026-02-27 {hour}:00", keep=0.2)
    with dg.instance_for_test() as instance:
        backfill_until(defs, instance, "2026-02-27 13:00")
        verdicts = [materialize(defs, instance, f"2026-02-27-{h}:00").passed for h in ("13", "14", "15", "16")]
        tick(defs, instance, topic)
    assert verdicts == [False, False, False, True]
    kinds = [json.loads(m["Message"])["kind"] for m in drain(endpoint, queue)]
    assert sorted(kinds) == ["anomaly", "recovered"]


def _log_evaluations(instance, verdicts):
    """Check evaluations (asset key, passed, partition), written by a real run as a check run
    writes them."""

    @dg.op
    def evaluate(context):
        for i, (key, passed, partition) in enumerate(verdicts):
            context.log_event(
                dg.AssetCheckEvaluation(
                    asset_key=key,
                    check_name=CHECK_NAME,
                    passed=passed,
                    partition=partition,
                    severity=dg.AssetCheckSeverity.WARN,
                    description=f"bucket {i} is {'within the expected band' if passed else '60 % below the expected 100'}",
                    metadata={"observed": 40.0, "expected": 100.0, "lower": 80.0, "upper": 120.0},
                )
            )

    @dg.job
    def checks():
        evaluate()

    assert checks.execute_in_process(instance=instance).success


def _log_failures(instance, n, first=0):
    """n failed check evaluations of orders, of the hours from `first` on, written by a real run
    as a check run writes them."""
    hours = [pd.Timestamp("2026-02-20") + pd.Timedelta(hours=first + i) for i in range(n)]
    _log_evaluations(instance, [(ORDERS, False, h.strftime("%Y-%m-%d-%H:%M")) for h in hours])


def test_sns_outage_delays_but_never_drops_or_duplicates(shop, sns, monkeypatch, caplog, capsys):
    endpoint, topic, queue = sns
    _, make, outbox_path = shop
    defs = make(notify="every_failure")
    proxy = FlakyProxy(endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    try:
        with dg.instance_for_test() as instance, caplog.at_level(logging.DEBUG):
            _log_failures(instance, 50)
            proxy.healthy_for = 20  # SNS goes away after 20 publishes
            first, cursor = tick(defs, instance, topic)
            during, cursor = tick(defs, instance, topic, cursor)
            proxy.healthy_for = None  # and comes back
            after, cursor = tick(defs, instance, topic, cursor)
            quiet, _ = tick(defs, instance, topic, cursor)
    finally:
        proxy.close()
    # one table's alerts keep their order: the rest wait behind the one that failed
    assert "queued 50 alerts; sent 20, failed 1" in first.skip_message
    assert "29 held behind an earlier alert of their table" in first.skip_message
    assert "sent 0, failed 1" in during.skip_message
    assert "sent 30, failed 0" in after.skip_message
    assert "queued 0 alerts; sent 0" in quiet.skip_message
    ids = [json.loads(m["Message"])["alert_id"] for m in drain(endpoint, queue)]
    assert len(ids) == 50 and len(set(ids)) == 50
    assert Outbox(outbox_path).counts() == {"sent": 50}
    import sqlite3

    with sqlite3.connect(outbox_path) as conn:
        retried = conn.execute("SELECT attempts, last_error FROM alerts WHERE last_error IS NOT NULL").fetchall()
    # the alert tried while SNS was down failed twice, then went through: on record...
    assert len(retried) == 1 and all(a == 3 and "(500)" in e for a, e in retried)
    captured = caplog.text + "".join(capsys.readouterr())
    assert "SNS publish failed" in captured
    assert "AKIDTESTING" in caplog.text  # (botocore's debug log was captured)
    assert SECRET not in captured  # ...but the secret key is nowhere: not in logs,
    assert SECRET.encode() not in outbox_path.read_bytes()  # not in the outbox
    with capsys.disabled():  # the figures, for `pytest -s`
        print(
            f"\nfault test: queued 50, received {len(ids)}, distinct {len(set(ids))}, "
            f"publishes refused by the proxy {proxy.refused}"
        )


def test_a_lost_sensor_cursor_resends_nothing(shop, sns):
    """A tick that published and then died before Dagster saved its cursor."""
    endpoint, topic, queue = sns
    _, make, _ = shop
    defs = make(notify="every_failure")
    with dg.instance_for_test() as instance:
        _log_failures(instance, 5)
        tick(defs, instance, topic)
        replayed, _ = tick(defs, instance, topic, cursor=None)  # as if the cursor was never saved
    assert "read 0 check evaluations" in replayed.skip_message
    assert len(drain(endpoint, queue)) == 5


def test_two_passes_at_once_send_every_alert_once(shop, sns, monkeypatch):
    """Two daemons (or a replay during a tick) on one outbox, with a slow SNS so that their
    passes overlap: each claims before it publishes, and reads past what the other ingested."""
    import threading

    endpoint, topic, queue = sns
    _, make, outbox_path = shop
    defs = make(notify="every_failure")
    proxy = FlakyProxy(endpoint)
    proxy.delay = 0.05
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    results = []
    try:
        with dg.instance_for_test() as instance:
            for round in range(3):  # three rounds of 17 new failures, two passes started together
                _log_failures(instance, 17, first=17 * round)
                passes = [
                    threading.Thread(target=lambda: results.append(tick(defs, instance, topic)[0])) for _ in range(2)
                ]
                for p in passes:
                    p.start()
                for p in passes:
                    p.join()
    finally:
        proxy.close()
    ids = [json.loads(m["Message"])["alert_id"] for m in drain(endpoint, queue)]
    assert len(ids) == 51 and len(set(ids)) == 51, [r.skip_message for r in results]
    assert Outbox(outbox_path).counts() == {"sent": 51}


def test_a_lost_or_corrupt_outbox_resumes_from_the_sensor_cursor(shop, sns, caplog):
    endpoint, topic, queue = sns
    _, make, outbox_path = shop
    defs = make(notify="every_failure")
    with dg.instance_for_test() as instance:
        _log_failures(instance, 5)
        _, cursor = tick(defs, instance, topic)
        assert len(drain(endpoint, queue)) == 5
        outbox_path.unlink()  # deleted
        lost, cursor = tick(defs, instance, topic, cursor)
        outbox_path.write_bytes(b"")  # truncated
        truncated, cursor = tick(defs, instance, topic, cursor)
        outbox_path.write_bytes(b"this is not an SQLite file" * 100)  # corrupt
        corrupt, cursor = tick(defs, instance, topic, cursor)
        _log_failures(instance, 2, first=5)  # and new failures still go out
        after, _ = tick(defs, instance, topic, cursor)
    for result in (lost, truncated, corrupt):
        assert "read 0 check evaluations, queued 0 alerts" in result.skip_message
    assert "read 2 check evaluations, queued 2 alerts; sent 2" in after.skip_message
    messages = [json.loads(m["Message"]) for m in drain(endpoint, queue)]
    # nothing of the history re-sent: the new failures, and one operational alert about the file
    assert sorted(m["kind"] for m in messages) == ["anomaly", "anomaly", "operational"]
    assert "alert outbox was corrupt" in next(m["summary"] for m in messages if m["kind"] == "operational")
    assert "read positions restored from the sensor's cursor" in lost.skip_message
    assert "is corrupt" in caplog.text
    assert list(outbox_path.parent.glob("outbox.sqlite.corrupt-*"))  # kept for inspection


@pytest.fixture(params=["sqlite", "postgres"])
def any_outbox(request, tmp_path):
    """The outbox of `dagster dev` (an SQLite file) and of production (the instance's
    PostgreSQL database): one suite for both."""
    from rowcount_monitor.alerting.outbox import PostgresOutbox

    if request.param == "sqlite":
        return lambda: Outbox(tmp_path / "outbox.sqlite")
    url = request.getfixturevalue("postgres_url")
    return lambda: PostgresOutbox(url)


def test_overlapping_ingests_read_each_evaluation_once(any_outbox):
    """Pass B ingests while pass A still holds the evaluations it read before: A's late ingest
    must neither queue them again nor flip the check's state (a false "recovered")."""
    from rowcount_monitor.defs.alert_sensors import CheckEvent

    outbox = any_outbox()

    def event(storage_id, passed):
        return CheckEvent(storage_id, "run", ORDERS, CHECK_NAME, "p", passed, "WARN", "", {})

    def to_alerts(ev, state, said):
        if ev.passed:
            return (
                [Alert(f"{ev.storage_id}:recovered", "recovered", "orders", "", "INFO", "")] if state.failing else []
            ), CheckState(False)
        alerts = [] if state.failing else [Alert(f"{ev.storage_id}:anomaly", "anomaly", "orders", "", "WARN", "")]
        return alerts, CheckState(True)

    key = CHECK.to_user_string()
    read_by_a = [event(10, False), event(12, True)]
    read_by_b = [event(10, False), event(12, True), event(14, False)]
    assert outbox.ingest([(key, 14, read_by_b, to_alerts)]) == 3
    assert outbox.ingest([(key, 12, read_by_a, to_alerts)]) == 0
    assert outbox.positions() == {key: 14}
    # the check still fails (as of 14): a pass at 16 is one "recovered", not a second anomaly
    assert outbox.ingest([(key, 16, [event(16, True)], to_alerts)]) == 1


def test_alerts_of_a_table_keep_their_order_behind_a_dead_letter(any_outbox):
    import time

    from rowcount_monitor.alerting.outbox import CLAIM_LEASE

    now = time.time()
    outbox = any_outbox()
    anomaly = Alert("a", "anomaly", "shop.raw.orders", "", "WARN", "down")
    recovered = Alert("r", "recovered", "shop.raw.orders", "", "INFO", "up")
    other = Alert("o", "anomaly", "shop.raw.payments", "", "WARN", "down")
    outbox.add(anomaly)
    assert outbox.claim("a", now)
    assert not outbox.claim("a", now)  # a second pass cannot take it
    outbox.mark_failed("a", "SNS down", retry_at=now, dead=True)
    outbox.add(recovered)
    outbox.add(other)
    later = now + 10
    assert [p.alert.id for p in outbox.due(later)] == ["o"]  # "recovered" waits for its anomaly
    outbox.replay(None, later)
    assert [p.alert.id for p in outbox.due(later)] == ["a", "r", "o"]
    # a claim whose publisher died is taken over once its lease ran out, not before
    assert outbox.claim("a", later)
    assert [p.alert.id for p in outbox.due(later + 1)] == ["o"]
    taken_over = outbox.due(later + CLAIM_LEASE + 1)
    assert [p.alert.id for p in taken_over] == ["a", "r", "o"] and taken_over[0].interrupted


def test_the_outbox_survives_a_restart_and_restores_from_a_snapshot(any_outbox):
    outbox = any_outbox()
    outbox.add(Alert("a1", "anomaly", "shop.raw.orders", "", "WARN", "down"))
    assert not outbox.add(Alert("a1", "anomaly", "shop.raw.orders", "", "WARN", "down"))  # idempotent
    snapshot = '{"positions":{"demo/raw/orders:row_count_anomaly":42},"failing":["demo/raw/orders:row_count_anomaly"]}'
    assert outbox.restore(snapshot) == 1
    reopened = any_outbox()  # a new process: schema kept, nothing lost
    assert reopened.counts() == {"pending": 1} and reopened.positions() == {"demo/raw/orders:row_count_anomaly": 42}
    assert reopened.restore(snapshot) == 0  # positions exist: a snapshot never overwrites them
    assert '"failing":["demo/raw/orders:row_count_anomaly"]' in reopened.snapshot()
    assert reopened.replay(["a1"], 0.0) == 0 and reopened.listing("pending")[0][0] == "a1"


def test_an_outbox_of_the_previous_release_keeps_its_state_and_learns_buckets(any_outbox, request, tmp_path):
    """An outbox written before check states knew their bucket (schema version 2) opens with its
    alerts and states kept; from then on a state carries its newest bucket, snapshot included."""
    import sqlite3

    from rowcount_monitor.storage import libpq_url, postgres_transaction

    old = (
        "CREATE TABLE {check_state} (check_key TEXT PRIMARY KEY, failing INTEGER NOT NULL);"
        "INSERT INTO {check_state} VALUES ('demo/raw/orders:row_count_anomaly', 1)"
    )
    if "sqlite" in request.node.name:
        with sqlite3.connect(tmp_path / "outbox.sqlite") as conn:
            conn.executescript(old.format(check_state="check_state"))
    else:
        url = request.getfixturevalue("postgres_url")
        with postgres_transaction(libpq_url(url), {"check_state": "rowcount_monitor_check_state"}) as conn:
            for statement in old.split(";"):
                conn.execute(statement)
            conn.execute("CREATE TABLE rowcount_monitor_schema_version (component TEXT PRIMARY KEY, version INTEGER)")
            conn.execute("INSERT INTO rowcount_monitor_schema_version VALUES ('outbox', 2)")
    outbox = any_outbox()
    assert '"failing":["demo/raw/orders:row_count_anomaly"]' in outbox.snapshot()
    from rowcount_monitor.defs.alert_sensors import CheckEvent

    event = CheckEvent(7, "run", ORDERS, CHECK_NAME, "2026-02-27-14:00", True, "WARN", "", {})
    seen = []

    def to_alerts(ev, state, said):
        seen.append(state)
        return [], CheckState(False, ev.partition)

    outbox.ingest([(CHECK.to_user_string(), 7, [event], to_alerts)])
    assert seen == [CheckState(True, None)]
    assert '"buckets":{"demo/raw/orders:row_count_anomaly":"2026-02-27-14:00"}' in outbox.snapshot()


def test_on_a_postgres_instance_the_outbox_lives_in_its_database(shop, sns, postgres_url, tmp_path, monkeypatch):
    """Production: the instance on PostgreSQL, two passes at once, nothing written to
    DAGSTER_HOME (the daemon's and the CLI's homes are different filesystems)."""
    import threading

    endpoint, topic, queue = sns
    _, make, outbox_path = shop
    defs = make(notify="every_failure")
    # no outbox file configured: the instance decides where the outbox is
    import yaml

    config = tmp_path / "rowcount_monitor.yaml"
    body = yaml.safe_load(config.read_text())
    del body["alerts"]["outbox"]
    config.write_text(yaml.safe_dump(body))
    defs = build_definitions(config)
    home = tmp_path / "readonly_home"
    home.mkdir()
    proxy = FlakyProxy(endpoint)
    proxy.delay = 0.02
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    try:
        with dg.instance_for_test(
            overrides={"storage": {"postgres": {"postgres_url": postgres_url}}}, temp_dir=str(home)
        ) as instance:
            _log_failures(instance, 12)
            home.chmod(0o555)
            passes = [threading.Thread(target=lambda: tick(defs, instance, topic)) for _ in range(2)]
            for p in passes:
                p.start()
            for p in passes:
                p.join()
    finally:
        home.chmod(0o755)
        proxy.close()
    ids = [json.loads(m["Message"])["alert_id"] for m in drain(endpoint, queue)]
    assert len(ids) == 12 and len(set(ids)) == 12
    from rowcount_monitor.alerting.outbox import PostgresOutbox

    assert PostgresOutbox(postgres_url).counts() == {"sent": 12}
    assert not outbox_path.exists() and not list(home.glob("*alerts*"))


def test_dead_letters_are_replayed_from_the_command_line(shop, sns, monkeypatch, capsys, tmp_path):
    from rowcount_monitor.cli import main

    endpoint, topic, queue = sns
    _, make, outbox_path = shop
    defs = make(notify="every_failure")
    monkeypatch.setenv("ROWCOUNT_MONITOR_CONFIG", str(tmp_path / "rowcount_monitor.yaml"))
    monkeypatch.setenv("ROWCOUNT_MONITOR_SNS_TOPIC_ARN", topic)
    with dg.instance_for_test() as instance:
        _log_failures(instance, 2)
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
        for _ in range(8):
            tick(defs, instance, topic)
    # the first is dead-lettered; the second waits behind it (one table's alerts keep their order)
    assert Outbox(outbox_path).counts() == {"dead": 1, "pending": 1}
    assert drain(endpoint, queue) == []
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    dead_id = Outbox(outbox_path).listing("dead")[0][0]
    assert main(["alerts", "replay", "no-such-id", dead_id]) == 2  # an unknown id replays nothing
    assert "no dead-lettered alert 'no-such-id'; nothing replayed" in capsys.readouterr().err
    assert Outbox(outbox_path).counts() == {"dead": 1, "pending": 1}
    assert main(["alerts", "replay"]) == 0
    assert "replayed 1 dead-lettered alert; delivered the outbox: sent 2" in capsys.readouterr().out
    assert len(drain(endpoint, queue)) == 2
    assert Outbox(outbox_path).counts() == {"sent": 2}


def test_alerts_test_command_publishes_one_message(sns, monkeypatch, capsys, shop, tmp_path):
    from rowcount_monitor.cli import main

    endpoint, topic, queue = sns
    _, make, _ = shop
    make()
    monkeypatch.setenv("ROWCOUNT_MONITOR_CONFIG", str(tmp_path / "rowcount_monitor.yaml"))
    monkeypatch.setenv("ROWCOUNT_MONITOR_SNS_TOPIC_ARN", topic)
    assert main(["alerts", "test"]) == 0
    assert "published a test message" in capsys.readouterr().out
    (m,) = drain(endpoint, queue)
    assert m["MessageAttributes"]["kind"]["Value"] == "test"


def test_a_failed_counting_run_sends_an_operational_alert(shop, sns):
    """Orders cannot be counted, payments in the same run can: the alert names orders and pages
    its owner only, not every team of the batch."""
    endpoint, topic, queue = sns
    db, make, outbox_path = shop
    defs = make(also=[table_entry("payments", owner="team-payments")])
    with duckdb.connect(str(db)) as conn:
        conn.execute("ALTER TABLE shop.raw.orders RENAME COLUMN loaded_at TO loaded_ts")
    with dg.instance_for_test() as instance:
        job = defs.resolve_implicit_global_asset_job_def()
        run = job.execute_in_process(
            instance=instance,
            asset_selection=[ORDERS, dg.AssetKey(["demo", "raw", "payments"])],
            partition_key="2026-02-25-10:00",
            raise_on_error=False,
        )
        assert not run.success
        failure_sensor = next(s for s in defs.sensors if s.name == "operational_alerts")
        dagster_run = instance.get_run_by_id(run.run_id)
        failure_event = next(e for e in run.all_events if e.event_type_value == "PIPELINE_FAILURE")
        context = dg.build_run_status_sensor_context(
            sensor_name="operational_alerts",
            dagster_event=failure_event,
            dagster_instance=instance,
            dagster_run=dagster_run,
        ).for_run_failure()
        failure_sensor(context)
        tick(defs, instance, topic)
    (m,) = drain(endpoint, queue)
    body = json.loads(m["Message"])
    assert m["MessageAttributes"]["kind"]["Value"] == "operational"
    assert body["kind"] == "operational" and "loaded_at" in body["summary"]
    assert body["table"] == "shop.raw.orders" and body["owner"] == "team-orders"
    assert "observed" not in body  # never dressed up as a row-count anomaly


def test_local_topic_and_read_queue_commands(monkeypatch, capsys):
    """The local try-out of docs/checks.md: a topic and queue on moto, a test alert, read back."""
    from rowcount_monitor.cli import main

    with moto_server() as endpoint:
        for var in (
            "AWS_ENDPOINT_URL",
            "AWS_DEFAULT_REGION",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "ROWCOUNT_MONITOR_SNS_TOPIC_ARN",
        ):
            monkeypatch.delenv(var, raising=False)
        assert main(["alerts", "local-topic", "--endpoint", endpoint]) == 0
        exports = dict(line.removeprefix("export ").split("=", 1) for line in capsys.readouterr().out.splitlines())
        assert exports["AWS_ENDPOINT_URL"] == endpoint
        for key, value in exports.items():
            monkeypatch.setenv(key, value)
        assert main(["alerts", "test", "--owner", "team-x"]) == 0
        capsys.readouterr()
        assert main(["alerts", "read-queue", "--endpoint", endpoint]) == 0
        out = capsys.readouterr().out
    assert "[INFO] rowcount-monitor.test: test message" in out
    assert "'owner': 'team-x'" in out and out.rstrip().endswith(
        "1 message(s) read and removed from rowcount-monitor-inbox"
    )


REVENUE = dg.AssetKey(["demo", "marts", "daily_revenue"])
PAYMENTS = dg.AssetKey(["demo", "raw", "payments"])


def test_a_raw_table_failing_with_a_model_below_it_pages_once_for_the_cause(tmp_path, writable_db, sns, monkeypatch):
    """orders fails, and daily_revenue (a dbt mart built from it) with it: one page, from
    orders, naming the mart and copied to its owner by attribute; payments, failing beside them
    but not above the mart, pages on its own. The mart's recovery still says so. Through an SNS
    that fails in the middle: nothing lost, nothing twice."""
    endpoint, topic, queue = sns
    revenue = {"table": "shop.marts.daily_revenue", "warehouse": "demo", "cadence": "daily", "owner": "team-finance"}
    tables = [table_entry("orders", owner="team-orders"), table_entry("payments", owner="team-payments"), revenue]
    dbt = {"project_dir": str(Path(__file__).parents[1] / "dbt_project"), "warehouse": "demo"}
    alerts = {"outbox": str(tmp_path / "outbox.sqlite"), "retry_backoff_seconds": 0}
    defs = build_definitions(write_config(tmp_path, writable_db, tables, dbt=dbt, alerts=alerts))
    proxy = FlakyProxy(endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    try:
        with dg.instance_for_test() as instance:
            _log_evaluations(
                instance,
                [(ORDERS, False, "2026-02-27-14:00"), (REVENUE, False, None), (PAYMENTS, False, "2026-02-27-14:00")],
            )
            proxy.healthy_for = 1  # SNS fails after one publish
            first, cursor = tick(defs, instance, topic)
            proxy.healthy_for = None
            second, cursor = tick(defs, instance, topic, cursor)
            _log_evaluations(instance, [(REVENUE, True, None)])
            third, cursor = tick(defs, instance, topic, cursor)
            quiet, _ = tick(defs, instance, topic, cursor)
    finally:
        proxy.close()
    assert "read 3 check evaluations, queued 2 alerts; sent 1, failed 1" in first.skip_message
    assert "queued 1 alerts; sent 1" in third.skip_message and "queued 0 alerts; sent 0" in quiet.skip_message
    envelopes = drain(endpoint, queue)
    bodies = {(b["table"], b["kind"]): b for b in (json.loads(e["Message"]) for e in envelopes)}
    assert len(envelopes) == 3 and set(bodies) == {
        ("shop.raw.orders", "anomaly"),
        ("shop.raw.payments", "anomaly"),
        ("shop.marts.daily_revenue", "recovered"),
    }
    page = bodies["shop.raw.orders", "anomaly"]
    assert page["downstream"] == ["shop.marts.daily_revenue"] and page["downstream_owners"] == ["team-finance"]
    assert page["summary"].endswith("failing below it in the same bucket: shop.marts.daily_revenue")
    assert "downstream" not in bodies["shop.raw.payments", "anomaly"]
    attributes = next(
        e["MessageAttributes"] for e in envelopes if json.loads(e["Message"])["table"] == "shop.raw.orders"
    )
    assert attributes["owner"]["Value"] == "team-orders"
    assert json.loads(attributes["downstream_owners"]["Value"]) == ["team-finance"]


INVOICE_PAYMENTS = dg.AssetKey(["demo", "raw", "payments", "invoice_payments"])


def _metric_shop(tmp_path, writable_db, outbox_name="outbox.sqlite"):
    """payments and its metric invoice_payments (an asset below it), with their own outbox."""
    metric = {
        "metric": "invoice_payments",
        "table": "shop.raw.payments",
        "warehouse": "demo",
        "expression": "count(*) FILTER (WHERE method = 'invoice')",
        "cadence": "hourly",
        "timestamp_column": "loaded_at",
        "owner": "team-billing",
    }
    alerts = {"outbox": str(tmp_path / outbox_name), "retry_backoff_seconds": 0}
    config = write_config(
        tmp_path, writable_db, [table_entry("payments", owner="team-payments")], metrics=[metric], alerts=alerts
    )
    return build_definitions(config)


def _kinds(endpoint, queue) -> list[tuple[str, str, str]]:
    """(table, kind, bucket) of every message that reached the queue, sorted."""
    bodies = [json.loads(e["Message"]) for e in drain(endpoint, queue)]
    return sorted((b["table"], b["kind"], b["partition"]) for b in bodies)


def test_a_metric_only_incident_in_a_catch_up_pass_pages_and_only_paged_failures_recover(tmp_path, writable_db, sns):
    """A catch-up pass (a daemon back after an outage, or the demo's first pass over its backfill)
    reads hours of evaluations at once. payments fails at 10:00 and 12:00, its metric at 12:00
    (the same bucket: one page, from payments, naming the metric) and alone at 15:00: that
    failure is the metric's own and pages; nothing "recovers" that was never paged."""
    endpoint, topic, queue = sns
    defs = _metric_shop(tmp_path, writable_db)
    hours = [f"2026-02-27-{h:02d}:00" for h in range(10, 17)]
    payments_fail, metric_fail = {"2026-02-27-10:00", "2026-02-27-12:00"}, {"2026-02-27-12:00", "2026-02-27-15:00"}
    with dg.instance_for_test() as instance:
        _log_evaluations(
            instance,
            [
                (key, h not in failing, h)
                for h in hours
                for key, failing in ((PAYMENTS, payments_fail), (INVOICE_PAYMENTS, metric_fail))
            ],
        )
        tick(defs, instance, topic)
    messages = _kinds(endpoint, queue)
    metric, table = "shop.raw.payments invoice_payments", "shop.raw.payments"
    assert [m for m in messages if m[0] == table] == [
        (table, "anomaly", "2026-02-27-10:00"),
        (table, "anomaly", "2026-02-27-12:00"),
        (table, "recovered", "2026-02-27-11:00"),
        (table, "recovered", "2026-02-27-13:00"),
    ]
    assert [m for m in messages if m[0] != table] == [
        (metric, "anomaly", "2026-02-27-15:00"),
        (metric, "recovered", "2026-02-27-13:00"),  # its 12:00 failure went out with payments' page
        (metric, "recovered", "2026-02-27-16:00"),
    ]


def test_judging_older_buckets_after_a_newer_failure_sends_no_false_recovery(shop, sns):
    """orders fails at 20:00 and is paged; then a backfill judges the day before it again
    (`backfill --judge-days 1`): those older buckets pass, and say nothing about 20:00. The
    check still fails (status too), one older bucket that now fails is news of its own, and the
    next bucket that passes is the one "recovered"."""
    from rowcount_monitor.report import row_count_checks, status

    endpoint, topic, _queue = sns
    _, make, _ = shop
    defs = make()
    queue = _queue
    with dg.instance_for_test() as instance:
        _log_evaluations(instance, [(ORDERS, False, "2026-02-27-20:00")])
        tick(defs, instance, topic)
        assert _kinds(endpoint, queue) == [("shop.raw.orders", "anomaly", "2026-02-27-20:00")]
        older = [f"2026-02-27-{h:02d}:00" for h in range(20)]
        _log_evaluations(instance, [(ORDERS, h != "2026-02-27-05:00", h) for h in older])
        tick(defs, instance, topic)
        assert _kinds(endpoint, queue) == [("shop.raw.orders", "anomaly", "2026-02-27-05:00")]
        (row,) = status(instance, row_count_checks(defs))
        assert (row.bucket, row.verdict, row.failing_since) == ("2026-02-27-20:00", "failing", "2026-02-27-20:00")
        _log_evaluations(instance, [(ORDERS, True, "2026-02-27-21:00")])
        tick(defs, instance, topic)
        assert _kinds(endpoint, queue) == [("shop.raw.orders", "recovered", "2026-02-27-21:00")]
        (row,) = status(instance, row_count_checks(defs))
        assert (row.bucket, row.verdict) == ("2026-02-27-21:00", "ok")


def test_per_team_subscriptions_get_alerts_of_several_owners_and_big_alerts_fit_sns(sns):
    """An operational alert over tables of three teams reaches each team's filtered queue (and
    no other team's); one about 1,000 failing tables, with a summary too long for SNS's
    256 KiB, goes out bounded, saying how much was left out."""
    import boto3

    endpoint, topic, everything = sns
    sns_client, sqs = boto3.client("sns", endpoint_url=endpoint), boto3.client("sqs", endpoint_url=endpoint)
    queues = {}
    for team in ("team-t2", "team-t4", "team-other"):
        queue = sqs.create_queue(QueueName=f"inbox-{team}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        policy = json.dumps({"owner": [team]})
        sns_client.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"FilterPolicy": policy})
        queues[team] = queue
    tables = [f"shop.raw.table_{i:04d}" for i in range(1000)]
    huge = Alert(
        "run-failure:r1",
        "operational",
        ", ".join(tables)[:200],
        "team-metric, team-t2, team-t4",
        "ERROR",
        "counting failed: " + "; ".join(f"{t}: IO Error: Could not set lock on file" for t in tables) * 5,
        {"downstream": tables, "run_id": "r1"},
    )
    single = Alert("a:1:anomaly", "anomaly", "shop.raw.orders", "team-t4", "WARN", "60 % below the expected 100")
    publisher = SNSPublisher(topic_arn=topic)
    for alert in (huge, single):
        publisher.publish(alert)
    got = {team: [json.loads(m["Message"]) for m in drain(endpoint, q)] for team, q in queues.items()}
    assert [b["alert_id"] for b in got["team-t2"]] == ["run-failure:r1"]
    assert sorted(b["alert_id"] for b in got["team-t4"]) == ["a:1:anomaly", "run-failure:r1"]
    assert got["team-other"] == []
    assert len(drain(endpoint, everything)) == 2  # the unfiltered subscription takes both
    body = next(b for b in got["team-t2"])
    assert len(huge.message().encode()) + len(json.dumps(huge.attributes())) < 256 * 1024
    assert body["summary"].endswith("more characters)") and body["downstream"][-1] == "… and 950 more"


def test_a_password_in_the_endpoint_url_is_never_stored_or_printed(shop, sns, monkeypatch, capsys, caplog, tmp_path):
    """AWS_ENDPOINT_URL may carry user:password (a proxy's); botocore names the URL in its
    connection errors. The outbox's last_error, the sensor's warnings and the command line
    show it masked."""
    from rowcount_monitor.cli import main

    _, topic, _ = sns
    _, make, outbox_path = shop
    defs = make(notify="every_failure")
    monkeypatch.setenv("ROWCOUNT_MONITOR_CONFIG", str(tmp_path / "rowcount_monitor.yaml"))
    monkeypatch.setenv("ROWCOUNT_MONITOR_SNS_TOPIC_ARN", topic)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://alerts:hunter2-Pa55@127.0.0.1:9")  # nothing listens there
    with dg.instance_for_test() as instance, caplog.at_level(logging.WARNING):
        _log_failures(instance, 1)
        for _ in range(8):
            result, _ = tick(defs, instance, topic)
    assert Outbox(outbox_path).counts() == {"dead": 1}
    assert main(["alerts", "status"]) == 0
    assert main(["alerts", "replay"]) == 1
    shown = caplog.text + capsys.readouterr().out
    assert "http://***@127.0.0.1:9" in shown
    assert "hunter2" not in shown and b"hunter2" not in outbox_path.read_bytes()


def test_a_backfill_until_a_future_time_fills_only_up_to_now(tmp_path, writable_db):
    """Buckets that have not happened yet are not empty ones: nothing after now is recorded or
    judged, whatever --until says."""
    now = pd.Timestamp.now(tz="UTC").tz_localize(None)
    start = (now - pd.Timedelta(hours=6)).floor("h")
    defs = build_definitions(
        write_config(tmp_path, writable_db, [table_entry("orders", start=f"{start:%Y-%m-%dT%H:%M}")])
    )
    with dg.instance_for_test() as instance:
        backfill_until(defs, instance, f"{now + pd.Timedelta(days=2):%Y-%m-%d %H:%M}", judge_days=3)
        done = sorted(instance.get_materialized_partitions(ORDERS))
        judged = [r.event for r in instance.event_log_storage.get_asset_check_execution_history(CHECK, limit=100)]
    assert done and pd.Timestamp(datetime.strptime(done[-1], "%Y-%m-%d-%H:%M")) <= now
    assert done[0] == f"{start:%Y-%m-%d-%H:%M}" and len(done) <= 7
    assert all(e is None or e.dagster_event.event_specific_data.partition <= done[-1] for e in judged)
