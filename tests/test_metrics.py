"""Metric monitors: an SQL expression per bucket of a table, validated at load, measured in the
row counts' batched statements, recorded, judged and alerted like a row count (real DuckDB file,
real Dagster instance)."""

import dagster as dg
import duckdb
import pandas as pd
import pytest

from rowcount_monitor.config import ConfigError
from rowcount_monitor.connections import reader
from rowcount_monitor.defs import build_definitions
from rowcount_monitor.naming import CHECK_NAME
from rowcount_monitor.warehouse import TableRef

from .conftest import table_entry, write_config
from .test_alerting import backfill_until

INVOICES = "count(*) FILTER (WHERE method = 'invoice')"
PAYMENTS = dg.AssetKey(["demo", "raw", "payments"])
INVOICE_PAYMENTS = dg.AssetKey(["demo", "raw", "payments", "invoice_payments"])


def metric_entry(name: str, table: str, expression: str, **extra) -> dict:
    return {
        "metric": name,
        "table": f"shop.raw.{table}",
        "warehouse": "demo",
        "expression": expression,
        "cadence": "hourly",
        "timestamp_column": "loaded_at",
        "owner": "payments@shop.example",
        **extra,
    }


@pytest.mark.parametrize(
    "expression, fragments",
    [
        ("DELETE FROM shop.raw.payments", ["is a DELETE statement, not a SELECT expression"]),
        ("count(*); DROP TABLE shop.raw.orders", ["more than one statement"]),
        ("sum(amount) -- the rest of the query", ["SQL comment"]),
        ("count(*) FROM shop.raw.orders", ["more than an expression"]),
        ("count(*) AS n, 1", ["more than one expression", "without a second column or an alias"]),
        ("count(*) FILTER WHERE method = 'card'", ["does not run on shop.raw.payments", "syntax error"]),
        ("sum(no_such_column)", ["does not run on shop.raw.payments", "no_such_column"]),
    ],
)
def test_a_metric_that_is_not_one_select_expression_is_a_clear_error_at_load(tmp_path, demo_db, expression, fragments):
    config = write_config(
        tmp_path, demo_db, [table_entry("payments")], metrics=[metric_entry("m", "payments", expression)]
    )
    with pytest.raises(ConfigError) as error:
        build_definitions(config)
    message = str(error.value)
    for fragment in [str(config), "metrics[0] (m)", "field 'expression'", *fragments]:
        assert fragment in message, message


def test_batched_metrics_equal_one_query_each(demo_db):
    from dagster_duckdb import DuckDBResource

    warehouse = reader(DuckDBResource(database=str(demo_db)))
    start, end = pd.Timestamp("2026-02-27"), pd.Timestamp("2026-03-01")
    asked = [
        ("payments", INVOICES),
        ("orders", "count(DISTINCT customer_id)"),
        ("orders", "sum(amount)"),
        ("events", "avg(CASE WHEN event_type = 'click' THEN 1.0 ELSE 0.0 END)"),
        ("orders", None),  # a row count in the same statement
    ]
    batched = warehouse.bucket_counts_many(
        [(TableRef("shop", "raw", t), "loaded_at", *([e] if e else [])) for t, e in asked], "hour", start, end
    )
    with duckdb.connect(str(demo_db), read_only=True) as conn:
        for (table, expression), got in zip(asked, batched, strict=True):
            rows = conn.execute(
                f"SELECT date_trunc('hour', loaded_at), {expression or 'count(*)'} FROM shop.raw.{table} "
                "WHERE loaded_at >= ? AND loaded_at < ? GROUP BY 1",
                [start.to_pydatetime(), end.to_pydatetime()],
            ).fetchall()
            single = {pd.Timestamp(b): v for b, v in rows}
            assert len(got) >= 47 and got.keys() == single.keys()  # payments load nothing at 09:00 on the 27th
            assert all(got[b] == pytest.approx(float(single[b]), rel=1e-12) for b in single), table


