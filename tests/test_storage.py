"""The project's own state (history cache, feedback) in both of its homes: an SQLite file for
`dagster dev` and the instance's PostgreSQL database (a real server, started by the tests) in
production. One suite for both."""

import threading

import dagster as dg
import pandas as pd
import pytest

from rowcount_monitor.defs import build_definitions
from rowcount_monitor.defs.backfill_job import JOB_NAME
from rowcount_monitor.feedback import FeedbackStore
from rowcount_monitor.history import HistoryCache

from .conftest import ANCHOR

T0 = pd.Timestamp("2026-03-01")
# production sends compute logs to blob storage, not to DAGSTER_HOME
NO_LOG_FILES = {
    "compute_logs": {"module": "dagster._core.storage.noop_compute_log_manager", "class": "NoOpComputeLogManager"}
}


@pytest.fixture(params=["sqlite", "postgres"])
def where(request, tmp_path):
    """Keyword arguments that place a store in an SQLite file or in a PostgreSQL database."""
    if request.param == "sqlite":
        return {"path": tmp_path / "state.sqlite"}
    return {"url": request.getfixturevalue("postgres_url")}


def hours(n, start=T0):
    return [start + pd.Timedelta(hours=i) for i in range(n)]


def test_the_newest_count_of_a_bucket_wins_and_a_read_returns_each_window(where):
    cache = HistoryCache.at(**where)
    cache.record([("a", t, 10) for t in hours(48)] + [("b", t, 5) for t in hours(24)])
    # the same bucket twice in one write (a re-count after the count): the later one wins
    cache.record([("a", hours(48)[-1], 98), ("a", hours(48)[-1], 99)], complete=["a", "a"])
    got = cache.read(["a", "b", "never-seen"], T0 + pd.Timedelta(hours=24), T0 + pd.Timedelta(hours=47))
    assert len(got["a"]) == 24 and got["a"].iloc[-1] == 99 and (got["a"].iloc[:-1] == 10).all()
    assert got["b"].empty and got["never-seen"].empty
    assert cache.complete(["a", "b"]) == {"a"}
    assert list(got["a"].index) == hours(48)[24:]


def test_each_assets_carried_detection_state_is_kept_and_replaced(where):
    cache = HistoryCache.at(**where)
    cache.keep_states({"a": b"\x00first", "b": None})
    cache.keep_states({"a": b"second\xff", "c": b"c"})
    assert cache.states(["a", "b", "c", "never-seen"]) == {"a": b"second\xff", "b": None, "c": b"c", "never-seen": None}


def test_a_cache_of_row_counts_only_is_upgraded_to_hold_metric_values(where, postgres_url):
    """Version 1 stored whole row counts (BIGINT on PostgreSQL); metric monitors record real
    numbers. An SQLite file needs no change; a PostgreSQL table is altered once, counts kept."""
    import psycopg2

    if "url" in where:
        with psycopg2.connect(postgres_url) as conn, conn.cursor() as cur:
            cur.execute(
                "CREATE TABLE rowcount_monitor_counts (asset TEXT NOT NULL, bucket BIGINT NOT NULL, "
                "row_count BIGINT NOT NULL, PRIMARY KEY (asset, bucket));"
                "CREATE TABLE rowcount_monitor_schema_version (component TEXT PRIMARY KEY, version INTEGER NOT NULL);"
                "INSERT INTO rowcount_monitor_schema_version VALUES ('history', 1);"
                f"INSERT INTO rowcount_monitor_counts VALUES ('a', {int((T0 - pd.Timestamp(0)).total_seconds())}, 7);"
            )
    cache = HistoryCache.at(**where)
    cache.record([("m", t, 0.25 + i) for i, t in enumerate(hours(3))])
    got = cache.read(["a", "m"], T0, T0 + pd.Timedelta(hours=2))
    assert list(got["m"]) == [0.25, 1.25, 2.25]
    if "url" in where:
        assert list(got["a"]) == [7.0]


def test_run_workers_writing_at_once_lose_and_double_nothing(where):
    """Four workers (threads here, hosts in production) create the tables and record
    overlapping buckets at once."""
    errors = []

    def worker(w):
        try:
            cache = HistoryCache.at(**where)
            for batch in range(5):
                cache.record([(f"t{i}", t, w) for i in range(20) for t in hours(24, T0 + pd.Timedelta(days=batch))])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    got = HistoryCache.at(**where).read([f"t{i}" for i in range(20)], T0, T0 + pd.Timedelta(days=10))
    assert all(len(s) == 5 * 24 and s.index.is_unique for s in got.values())
    assert all(s.isin([0, 1, 2, 3]).all() for s in got.values())


