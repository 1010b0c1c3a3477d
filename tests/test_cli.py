"""The operating commands on a real instance: status, anomalies, explain, backtest (+ plot)."""
import json
import shutil

import dagster as dg
import duckdb
import numpy as np
import pandas as pd
import pytest
import yaml

from rowcount_monitor.cli import main
from rowcount_monitor.defs import build_definitions
from rowcount_monitor.detection import score_series


@pytest.fixture
def monitored(tmp_path, demo_db, monkeypatch):
    """orders and payments backfilled (the last day judged) with a broken orders load, on a
    persistent instance in DAGSTER_HOME, as the commands find it."""
    (tmp_path / "wh").mkdir()
    db = tmp_path / "wh" / "shop.duckdb"
    shutil.copy(demo_db, db)
    with duckdb.connect(str(db)) as conn:
        conn.execute("DELETE FROM shop.raw.orders WHERE date_trunc('hour', loaded_at) = TIMESTAMP '2026-02-28 09:00'")
    config = tmp_path / "rowcount_monitor.yaml"
    config.write_text(yaml.safe_dump({
        "warehouses": {"demo": {"type": "duckdb", "path": str(db)}},
        "tables": [{"table": f"shop.raw.{t}", "warehouse": "demo", "cadence": "hourly",
                    "timestamp_column": "loaded_at"} for t in ("orders", "payments")]}))
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("ROWCOUNT_MONITOR_CONFIG", str(config))
    defs = build_definitions(config)
    run_config = {"ops": {"fill_missing_buckets": {"config": {"until": "2026-02-28 12:00", "judge_days": 1}}}}
    with dg.DagsterInstance.get() as instance:
        assert defs.resolve_job_def("backfill_row_counts").execute_in_process(
            instance=instance, run_config=run_config).success
    return db


def test_status_lists_every_table_with_its_latest_verdict(monitored, capsys):
    assert main(["status", "--json"]) == 0
    rows = {r["table"]: r for r in json.loads(capsys.readouterr().out)}
    assert set(rows) == {"demo/raw/orders", "demo/raw/payments"}
    assert rows["demo/raw/orders"]["bucket"] == "2026-02-28-11:00" and rows["demo/raw/orders"]["verdict"] == "ok"
    with duckdb.connect(str(monitored)) as conn:
        n = conn.execute("SELECT count(*) FROM shop.raw.orders WHERE date_trunc('hour', loaded_at) = "
                         "TIMESTAMP '2026-02-28 11:00'").fetchone()[0]
    assert rows["demo/raw/orders"]["observed"] == n
    assert main(["status"]) == 0
    assert "demo/raw/payments" in capsys.readouterr().out


