"""Late rows: `recount:` re-counts earlier buckets, records a changed count once, judges that
bucket again and follows its alert with "recovered" (real DuckDB file, real Dagster instance)."""

import dagster as dg
import duckdb
import pandas as pd

from rowcount_monitor.alerting.outbox import OUTBOX_FILE, Outbox
from rowcount_monitor.alerting.sns import SNSPublisher
from rowcount_monitor.defs import build_definitions
from rowcount_monitor.defs.counting import RECOUNTED_FROM
from rowcount_monitor.history import HistoryCache
from rowcount_monitor.naming import CHECK_NAME
from rowcount_monitor.report import anomalies

from .conftest import table_entry, write_config
from .test_alerting import backfill_until

ORDERS = dg.AssetKey(["demo", "raw", "orders"])
CHECK = dg.AssetCheckKey(ORDERS, CHECK_NAME)
LATE_BUCKET, NEXT_BUCKET = "2026-02-25-10:00", "2026-02-25-11:00"
YEARS = 10 * 365 * 86400  # `anomalies --since`: back past the test's buckets
BUCKET_SQL = "loaded_at >= '2026-02-25 10:00' AND loaded_at < '2026-02-25 11:00'"


def bucket_count(db) -> int:
    with duckdb.connect(str(db), read_only=True) as conn:
        return conn.execute(f"SELECT count(*) FROM shop.raw.orders WHERE {BUCKET_SQL}").fetchone()[0]


def partition_counts(instance, partition):
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=ORDERS, asset_partitions=[partition]), limit=100
    ).records
    return [
        (
            r.asset_materialization.metadata["dagster/row_count"].value,
            r.asset_materialization.metadata.get(RECOUNTED_FROM),
        )
        for r in reversed(records)
    ]


def alerts_of(instance) -> list[tuple[str, str]]:
    outbox = Outbox(__import__("pathlib").Path(instance.root_directory) / OUTBOX_FILE)
    return [(i.rsplit(":", 1)[1], i.split(":")[2] + ":" + i.split(":")[3]) for i, _, _ in outbox.listing("pending")]


def test_late_rows_are_recounted_judged_again_and_their_alert_recovered(tmp_path, writable_db):
    db = writable_db
    full = bucket_count(db)
    with duckdb.connect(str(db)) as conn:  # four fifths of the 10:00 rows arrive after its first count
        conn.execute(
            f"CREATE TABLE shop.raw.late AS SELECT * FROM shop.raw.orders WHERE {BUCKET_SQL} AND minute(loaded_at) >= 12"
        )
        conn.execute(f"DELETE FROM shop.raw.orders WHERE {BUCKET_SQL} AND minute(loaded_at) >= 12")
    first = bucket_count(db)
    assert first < full / 2
    defs = build_definitions(write_config(tmp_path, db, [table_entry("orders", recount=3)]))
    job = defs.resolve_implicit_global_asset_job_def()
    alert_sensor, rejudge = defs.resolve_sensor_def("row_count_alerts"), defs.resolve_sensor_def("recounted_buckets")
    with dg.instance_for_test() as instance:
        backfill_until(defs, instance, "2026-02-25 09:00")
        assert job.execute_in_process(instance=instance, asset_selection=[ORDERS], partition_key=LATE_BUCKET).success
        assert not instance.get_latest_asset_check_evaluation_record(
            CHECK
        ).event.dagster_event.event_specific_data.passed
        with dg.build_sensor_context(instance=instance, definitions=defs, resources={"sns": SNSPublisher()}) as context:
            alert_sensor(context)
            alert_cursor = context.cursor
        assert alerts_of(instance) == [("anomaly", LATE_BUCKET)]
        assert [r.bucket for r in anomalies(instance, {CHECK: "orders"}, YEARS)] == [LATE_BUCKET]

        with duckdb.connect(str(db)) as conn:  # the late rows land
            conn.execute("INSERT INTO shop.raw.orders SELECT * FROM shop.raw.late")
        assert job.execute_in_process(instance=instance, asset_selection=[ORDERS], partition_key=NEXT_BUCKET).success
        assert partition_counts(instance, LATE_BUCKET) == [(first, None), (full, dg.MetadataValue.int(first))]
        cached = HistoryCache.for_instance(instance).read(
            ["demo/raw/orders"], pd.Timestamp("2026-02-25 08:00"), pd.Timestamp("2026-02-25 11:00")
        )
        assert cached["demo/raw/orders"][pd.Timestamp("2026-02-25 10:00")] == full  # replaced, not doubled
        assert len(partition_counts(instance, "2026-02-25-08:00")) == 1  # an unchanged count is not recorded again

        # as the sensor daemon does: evaluate the tick and resolve its run requests against their job
        with dg.build_sensor_context(instance=instance, definitions=defs) as context:  # no cursor: a day back
            [request] = rejudge.evaluate_tick(context).run_requests
        assert (request.partition_key, request.asset_check_keys, request.asset_selection) == (LATE_BUCKET, [CHECK], [])
        rejudge_job = defs.resolve_job_def(request.job_name)
        again = rejudge_job.get_subset(
            asset_selection=set(request.asset_selection), asset_check_selection=set(request.asset_check_keys)
        ).execute_in_process(instance=instance, partition_key=request.partition_key, tags=request.tags)
        assert again.success
        [verdict] = again.get_asset_check_evaluations()
        assert verdict.passed and verdict.description.startswith("judged again:")
        assert anomalies(instance, {CHECK: "orders"}, YEARS) == []  # its newest verdict passes
        assert len(partition_counts(instance, LATE_BUCKET)) == 2  # judging counted nothing

        with dg.build_sensor_context(
            instance=instance, definitions=defs, cursor=alert_cursor, resources={"sns": SNSPublisher()}
        ) as context:
            alert_sensor(context)
        # the check recovered with the normal 11:00 load; then the 10:00 alert is followed by its own
        # "recovered" (it was late rows, not a broken load): nothing sent twice
        assert alerts_of(instance) == [("anomaly", LATE_BUCKET), ("recovered", NEXT_BUCKET), ("recovered", LATE_BUCKET)]
        with dg.build_sensor_context(
            instance=instance, definitions=defs, cursor=alert_cursor, resources={"sns": SNSPublisher()}
        ) as context:
            alert_sensor(context)
        assert len(alerts_of(instance)) == 3


def test_without_recount_there_is_no_rejudging_sensor(tmp_path, demo_db):
    defs = build_definitions(write_config(tmp_path, demo_db, [table_entry("orders")]))
    names = {s.name for s in defs.sensors}
    assert "recounted_buckets" not in names and "row_count_alerts" in names


def test_the_demo_holds_back_late_rows_once_and_lands_them_all(writable_db):
    from rowcount_monitor.demo.warehouse import LATE_SHARE, LATE_TABLE, hold_back_late_rows, land_late_rows

    def rows():
        with duckdb.connect(str(writable_db), read_only=True) as conn:
            return conn.execute(
                f"SELECT count(*) FROM shop.raw.{LATE_TABLE} WHERE date_trunc('hour', loaded_at) = '2026-02-25 10:00'"
            ).fetchone()[0]

    before = rows()
    held = hold_back_late_rows(writable_db, pd.Timestamp("2026-02-25 10:00"))
    assert held == before - rows() and abs(held / before - LATE_SHARE) < 0.05
    assert hold_back_late_rows(writable_db, pd.Timestamp("2026-02-25 11:00")) == 0  # one hold at a time
    assert land_late_rows(writable_db) == held and rows() == before
    assert land_late_rows(writable_db) == 0
