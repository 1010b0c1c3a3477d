"""One suite, run against both warehouse readers: DuckDB (a real file) and Snowflake (the
real Snowflake connector, answered by fakesnow's DuckDB-backed emulator in this process)."""

import contextlib

import dagster as dg
import duckdb
import fakesnow
import pandas as pd
import pytest
import snowflake.connector
import yaml
from dagster_duckdb import DuckDBResource

from rowcount_monitor.config import ConfigError
from rowcount_monitor.connections import reader
from rowcount_monitor.defs import build_definitions
from rowcount_monitor.warehouse import TableRef

HOSTILE = 'x"; drop table raw.victim; --'
ROWS = ["2026-01-01 10:30", "2026-01-01 10:45", "2026-01-01 11:10", "2026-01-02 00:05"]
SNOWFLAKE_ENV = {
    "SNOWFLAKE_ACCOUNT": "acct",
    "SNOWFLAKE_USER": "monitor",
    "SNOWFLAKE_PASSWORD": "pw-secret-123",
    "SNOWFLAKE_ROLE": "MONITOR",
    "SNOWFLAKE_WAREHOUSE": "XS",
}


def _setup(execute):
    """The same tables in either warehouse."""
    q = '"' + HOSTILE.replace('"', '""') + '"'
    for sql in [
        "CREATE TABLE shop.raw.orders (id INTEGER, loaded_at TIMESTAMP)",
        'CREATE TABLE shop.raw."MixedCase" (id INTEGER, "loadedAt" TIMESTAMP)',
        f"CREATE TABLE shop.raw.{q} (id INTEGER, loaded_at TIMESTAMP)",
        "CREATE TABLE shop.raw.victim (id INTEGER)",
        "INSERT INTO shop.raw.victim VALUES (1)",
        "CREATE TABLE shop.raw.tmp_scratch (id INTEGER)",
    ]:
        execute(sql)
    for i, ts in enumerate(ROWS):
        for table in ("shop.raw.orders", 'shop.raw."MixedCase"', f"shop.raw.{q}"):
            execute(f"INSERT INTO {table} VALUES ({i}, TIMESTAMP '{ts}')")


@contextlib.contextmanager
def fake_snowflake_shop(monkeypatch, setup):
    """The Snowflake connector answered by fakesnow, credentials in the environment, database
    shop and schema shop.raw created and filled by setup(execute)."""
    for key, value in SNOWFLAKE_ENV.items():
        monkeypatch.setenv(key, value)
    with fakesnow.patch():
        import snowflake.connector

        with snowflake.connector.connect() as conn:
            cur = conn.cursor()
            cur.execute("CREATE DATABASE shop")
            cur.execute("CREATE SCHEMA shop.raw")
            setup(cur.execute)
        yield


@pytest.fixture(params=["duckdb", "snowflake"])
def warehouse(request, tmp_path, monkeypatch):
    """(reader, how the config writes the mixed-case table's name, its timestamp column, kind)."""
    if request.param == "duckdb":
        path = tmp_path / "shop.duckdb"
        with duckdb.connect(str(path)) as conn:
            conn.execute("CREATE SCHEMA raw")
            _setup(conn.execute)
        yield reader(DuckDBResource(database=str(path))), "MixedCase", "loadedAt", "duckdb", path
        return
    with fake_snowflake_shop(monkeypatch, _setup):
        from rowcount_monitor.config import WarehouseConfig
        from rowcount_monitor.connections import snowflake_resource

        resource = snowflake_resource("prod", WarehouseConfig(type="snowflake"), "test.yaml")
        yield reader(resource), '"MixedCase"', '"loadedAt"', "snowflake", None


def test_bucket_counts_are_exact(warehouse):
    wh, _, _, _, _ = warehouse
    counts = wh.bucket_counts(
        TableRef("shop", "raw", "orders"),
        "loaded_at",
        "hour",
        pd.Timestamp("2026-01-01"),
        pd.Timestamp("2026-01-02 01:00"),
    )
    assert counts == {
        pd.Timestamp("2026-01-01 10:00"): 2,
        pd.Timestamp("2026-01-01 11:00"): 1,
        pd.Timestamp("2026-01-02 00:00"): 1,
    }
    days = wh.bucket_counts(
        TableRef("shop", "raw", "orders"), "loaded_at", "day", pd.Timestamp("2026-01-01"), pd.Timestamp("2026-01-02")
    )
    assert days == {pd.Timestamp("2026-01-01"): 3}  # the end is exclusive