def test_anomalies_and_explain(monitored, capsys):
    assert main(["anomalies", "--since", "30d", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows == sorted(rows, key=lambda r: (r["bucket"], r["table"]))
    # (8 days of history are too few to learn this Saturday's mornings: those may be flagged too)
    broken = [r for r in rows if r["bucket"] == "2026-02-28-09:00"]
    assert [(r["table"], r["observed"], r["verdict"]) for r in broken] == [("demo/raw/orders", 0, "failing")]
    assert broken[0]["reason"].startswith("0 rows")
    assert all(r["bucket"] >= "2026-02-27-12:00" for r in rows)  # judged: the last day only
    with pytest.raises(ValueError, match="7d, 12h or 30m"):
        main(["anomalies", "--since", "soon"])
    assert main(["explain", "orders"]) == 0
    out = capsys.readouterr().out
    assert "demo/raw/orders, bucket 2026-02-28-11:00: OK" in out and "within the expected band" in out


def test_backtest_equals_score_series_and_draws_the_band(monitored, capsys, tmp_path):
    png = tmp_path / "orders.png"
    assert main(["backtest", "orders", "--sensitivity", "3", "--json", "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    current, proposed = json.loads(out[: out.rindex("]") + 1])
    with duckdb.connect(str(monitored)) as conn:
        counts = conn.execute("""SELECT date_trunc('hour', loaded_at), count(*) FROM shop.raw.orders
                                 WHERE loaded_at < TIMESTAMP '2026-02-28 12:00' GROUP BY 1""").fetchall()
    history = pd.Series({pd.Timestamp(t): float(n) for t, n in counts}).sort_index()
    history = history.reindex(pd.date_range(history.index[0], "2026-02-28 11:00", freq="h"), fill_value=0.0)
    from rowcount_monitor.detection import DetectionPolicy

    for result, policy in ((current, DetectionPolicy(value_type="count")),
                           (proposed, DetectionPolicy(value_type="count", sensitivity=3))):
        flags = score_series(history, policy)["is_anomaly"]
        starts = flags & ~flags.shift(1, fill_value=False)
        assert result["alert_buckets"] == [str(t) for t in history.index[starts.to_numpy()]]
    assert "2026-02-28 09:00:00" in current["alert_buckets"]
    from PIL import Image

    pixels = np.asarray(Image.open(png).convert("RGB")).reshape(-1, 3).astype(int)
    band = np.all(np.abs(pixels - [0xB5, 0xD9, 0xEB]) < 40, axis=1)  # the light blue band
    alert = np.all(np.abs(pixels - [0xE3, 0x1A, 0x1C]) < 40, axis=1)  # red anomaly markers
    assert band.mean() > 0.02 and alert.sum() > 20


@pytest.mark.parametrize("name", ["shop.raw.orders", "raw.orders", "orders", "demo/raw/orders"])
def test_explain_and_backtest_accept_every_spelling_of_a_table(monitored, capsys, name):
    assert main(["explain", name]) == 0
    assert capsys.readouterr().out.startswith("demo/raw/orders, bucket ")
    assert main(["backtest", name, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["policy"] == "current policy"


def test_seed_cache_fills_the_checks_history_from_the_warehouse(tmp_path, demo_db, monkeypatch, capsys):
    from rowcount_monitor.defs.history import CACHE_FILE, HistoryCache

    config = tmp_path / "rowcount_monitor.yaml"
    config.write_text(yaml.safe_dump({
        "warehouses": {"demo": {"type": "duckdb", "path": str(demo_db)}},
        "tables": [{"table": "shop.raw.orders", "warehouse": "demo", "cadence": "hourly",
                    "timestamp_column": "loaded_at"}]}))
    home = tmp_path / "home"
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("ROWCOUNT_MONITOR_CONFIG", str(config))
    assert main(["backfill", "--seed-cache", "--until", "2026-02-28 12:00"]) == 0
    assert "history cache seeded from the warehouse" in capsys.readouterr().out
    cache = HistoryCache(home / CACHE_FILE)
    seeded = cache.read(["demo/raw/orders"], pd.Timestamp("2026-01-01"), pd.Timestamp("2026-03-01"))["demo/raw/orders"]
    with duckdb.connect(str(demo_db), read_only=True) as conn:
        rows = conn.execute("SELECT date_trunc('hour', loaded_at), count(*) FROM shop.raw.orders "
                            "WHERE loaded_at < TIMESTAMP '2026-02-28 12:00' GROUP BY 1").fetchall()
    assert seeded.to_dict() == {pd.Timestamp(b): n for b, n in rows}  # every hour has loads in the demo
    assert cache.complete(["demo/raw/orders"]) == {"demo/raw/orders"}
    defs = build_definitions(config)
    with dg.DagsterInstance.get() as instance:
        assert instance.fetch_materializations(dg.AssetKey(["demo", "raw", "orders"]), limit=1).records == []
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, partition_key="2026-02-28-12:00", asset_selection=[dg.AssetKey(["demo", "raw", "orders"])])
    verdict = result.get_asset_check_evaluations()[0]
    assert verdict.metadata["n_history"].value == len(seeded)  # judged on all the seeded history