def test_feedback_is_idempotent_one_verdict_per_bucket_and_read_in_one_query(where):
    store = FeedbackStore.at(**where)
    bucket = T0 + pd.Timedelta(hours=5)
    assert store.add("a", bucket, "expected", "a sale")
    assert not store.add("a", bucket, "expected", "a sale")
    assert store.add("a", bucket, "incident", "it was the sale's bug")  # replaces "expected"
    assert store.add("a", T0, "accept")
    assert [(e.bucket, e.kind, e.note) for e in store.entries("a")] == [
        (T0, "accept", ""),
        (bucket, "incident", "it was the sale's bug"),
    ]
    read = store.read(["a", "b"])
    assert set(read) == {"a"} and read["a"].incidents == (bucket,) and read["a"].accepted == (T0,)
    with pytest.raises(ValueError, match="feedback kind must be one of"):
        store.add("a", bucket, "maybe")


def test_on_a_postgres_instance_counts_checks_and_feedback_write_no_file(shop_config, postgres_url, tmp_path):
    """Production: run workers and the CLI keep the history cache and feedback in the instance's
    database, with DAGSTER_HOME read-only (each service has a filesystem of its own). Tests may
    run as root, whom permissions do not stop: the home's tree is compared too."""
    import psycopg2

    defs = build_definitions(shop_config)
    home = tmp_path / "readonly_home"
    home.mkdir()
    config = {
        "ops": {
            "fill_missing_buckets": {
                "config": {"tables": ["demo/raw/orders", "demo/raw/customers"], "until": str(ANCHOR)}
            }
        }
    }
    try:
        with dg.instance_for_test(
            overrides={"storage": {"postgres": {"postgres_url": postgres_url}}, **NO_LOG_FILES}, temp_dir=str(home)
        ) as instance:
            before = sorted(home.rglob("*"))  # the instance's own dagster.yaml and folders
            for folder in [home, *(p for p in before if p.is_dir())]:
                folder.chmod(0o555)
            assert defs.resolve_job_def(JOB_NAME).execute_in_process(instance=instance, run_config=config).success
            FeedbackStore.for_instance(instance).add("demo/raw/orders", ANCHOR - pd.Timedelta(hours=3), "expected")
            job = defs.resolve_implicit_global_asset_job_def()
            last = (ANCHOR - pd.Timedelta(hours=1)).strftime("%Y-%m-%d-%H:%M")
            result = job.execute_in_process(
                instance=instance, partition_key=last, asset_selection=[dg.AssetKey(["demo", "raw", "orders"])]
            )
            assert result.success
            checks = result.get_asset_check_evaluations()
            assert checks and all("insufficient history" not in (c.description or "") for c in checks)
    finally:
        for folder in [home, *(p for p in home.rglob("*") if p.is_dir())]:
            folder.chmod(0o755)
    assert sorted(home.rglob("*")) == before
    with psycopg2.connect(postgres_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT asset, count(*) FROM rowcount_monitor_counts GROUP BY asset ORDER BY asset")
        assert cur.fetchall() == [("demo/raw/customers", 14), ("demo/raw/orders", 14 * 24)]
        cur.execute("SELECT asset FROM rowcount_monitor_states ORDER BY asset")
        assert cur.fetchall() == [("demo/raw/orders",)]  # the check of orders' bucket keeps its state there
        cur.execute("SELECT component FROM rowcount_monitor_schema_version ORDER BY component")
        assert [c for (c,) in cur.fetchall()] == ["feedback", "history"]
        cur.execute("SELECT count(*) FROM rowcount_monitor_feedback")
        assert cur.fetchone() == (1,)


def test_a_database_that_cannot_be_reached_is_named_without_its_password():
    import psycopg2

    url = "postgresql://dagster:pw-must-never-appear-7c1d@127.0.0.1:1/dagster"
    with pytest.raises(psycopg2.OperationalError) as failure:
        HistoryCache.at(url=url)
    assert "pw-must-never-appear-7c1d" not in str(failure.value) and "127.0.0.1" in str(failure.value)


def _open_every_store(url: str, barrier) -> str:
    from rowcount_monitor.alerting.outbox import PostgresOutbox

    barrier.wait(timeout=60)  # imports done everywhere: now all at once
    HistoryCache.at(url=url).record([("a", T0, 1)])
    FeedbackStore.at(url=url).read(["a"])
    PostgresOutbox(url).counts()
    return "ok"


def test_processes_starting_at_once_on_a_new_database_create_its_tables_once(postgres_url):
    """Run workers of a fresh deployment start together, each creating every store's tables (two
    CREATE TABLE IF NOT EXISTS at once can collide in PostgreSQL: the creators are serialized)."""
    import multiprocessing

    from rowcount_monitor.supervise import in_processes

    # the pool is closed, not terminated (`with Pool()`): after an in-process Dagster run in the
    # same pytest process SIGTERM is no longer the default in its workers, and this test hung
    with multiprocessing.get_context("spawn").Manager() as manager:
        barrier = manager.Barrier(4)
        assert in_processes(_open_every_store, [(postgres_url, barrier)] * 4) == ["ok"] * 4
    import psycopg2

    with psycopg2.connect(postgres_url) as conn, conn.cursor() as cur:
        cur.execute("SELECT component, version FROM rowcount_monitor_schema_version ORDER BY component")
        assert cur.fetchall() == [("feedback", 1), ("history", 2), ("outbox", 3)]