def test_totals_columns_and_first_timestamp(warehouse):
    wh, mixed, mixed_ts, _, _ = warehouse
    orders = TableRef("shop", "raw", "orders")
    assert wh.total_count(orders) == 4
    assert [c.lower() for c, _ in wh.column_schema(orders)] == ["id", "loaded_at"]
    assert wh.first_timestamp(orders, "loaded_at") == pd.Timestamp("2026-01-01 10:30")
    with pytest.raises(LookupError, match="does not exist"):
        wh.column_schema(TableRef("shop", "raw", "no_such_table"))


def test_mixed_case_names_keep_their_case(warehouse):
    wh, mixed, mixed_ts, _, _ = warehouse
    ref = TableRef("shop", "raw", mixed)
    assert wh.total_count(ref) == 4
    assert [c for c, _ in wh.column_schema(ref)] == ["id" if not mixed.startswith('"') else "ID", "loadedAt"]
    assert (
        sum(wh.bucket_counts(ref, mixed_ts, "day", pd.Timestamp("2026-01-01"), pd.Timestamp("2026-01-03")).values())
        == 4
    )
    assert wh.same_identifier(mixed_ts, "loadedAt")
    assert wh.config_name("MixedCase") in ("MixedCase", '"MixedCase"')


def test_hostile_names_are_counted_not_executed(warehouse):
    wh, _, _, kind, _ = warehouse
    written = HOSTILE if kind == "duckdb" else '"' + HOSTILE.replace('"', '""') + '"'
    ref = TableRef("shop", "raw", written)
    assert wh.total_count(ref) == 4
    assert HOSTILE in wh.list_tables("shop", "raw")
    with pytest.raises((duckdb.Error, snowflake.connector.errors.Error), match="(?i)victim; drop table"):
        wh.total_count(TableRef("shop", "raw", "victim; drop table raw.victim"))
    assert wh.total_count(TableRef("shop", "raw", "victim")) == 1  # still there


def test_discovery_with_globs_builds_one_asset_per_table(warehouse, tmp_path):
    wh, _, _, kind, path = warehouse
    config = {
        "warehouses": {"wh": {"type": kind, **({"path": str(path)} if path else {})}},
        "schemas": [
            {
                "schema": "shop.raw",
                "warehouse": "wh",
                "include": ["*"],
                "exclude": ["tmp_*", "victim"],
                "cadence": "hourly",
                "timestamp_column": "loaded_at",
            }
        ],
    }
    file = tmp_path / "rowcount_monitor.yaml"
    file.write_text(yaml.safe_dump(config))
    defs = build_definitions(file)
    graph = defs.get_repository_def().asset_graph
    assets = {k.path[-1]: graph.get(k) for a in defs.assets for k in a.keys}
    assert sorted(k.lower() for k in assets) == sorted(["orders", "mixedcase", "x____drop_table_raw_victim____"])
    orders = next(a for k, a in assets.items() if k.lower() == "orders")
    assert isinstance(orders.partitions_def, dg.HourlyPartitionsDefinition)
    mixed = next(a for k, a in assets.items() if k.lower() == "mixedcase")
    assert mixed.partitions_def is None  # no loaded_at column: a snapshot table
    job = defs.resolve_implicit_global_asset_job_def()
    with dg.instance_for_test() as instance:
        assert job.execute_in_process(
            instance=instance, asset_selection=[orders.key], partition_key="2026-01-01-10:00"
        ).success
        record = instance.fetch_materializations(orders.key, limit=1).records[0]
    assert record.asset_materialization.metadata["dagster/row_count"].value == 2


def test_missing_snowflake_variables_are_named_at_load(tmp_path, monkeypatch):
    for key in SNOWFLAKE_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("SNOWFLAKE_ACCOUNT", "acct")
    file = tmp_path / "rowcount_monitor.yaml"
    file.write_text(
        yaml.safe_dump(
            {
                "warehouses": {"prod": {"type": "snowflake"}},
                "tables": [{"table": "shop.raw.orders", "warehouse": "prod"}],
            }
        )
    )
    with pytest.raises(ConfigError) as err:
        build_definitions(file)
    message = str(err.value)
    assert "warehouses.prod" in message
    assert "SNOWFLAKE_USER" in message and "SNOWFLAKE_PASSWORD or SNOWFLAKE_PRIVATE_KEY" in message
    assert "acct" not in message


