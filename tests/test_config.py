"""Malformed configs are rejected before anything loads, naming the file, the entry and the field."""

import dagster as dg
import pytest
import yaml

from rowcount_monitor.config import ConfigError, WarehouseError, load_config
from rowcount_monitor.defs import build_definitions

from .conftest import table_entry, write_config

BAD = {
    "unknown key": (
        [table_entry("orders", cadense="hourly")],
        ["tables[0] (shop.raw.orders)", "'cadense'", "did you mean 'cadence'?"],
    ),
    "unknown policy key": (
        [table_entry("orders", policy={"sensitivty": 3})],
        ["'policy.sensitivty'", "did you mean 'sensitivity'?"],
    ),
    "wrong type": (
        [table_entry("orders", blocking="sometimes")],
        ["tables[0] (shop.raw.orders)", "'blocking'", "boolean"],
    ),
    "bad cadence": ([table_entry("orders", cadence="weekly")], ["tables[0] (shop.raw.orders)", "'cadence'", "hourly"]),
    "two-part name": (
        [{**table_entry("orders"), "table": "raw.orders"}],
        ["tables[0] (raw.orders)", "'table'", "database.schema.table"],
    ),
    "duplicate": (
        [table_entry("orders"), table_entry("payments"), table_entry("orders")],
        ["tables[2] (shop.raw.orders)", "'table'", "duplicate of tables[0]"],
    ),
    "unknown warehouse": (
        [table_entry("orders", warehouse="prod")],
        ["tables[0] (shop.raw.orders)", "'warehouse'", "unknown warehouse 'prod'"],
    ),
    "bad policy value": (
        [table_entry("orders", policy={"sensitivity": -1})],
        ["tables[0] (shop.raw.orders)", "'policy.sensitivity'", "greater than 0"],
    ),
    "bad policy key": (
        [table_entry("orders", policy={"sensitivty": 3})],
        ["tables[0] (shop.raw.orders)", "'policy.sensitivty'"],
    ),
    "impossible M-of-N": (
        [table_entry("orders", policy={"min_anomalies": 3, "window": 2})],
        ["tables[0] (shop.raw.orders)", "'policy'", "M-of-N"],
    ),
    "unknown holiday calendar": (
        [table_entry("orders", policy={"holidays": ["XX"]})],
        ["tables[0] (shop.raw.orders)", "'policy'", "unknown holiday calendar 'XX'"],
    ),
    "settle not a duration": (
        [table_entry("orders", settle="2 hours")],
        ["tables[0] (shop.raw.orders)", "'settle'", "expected a duration like 2w, 7d, 12h or 30m"],
    ),
    "settle of centuries": (
        [table_entry("orders", settle="99999999999w")],
        ["tables[0] (shop.raw.orders)", "'settle'", "longer than 31 days"],
    ),
    "start in year 1": (
        [table_entry("orders", start="0001-01-01")],
        ["tables[0] (shop.raw.orders)", "'start'", "0001-01-01 is not a date a table's first load can have"],
    ),
    "recount not a number of buckets": (
        [table_entry("orders", recount="3h")],
        ["tables[0] (shop.raw.orders)", "'recount'", "valid integer"],
    ),
    "recount beyond a week of hours": (
        [table_entry("orders", recount=500)],
        ["tables[0] (shop.raw.orders)", "'recount'", "less than or equal to 168"],
    ),
    "unknown time zone": (
        [table_entry("orders", timezone="America/NewYork")],
        ["tables[0] (shop.raw.orders)", "'timezone'", "unknown time zone 'America/NewYork'", "IANA name"],
    ),
    "bucket mode without timestamp": (
        [{**table_entry("orders", count_mode="bucket"), "timestamp_column": None}],
        ["tables[0] (shop.raw.orders)", "'count_mode'", "timestamp_column"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_config_names_file_entry_and_field(tmp_path, demo_db, case):
    tables, fragments = BAD[case]
    path = write_config(tmp_path, demo_db, tables)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(str(path))
    for fragment in fragments:
        assert fragment in message, message


@pytest.mark.parametrize(
    "tables,fragments",
    [
        ([table_entry("no_such_table")], ["tables[0] (shop.raw.no_such_table)", "'table'", "does not exist"]),
        (
            [table_entry("orders", timestamp_column="created")],
            ["tables[0] (shop.raw.orders)", "'timestamp_column'", "no column 'created'"],
        ),
        (
            [table_entry("orders", start="2020-01-01T00:00")],
            ["tables[0] (shop.raw.orders)", "'start'", "2020-01-01 is more than 400 days back", "max_history_days"],
        ),
    ],
)
def test_config_against_the_warehouse_fails_the_load_not_half_of_it(tmp_path, demo_db, tables, fragments):
    path = write_config(tmp_path, demo_db, [table_entry("payments")] + tables)
    with pytest.raises(ConfigError) as err:
        build_definitions(path)
    for fragment in fragments:
        assert fragment.replace("tables[0]", "tables[1]") in str(err.value), str(err.value)


@pytest.mark.parametrize(
    "text,fragment",
    [
        ("tables: [\n  - table: a.b.c\n", "not valid YAML"),
        ("- just\n- a list\n", "expected a mapping"),
        ("warehouses: {}\n", "field 'tables': nothing to monitor"),
        ("warehouses: {demo: {type: oracle, path: x}}\ntables: []\n", "field 'warehouses.demo.type'"),
        ("warehouses: {demo: {type: duckdb, pathh: x}}\ntables: []\n", "'warehouses.demo.pathh'.*did you mean 'path'"),
        ("warehouses: {demo: {type: duckdb, path: x}}\ntable: []\n", "field 'table'.*did you mean 'tables'"),
    ],
)
def test_malformed_files(tmp_path, text, fragment):
    path = tmp_path / "rowcount_monitor.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=fragment):
        load_config(path)


WH = "warehouses: {demo: {type: duckdb, path: x.duckdb}}\n"
ORDERS = "{table: shop.raw.orders, warehouse: demo, cadence: hourly, timestamp_column: loaded_at"


@pytest.mark.parametrize(
    "data,fragment",
    [
        (b"\x00\xff\xfe\x89PNG\r\n", r"not a text file \(byte 0xff at offset 1 is not UTF-8\)"),
        (("tables: " + "[" * 5000 + "]" * 5000).encode(), "nested thousands of levels deep"),
        (
            (WH + f"tables: [{ORDERS}, start: 2026-13-45}}]").encode(),
            r"tables\[0\] \(shop.raw.orders\), field 'start': .*month",
        ),
        (
            f"warehouses: {{my-wh: {{type: duckdb, path: x}}}}\ntables: [{ORDERS}}}]".encode(),
            "warehouse name 'my-wh' may hold only",
        ),
        (
            f"warehouses: {{'my wh': {{type: duckdb, path: x}}}}\ntables: [{ORDERS}}}]".encode(),
            "warehouse name 'my wh' may hold only",
        ),
        ((WH + "source: shop\ntables: []\n").encode(), "field 'source': not a config key"),
        (
            (WH + f"tables: [{ORDERS}}}]\ntables: []\n").encode(),
            "key 'tables' appears twice in one mapping: lines 2 and 3",
        ),
        ((WH + f"tables:\n  - {ORDERS},\n     cadence: daily}}\n").encode(), "key 'cadence' appears twice"),
    ],
)
def test_malformed_files_end_in_one_config_error(tmp_path, data, fragment):
    """Each of these once ended in a raw Python error or a wrong name (or, for a repeated key,
    in 12 tables quietly no longer monitored)."""
    path = tmp_path / "rowcount_monitor.yaml"
    path.write_bytes(data)
    with pytest.raises(ConfigError, match=f"^{path}: .*{fragment}"):
        load_config(path)


def test_a_directory_is_not_a_config(tmp_path):
    with pytest.raises(ConfigError, match=f"{tmp_path}: is a directory, not a config file"):
        load_config(tmp_path)


def test_a_start_with_an_offset_is_that_instant_in_utc(tmp_path, demo_db):
    path = write_config(tmp_path, demo_db, [table_entry("orders", start="2026-01-05T00:00:00+02:00")])
    assert str(load_config(path).tables[0].start) == "2026-01-04 22:00:00"


def test_duckdb_names_match_case_insensitively_as_duckdb_does(tmp_path, demo_db):
    path = write_config(tmp_path, demo_db, [{**table_entry("orders"), "table": "SHOP.RAW.ORDERS"}])
    assert len(build_definitions(path).assets) == 1


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="nowhere.yaml: config file not found"):
        load_config(tmp_path / "nowhere.yaml")


def test_policy_overrides_reach_the_detection_policy(tmp_path, demo_db):
    path = write_config(
        tmp_path,
        demo_db,
        [
            table_entry(
                "orders",
                policy={
                    "sensitivity": 5,
                    "direction": "drop",
                    "seasonality": [24],
                    "exclude": [["2026-02-01T00:00", "2026-02-02T00:00"]],
                },
            )
        ],
    )
    policy = load_config(path).tables[0].policy.to_policy("count")
    assert policy.sensitivity == 5 and policy.direction == "drop" and policy.seasonality == (24,)
    assert len(policy.exclude) == 1 and policy.min_relative_change == 0.1


def test_cli_reports_config_errors_in_one_line(tmp_path, demo_db, monkeypatch, capsys):
    from rowcount_monitor.cli import main

    path = write_config(tmp_path, demo_db, [table_entry("orders", cadence="weekly")])
    monkeypatch.setenv("ROWCOUNT_MONITOR_CONFIG", str(path))
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    assert main(["backfill"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("rowcount-monitor: config error: ") and "'cadence'" in err


def raw_schema(**extra) -> dict:
    """A schema entry for shop.raw: hourly, by loaded_at."""
    return {"schema": "shop.raw", "warehouse": "demo", "cadence": "hourly", "timestamp_column": "loaded_at", **extra}


def test_schema_entries_discover_tables_with_globs(tmp_path, writable_db):
    import duckdb

    db = writable_db
    with duckdb.connect(str(db)) as conn:  # a table without the timestamp column: snapshot mode
        conn.execute("CREATE TABLE shop.raw.order_status AS SELECT 1 AS id")
        conn.execute("CREATE TABLE shop.raw.tmp_scratch AS SELECT 1 AS id")
    schema = raw_schema(include=["order*", "pay*", "tmp_*"], exclude=["tmp_*"], owner="team-data")
    path = write_config(tmp_path, db, [table_entry("payments", owner="payments@shop.example")], schemas=[schema])
    defs = build_definitions(path)
    graph = defs.get_repository_def().asset_graph
    keys = {k.path[-1] for a in defs.assets for k in a.keys}
    assert keys == {"orders", "order_items", "order_status", "payments"}
    assert graph.get(dg.AssetKey(["demo", "raw", "payments"])).owners == ["payments@shop.example"]
    assert graph.get(dg.AssetKey(["demo", "raw", "orders"])).owners == ["team:team-data"]
    assert isinstance(graph.get(dg.AssetKey(["demo", "raw", "orders"])).partitions_def, dg.HourlyPartitionsDefinition)
    status = graph.get(dg.AssetKey(["demo", "raw", "order_status"]))
    assert status.partitions_def is None and status.metadata["count_mode"] == "snapshot"


def test_holiday_calendars_default_at_the_top_and_override_per_table(tmp_path, demo_db):
    path = tmp_path / "rowcount_monitor.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "warehouses": {"demo": {"type": "duckdb", "path": str(demo_db)}},
                "holidays": ["US"],
                "tables": [
                    table_entry("orders"),
                    table_entry("payments", policy={"holidays": ["DE-BY"]}),
                    table_entry("customers", "daily", policy={"holidays": []}),
                ],
                "schemas": [{"schema": "shop.raw", "warehouse": "demo", "include": ["order_*"]}],
            }
        )
    )
    config = load_config(path)
    policies = [t.policy.to_policy("count").holidays for t in config.tables]
    assert policies == [("US",), ("DE-BY",), ()]
    assert config.schemas[0].policy.to_policy("count").holidays == ("US",)
    path.write_text(path.read_text().replace("- US", "- Atlantis"))
    with pytest.raises(ConfigError, match=r"field 'holidays': unknown holiday calendar 'Atlantis'"):
        load_config(path)


def test_a_time_zone_defaults_at_the_top_and_overrides_per_entry(tmp_path, demo_db):
    path = write_config(
        tmp_path,
        demo_db,
        [table_entry("orders"), table_entry("customers", "daily", timezone="UTC")],
        timezone="Europe/Berlin",
        schemas=[{"schema": "shop.raw", "warehouse": "demo", "include": ["order_*"], "timezone": "Asia/Tokyo"}],
    )
    config = load_config(path)
    assert [t.timezone for t in config.tables] == ["Europe/Berlin", "UTC"]
    assert config.schemas[0].timezone == "Asia/Tokyo"
    path.write_text(path.read_text().replace("Europe/Berlin", "Mars/Olympus"))
    with pytest.raises(ConfigError, match=r"field 'timezone': .*unknown time zone 'Mars/Olympus'"):
        load_config(path)


@pytest.mark.parametrize(
    "schema,fragments",
    [
        (
            {"schema": "shop.raw", "warehouse": "demo", "policy": {"min_anomalies": 3, "window": 2}},
            ["schemas[0] (shop.raw)", "'policy'", "M-of-N"],
        ),
        (
            {"schema": "shop.raw", "warehouse": "demo", "include": ["nothing_*"]},
            ["schemas[0] (shop.raw)", "'include'", "no table in shop.raw matches"],
        ),
        ({"schema": "raw", "warehouse": "demo"}, ["schemas[0] (raw)", "'schema'", "database.schema"]),
        ({"schema": "shop.raw", "warehouse": "prod"}, ["schemas[0] (shop.raw)", "'warehouse'", "unknown warehouse"]),
    ],
)
def test_bad_schema_entries(tmp_path, demo_db, schema, fragments):
    path = tmp_path / "rowcount_monitor.yaml"
    path.write_text(
        yaml.safe_dump({"warehouses": {"demo": {"type": "duckdb", "path": str(demo_db)}}, "schemas": [schema]})
    )
    with pytest.raises(ConfigError) as err:
        build_definitions(path)
    for fragment in fragments:
        assert fragment in str(err.value), str(err.value)


def test_discover_stores_a_catalog_that_loads_without_the_warehouse(tmp_path, writable_db, monkeypatch, capsys):
    from rowcount_monitor.cli import main

    db = writable_db
    metric = {
        "metric": "big_orders",
        "table": "shop.raw.orders",
        "warehouse": "demo",
        "expression": "count(*) FILTER (WHERE id % 2 = 0)",
        "cadence": "hourly",
        "timestamp_column": "loaded_at",
    }
    path = write_config(tmp_path, db, schemas=[raw_schema(include=["order*"])], metrics=[metric])
    monkeypatch.setenv("ROWCOUNT_MONITOR_CONFIG", str(path))
    assert main(["discover"]) == 0
    assert "2 tables and 1 metric monitor described in" in capsys.readouterr().out
    live = build_definitions(path)
    db.rename(tmp_path / "wh" / "away.duckdb")  # no warehouse at all now
    cached = build_definitions(path)
    assert {k for a in cached.assets for k in a.keys} == {k for a in live.assets for k in a.keys}
    graph = cached.get_repository_def().asset_graph
    orders = graph.get(dg.AssetKey(["demo", "raw", "orders"]))
    assert orders.partitions_def == live.get_assets_def(["demo", "raw", "orders"]).partitions_def
    path.write_text(path.read_text() + "\n# changed\n")  # a changed config no longer trusts the catalog
    with pytest.raises(WarehouseError, match="DuckDB file .*shop.duckdb does not exist"):
        build_definitions(path)


def test_an_empty_or_only_old_table_in_a_globbed_schema_is_skipped_and_the_others_load(tmp_path, writable_db, caplog):
    """A new, still empty table in a globbed schema, and one whose rows all predate
    max_history_days, are not monitored yet (each said in a warning); the others load. Listed
    by name, the same tables are config errors that say which of the two it is."""
    import duckdb

    db = writable_db
    with duckdb.connect(str(db)) as conn:
        conn.execute("CREATE TABLE shop.raw.order_returns (id INTEGER, loaded_at TIMESTAMP)")
        conn.execute("CREATE TABLE shop.raw.order_archive AS SELECT 1 AS id, TIMESTAMP '2019-01-01' AS loaded_at")
    path = write_config(tmp_path, db, schemas=[raw_schema(include=["order*"])])
    with caplog.at_level("WARNING", logger="rowcount_monitor"):
        defs = build_definitions(path)
    assert {k.path[-1] for a in defs.assets for k in a.keys} == {"orders", "order_items"}
    warned = " ".join(r.getMessage() for r in caplog.records)
    assert "order_returns: not monitored yet: the table is empty" in warned
    assert "order_archive: not monitored yet: all 1 row(s) are older than checks.max_history_days.hourly" in warned
    for name, fragment in (("order_returns", "the table is empty"), ("order_archive", "all 1 row(s) are older")):
        listed = write_config(tmp_path, db, [table_entry(name)])
        with pytest.raises(ConfigError) as error:
            build_definitions(listed)
        assert f"field 'start': {fragment}" in str(error.value) and str(listed) in str(error.value)


def test_a_table_can_choose_the_state_model_and_its_false_alert_budget(tmp_path, demo_db):
    policy = {"model": "state", "false_alerts_per_1000": 0.2}
    config = load_config(write_config(tmp_path, demo_db, [table_entry("orders", policy=policy)]))
    chosen = config.tables[0].policy.to_policy("count")
    assert chosen.model == "state" and chosen.false_alerts_per_1000 == 0.2 and chosen.sensitivity is None
    bad = write_config(tmp_path, demo_db, [table_entry("orders", policy={"false_alerts_per_1000": 0})])
    with pytest.raises(ConfigError, match="false_alerts_per_1000"):
        load_config(bad)


def test_a_policy_naming_a_model_there_is_not_is_an_error_naming_the_file_field_and_the_models(tmp_path, demo_db):
    """`model: baseline` (the same-phase-median model, removed) or a typo fails at load with the
    file, the field and the models there are, not at the first check."""
    for name in ("baseline", "stat"):
        bad = write_config(tmp_path, demo_db, [table_entry("orders", policy={"model": name})])
        with pytest.raises(ConfigError) as error:
            load_config(bad)
        message = str(error.value)
        assert str(bad) in message and "model" in message and "'state'" in message and "'stl'" in message, message