def test_a_metric_is_an_asset_below_its_table_recorded_judged_and_paged(tmp_path, demo_db):
    config = write_config(
        tmp_path,
        demo_db,
        [table_entry("payments", owner="payments@shop.example")],
        metrics=[
            metric_entry("invoice_payments", "payments", INVOICES),
            metric_entry(
                "invoice_share", "payments", "avg(CASE WHEN method = 'invoice' THEN 1.0 ELSE 0.0 END)", kind="value"
            ),
        ],
    )
    defs = build_definitions(config)
    assert len(defs.assets) == 1  # measured in the table's own counting batch
    graph = defs.resolve_asset_graph()
    assert graph.get(INVOICE_PAYMENTS).parent_keys == {PAYMENTS}
    assert graph.get(INVOICE_PAYMENTS).metadata["expression"] == INVOICES
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        backfill_until(defs, instance, "2026-02-28 14:00")
        # the demo's metric incident: every payment of Saturday 15:00 by invoice, their number normal
        result = job.execute_in_process(instance=instance, partition_key="2026-02-28-15:00")
        verdicts = {e.asset_key.path[-1]: e for e in result.get_asset_check_evaluations()}
        recorded = instance.get_latest_materialization_event(INVOICE_PAYMENTS).asset_materialization.metadata
    with duckdb.connect(str(demo_db), read_only=True) as conn:
        paid = conn.execute(
            "SELECT count(*) FROM shop.raw.payments WHERE date_trunc('hour', loaded_at) = '2026-02-28 15:00'"
        ).fetchone()[0]
    assert recorded["value"].value == paid and "dagster/row_count" not in recorded
    assert verdicts["payments"].passed
    assert (
        not verdicts["invoice_payments"].passed and "% above the expected" in verdicts["invoice_payments"].description
    )
    assert not verdicts["invoice_share"].passed
    assert {e.check_name for e in verdicts.values()} == {CHECK_NAME}


def test_a_metric_cannot_read_a_local_file_into_a_count_or_an_error(tmp_path, demo_db):
    """A metric's SQL reaches only its own table's rows: a subquery is refused when the config
    loads, and the warehouse connection itself has file and network access off, so a file's
    contents reach neither a count nor an error message."""
    from rowcount_monitor.warehouse.duckdb import bounded_connect, seal

    secret = tmp_path / "secrets"
    secret.write_text("4242")
    leaking = f"count(*) + CAST((SELECT content FROM read_text('{secret}')) AS INTEGER)"
    for expression in (leaking, f"count(*) + (FROM read_text('{secret}') SELECT length(content))"):
        config = write_config(
            tmp_path, demo_db, [table_entry("payments")], metrics=[metric_entry("m", "payments", expression)]
        )
        with pytest.raises(ConfigError) as error:
            build_definitions(config)
        assert "holds a subquery" in str(error.value) and "field 'expression'" in str(error.value)
    with bounded_connect(str(demo_db))() as conn:  # as the warehouse reader opens and seals each one
        seal(conn)
        with pytest.raises(duckdb.PermissionException) as denied:
            conn.execute(f"SELECT {leaking} FROM shop.raw.payments")
        assert "disabled by configuration" in str(denied.value) and "4242" not in str(denied.value)
        with pytest.raises(duckdb.Error):  # nor can a later statement switch it back on
            conn.execute("SET enable_external_access = true")
        assert conn.execute("SELECT count(*) FROM shop.raw.payments").fetchone()[0] > 0


def test_a_failing_metric_puts_no_row_data_into_the_step_failure(tmp_path, demo_db):
    """The warehouse quotes the value it could not convert ('card'); the failure a run records,
    and the operational alert made from it, say what went wrong without the value."""
    config = write_config(
        tmp_path,
        demo_db,
        [table_entry("payments")],
        metrics=[metric_entry("m", "payments", "sum(CAST(method AS INTEGER))")],
    )
    defs = build_definitions(config)
    with dg.instance_for_test() as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, partition_key="2026-02-28-15:00", raise_on_error=False
        )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    text = failure.step_failure_data.user_failure_data.description
    assert "Could not convert string '…' to INT32" in text, text
    assert not any(word in text for word in ("card", "invoice", "paypal"))


def test_a_metric_that_is_not_a_number_fails_alone(tmp_path, demo_db):
    """A NaN or an infinite value fails its own metric, said in words; the table and the other
    metric of the batch are recorded and judged."""
    config = write_config(
        tmp_path,
        demo_db,
        [table_entry("payments", owner="team-payments")],
        metrics=[
            metric_entry("ratio", "payments", "CAST('nan' AS DOUBLE) * count(*)", kind="value", owner="team-ratio"),
            metric_entry("rate", "payments", "CAST('inf' AS DOUBLE) * count(*)", kind="value", owner="team-rate"),
            metric_entry("invoice_payments", "payments", INVOICES),
        ],
    )
    defs = build_definitions(config)
    with dg.instance_for_test() as instance:
        backfill_until(defs, instance, "2026-02-28 14:00")
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, partition_key="2026-02-28-15:00", raise_on_error=False
        )
    assert not result.success
    judged = {e.asset_key.path[-1] for e in result.get_asset_check_evaluations()}
    assert judged == {"payments", "invoice_payments"}
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    data = failure.step_failure_data.user_failure_data
    assert sorted(data.metadata["failed_assets"].value) == [
        "demo/raw/payments/rate",
        "demo/raw/payments/ratio",
    ]
    assert "value is not a number (nan)" in data.description and "value is not a number (inf)" in data.description