def test_a_snowflake_error_fails_the_step_with_its_message(tmp_path, monkeypatch):
    for key, value in SNOWFLAKE_ENV.items():
        monkeypatch.setenv(key, value)
    file = tmp_path / "rowcount_monitor.yaml"
    file.write_text(
        yaml.safe_dump(
            {
                "warehouses": {"prod": {"type": "snowflake"}},
                "tables": [
                    {
                        "table": "shop.raw.orders",
                        "warehouse": "prod",
                        "cadence": "hourly",
                        "timestamp_column": "loaded_at",
                        "start": "2026-01-01T00:00",
                    }
                ],
            }
        )
    )
    with fakesnow.patch():
        import snowflake.connector

        with snowflake.connector.connect() as conn:
            cur = conn.cursor()
            cur.execute("CREATE DATABASE shop")
            cur.execute("CREATE SCHEMA shop.raw")
            cur.execute("CREATE TABLE shop.raw.orders (id INTEGER, loaded_at TIMESTAMP)")
        defs = build_definitions(file)
        with snowflake.connector.connect() as conn:
            conn.cursor().execute("DROP TABLE shop.raw.orders")
        key = dg.AssetKey(["prod", "raw", "orders"])
        with dg.instance_for_test() as instance:
            result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
                instance=instance, asset_selection=[key], partition_key="2026-01-01-10:00", raise_on_error=False
            )
            assert not result.success
            failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
            assert "orders" in failure.step_failure_data.user_failure_data.description.lower()
            assert "pw-secret-123" not in str(failure.step_failure_data.error.to_string())
            assert instance.fetch_materializations(key, limit=10).records == []


def test_bad_snowflake_credentials_give_snowflakes_message(tmp_path, monkeypatch, capsys):
    """The real Snowflake connector against a loopback endpoint that answers a login the way
    Snowflake does when the password is wrong."""
    import http.server
    import json
    import threading

    from rowcount_monitor.cli import main

    class Login(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            body = json.dumps(
                {
                    "data": {"nextAction": "RETRY_LOGIN"},
                    "code": "390100",
                    "success": False,
                    "message": "Incorrect username or password was specified.",
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Login)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for key, value in SNOWFLAKE_ENV.items():
        monkeypatch.setenv(key, value)
    file = tmp_path / "rowcount_monitor.yaml"
    file.write_text(
        yaml.safe_dump(
            {
                "warehouses": {
                    "prod": {
                        "type": "snowflake",
                        "connection_args": {
                            "host": "127.0.0.1",
                            "port": server.server_address[1],
                            "protocol": "http",
                            "login_timeout": 10,
                        },
                    }
                },
                "tables": [{"table": "shop.raw.orders", "warehouse": "prod"}],
            }
        )
    )
    monkeypatch.setenv("ROWCOUNT_MONITOR_CONFIG", str(file))
    try:
        assert main(["discover"]) == 3
    finally:
        server.shutdown()
    err = capsys.readouterr().err
    assert err.startswith("rowcount-monitor: warehouse error: ")
    assert "Incorrect username or password was specified" in err and "390100" in err
    assert "pw-secret-123" not in err


TZ_ROWS = ["2026-01-01 05:30:00-05", "2026-01-01 05:45:00-05", "2026-01-01 11:10:00+00", "2026-01-01 19:05:00-05"]


@pytest.mark.parametrize("kind", ["duckdb", "snowflake"])
@pytest.mark.parametrize("cadence", ["hourly", "daily"])
def test_a_tz_aware_timestamp_column_is_counted_in_utc_beside_naive_ones(kind, cadence, tmp_path, monkeypatch):
    """Fivetran's _fivetran_synced is TIMESTAMP_TZ: one such table in a batch of naive ones
    used to stop counting for every table of the warehouse (tz-naive vs tz-aware)."""
    ts_type = {"duckdb": "TIMESTAMPTZ", "snowflake": "TIMESTAMP_TZ"}[kind]
    statements = [
        "CREATE TABLE shop.raw.orders (id INTEGER, loaded_at TIMESTAMP)",
        f"CREATE TABLE shop.raw.synced (id INTEGER, loaded_at {ts_type})",
        "CREATE TABLE shop.raw.local_ltz (id INTEGER, loaded_at TIMESTAMP_LTZ)"
        if kind == "snowflake"
        else "CREATE TABLE shop.raw.local_ltz (id INTEGER, loaded_at TIMESTAMPTZ)",
    ]
    statements += [f"INSERT INTO shop.raw.orders VALUES ({i}, TIMESTAMP '{t}')" for i, t in enumerate(ROWS)]
    statements += [
        f"INSERT INTO shop.raw.{t} VALUES ({i}, '{v}')" for t in ("synced", "local_ltz") for i, v in enumerate(TZ_ROWS)
    ]
    tables = [
        {"table": f"shop.raw.{t}", "warehouse": "wh", "cadence": cadence, "timestamp_column": "loaded_at"}
        for t in ("orders", "synced", "local_ltz")
    ]
    file = tmp_path / "rowcount_monitor.yaml"
    if kind == "duckdb":
        path = tmp_path / "shop.duckdb"
        with duckdb.connect(str(path)) as conn:
            conn.execute("SET TimeZone = 'America/New_York'")  # the writer's zone must not matter
            conn.execute("CREATE SCHEMA raw")
            for sql in statements:
                conn.execute(sql)
        file.write_text(yaml.safe_dump({"warehouses": {"wh": {"type": "duckdb", "path": str(path)}}, "tables": tables}))
        return _count_tz_batch(file, cadence)
    with fake_snowflake_shop(monkeypatch, lambda execute: [execute(sql) for sql in statements]):
        file.write_text(yaml.safe_dump({"warehouses": {"wh": {"type": "snowflake"}}, "tables": tables}))
        _count_tz_batch(file, cadence)


def _count_tz_batch(file, cadence):
    defs = build_definitions(file)
    keys = [dg.AssetKey(["wh", "raw", t]) for t in ("orders", "synced", "local_ltz")]
    graph = defs.get_repository_def().asset_graph
    # the first loads, in UTC: naive 10:30 for orders, 05:30-05 = 10:30 UTC for the tz-aware ones
    first = "2026-01-01-10:00" if cadence == "hourly" else "2026-01-01"
    assert all(graph.get(k).partitions_def.get_first_partition_key() == first for k in keys)
    partition = "2026-01-01-10:00" if cadence == "hourly" else "2026-01-01"
    with dg.instance_for_test() as instance:
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=keys, partition_key=partition
        )
        assert result.success
        counts = {
            k.path[-1]: instance.fetch_materializations(k, limit=1)
            .records[0]
            .asset_materialization.metadata["dagster/row_count"]
            .value
            for k in keys
        }
    # hourly 10:00 UTC: two rows each; daily 2026-01-01 UTC: three each (19:05-05 is the next UTC day)
    expected = {
        "hourly": {"orders": 2, "synced": 2, "local_ltz": 2},
        "daily": {"orders": 3, "synced": 3, "local_ltz": 3},
    }[cadence]
    assert counts == expected


def test_junk_timestamps_neither_stretch_partitions_nor_fail_the_load(tmp_path, caplog):
    """A 1970 default, a year-1 date and -infinity in one table: ignored with a warning naming
    the table; its partitions start at its real first load, the clean table beside it too."""
    path = tmp_path / "shop.duckdb"
    now = pd.Timestamp.now(tz="UTC").tz_localize(None).floor("h")
    first = now - pd.Timedelta(days=3)
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE SCHEMA raw")
        for table in ("orders", "junk"):
            conn.execute(f"CREATE TABLE shop.raw.{table} (id INTEGER, loaded_at TIMESTAMP)")
            conn.execute(f"INSERT INTO shop.raw.{table} VALUES (1, TIMESTAMP '{first}'), (2, TIMESTAMP '{now}')")
        conn.execute(
            "INSERT INTO shop.raw.junk VALUES (3, TIMESTAMP '1970-01-01'), (4, TIMESTAMP '0001-01-01'), "
            "(5, '-infinity'::TIMESTAMP)"
        )
    file = tmp_path / "rowcount_monitor.yaml"
    file.write_text(
        yaml.safe_dump(
            {
                "warehouses": {"wh": {"type": "duckdb", "path": str(path)}},
                "tables": [
                    {"table": f"shop.raw.{t}", "warehouse": "wh", "cadence": c, "timestamp_column": "loaded_at"}
                    for t in ("orders", "junk")
                    for c in ("hourly",)
                ],
            }
        )
    )
    with caplog.at_level("WARNING", logger="rowcount_monitor"):
        defs = build_definitions(file)
    graph = defs.get_repository_def().asset_graph
    for table in ("orders", "junk"):
        pdef = graph.get(dg.AssetKey(["wh", "raw", table])).partitions_def
        assert pdef.get_first_partition_key() == first.strftime("%Y-%m-%d-%H:%M")
    warned = [r.getMessage() for r in caplog.records]
    assert any("shop.raw.junk: 3 row(s) with loaded_at before" in m and "max_history_days.hourly" in m for m in warned)
    assert not any("shop.raw.orders" in m for m in warned)


def _odd_names_shop(tmp_path):
    path = tmp_path / "shop.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE SCHEMA raw")
        for table in ("orders", '"order-items"', "order_items", "заказы", "товары"):
            conn.execute(f"CREATE TABLE shop.raw.{table} (id INTEGER, loaded_at TIMESTAMP)")
            conn.execute(f"INSERT INTO shop.raw.{table} VALUES (1, TIMESTAMP '2026-01-01 10:30')")
        conn.execute("CREATE TABLE shop.raw.epoch (id INTEGER, loaded_at BIGINT)")
        conn.execute("INSERT INTO shop.raw.epoch VALUES (1, 1767225600)")
    return path


def _write(tmp_path, path, **body):
    file = tmp_path / "rowcount_monitor.yaml"
    file.write_text(
        yaml.safe_dump({"warehouses": {"wh": {"type": "duckdb", "path": str(path)}}, **body}, allow_unicode=True)
    )
    return file


def test_a_schema_with_colliding_or_unusable_tables_still_loads_the_others(tmp_path, caplog):
    """`order-items` beside `order_items`, two Cyrillic names of equal length, a BIGINT
    timestamp: one new table in a globbed schema used to stop all monitoring."""
    path = _odd_names_shop(tmp_path)
    file = _write(
        tmp_path,
        path,
        schemas=[
            {
                "schema": "shop.raw",
                "warehouse": "wh",
                "include": ["*"],
                "cadence": "hourly",
                "timestamp_column": "loaded_at",
            }
        ],
    )
    with caplog.at_level("WARNING", logger="rowcount_monitor"):
        defs = build_definitions(file)
    names = sorted(k.path[-1] for a in defs.assets for k in a.keys)
    assert len(names) == 4 and "orders" in names and "order_items" in names
    assert len([n for n in names if n.startswith("______")]) == 2  # заказы and товары, distinct keys
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "table order_items: not monitored: its asset key wh/raw/order_items is already" in warned
    assert "order-items" in warned
    assert "column 'loaded_at' of shop.raw.epoch is BIGINT, not a TIMESTAMP or DATE" in warned


@pytest.mark.parametrize(
    "tables, message",
    [
        (
            ['shop.raw."order-items"', "shop.raw.order_items"],
            r"tables\[1\] \(shop.raw.order_items\): its asset key wh/raw/order_items is already .*tables\[0\]",
        ),
        (
            ["shop.raw.epoch"],
            r"tables\[0\] \(shop.raw.epoch\), field 'timestamp_column': column 'loaded_at' .* is BIGINT",
        ),
    ],
)
def test_listed_tables_that_collide_or_cannot_be_counted_are_config_errors(tmp_path, tables, message):
    path = _odd_names_shop(tmp_path)
    file = _write(
        tmp_path,
        path,
        tables=[{"table": t, "warehouse": "wh", "cadence": "hourly", "timestamp_column": "loaded_at"} for t in tables],
    )
    with pytest.raises(ConfigError, match=message):
        build_definitions(file)


@pytest.mark.parametrize(
    "zone, start, end, expected",
    [  # ROWS in UTC: Jan 1 10:30, 10:45, 11:10 and Jan 2 00:05
        ("America/New_York", "2026-01-01 05:00", "2026-01-03 05:00", {"2026-01-01": 4}),  # all before 19:05 local
        ("Asia/Tokyo", "2025-12-31 15:00", "2026-01-02 15:00", {"2026-01-01": 3, "2026-01-02": 1}),
    ],
)
def test_daily_buckets_of_a_time_zone_are_its_local_days(warehouse, zone, start, end, expected):
    wh, _, _, _, _ = warehouse
    days = wh.bucket_counts(
        TableRef("shop", "raw", "orders"), "loaded_at", "day", pd.Timestamp(start), pd.Timestamp(end), zone
    )
    assert days == {pd.Timestamp(k): n for k, n in expected.items()}
