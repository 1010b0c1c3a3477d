"""The contract of rowcount_monitor.dagster_records, the one module that reads Dagster records
its public API does not offer: each function against a real instance with real check
evaluations. A Dagster upgrade that moves or changes any of them fails here, by name."""

from __future__ import annotations

import time

import dagster as dg

from rowcount_monitor import dagster_records as records

from .test_alerting import CHECK, ORDERS, backfill_until, cut_hour, materialize, shop  # noqa: F401


def test_every_record_read_answers_on_a_real_instance(shop, monkeypatch):  # noqa: F811
    db, make, _ = shop
    defs = make()
    with dg.instance_for_test() as instance:
        backfill_until(defs, instance, "2026-02-27 10:00")
        cut_hour(db, "2026-02-27 12:00", keep=0.2)
        for hour in ("10", "11", "12", "13"):
            materialize(defs, instance, f"2026-02-27-{hour}:00")

        newest = list(records.check_executions(instance, CHECK, first_page=2))
        ids = [r.id for r in newest]
        assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids) > 3  # newest first, paged
        assert [records.partition_of(r) for r in newest[:3]] == [
            "2026-02-27-13:00",
            "2026-02-27-12:00",
            "2026-02-27-11:00",
        ]
        evaluation = records.evaluation_of(newest[1])
        assert isinstance(evaluation, dg.AssetCheckEvaluation) and evaluation.passed is False
        assert newest[1].status == records.Status.FAILED and newest[0].status == records.Status.SUCCEEDED
        failed = list(records.check_executions(instance, CHECK, status={records.Status.FAILED}))
        assert [records.partition_of(r) for r in failed] == ["2026-02-27-12:00"]

        latest = records.latest_executions(instance, [CHECK, dg.AssetCheckKey(dg.AssetKey("absent"), "x")])
        assert list(latest) == [CHECK] and latest[CHECK].id == ids[0]
        absent = dg.AssetCheckKey(dg.AssetKey("absent"), CHECK.name)
        newest_bucket = records.newest_bucket_executions(instance, [CHECK, absent])
        assert list(newest_bucket) == [CHECK] and newest_bucket[CHECK].id == ids[0]
        assert records.partition_of(newest_bucket[CHECK]) == "2026-02-27-13:00"

        after = {CHECK: ids[3]}
        bulk = records.unread_executions(instance, after)
        monkeypatch.setattr(records, "BULK_LIMIT", 0)  # too many rows: one check at a time
        one_by_one = records.unread_executions(instance, after)
        assert sorted(r.id for r in bulk[CHECK]) == sorted(r.id for r in one_by_one[CHECK]) == sorted(ids[:3])
        assert all(records.evaluation_of(r) is not None for r in bulk[CHECK])

        events = records.materializations_after(instance, 0, limit=5)
        assert len(events) == 5 and all(e.asset_materialization.asset_key == ORDERS for e in events)
        assert [e.storage_id for e in events] == sorted(e.storage_id for e in events)  # oldest first
        assert records.materialization_cursor_since(instance, 0) == events[0].storage_id - 1
        newest_event = records.materializations_after(instance, events[-1].storage_id, limit=100_000)[-1]
        assert records.materialization_cursor_since(instance, time.time() + 3600) >= newest_event.storage_id


def test_backfilled_evaluations_count_in_the_checks_partition_status(shop):  # noqa: F811
    """Judged by the backfill (not in a check step of their own), the evaluations name the
    materializations they judged: Dagster's partition status of the check (what the UI's
    Partitions tab shows) has each judged bucket passed or failed, none missing."""
    db, make, _ = shop
    defs = make()
    cut_hour(db, "2026-02-27 09:00", keep=0.2)
    with dg.instance_for_test() as instance:
        backfill_until(defs, instance, "2026-02-27 12:00", judge_days=1)
        judged = {records.partition_of(r): r.status for r in records.check_executions(instance, CHECK)}
        assert len(judged) == 24 and judged["2026-02-27-09:00"] == records.Status.FAILED
        # what the UI's check partition status is computed from (dagster._core.storage.asset_check_state)
        infos = {i.partition_key: i for i in instance.event_log_storage.get_asset_check_partition_info([CHECK])}
        assert set(infos) == set(judged)
        assert all(info.is_current for info in infos.values()), [p for p, i in infos.items() if not i.is_current]
        assert {p: i.latest_execution_status for p, i in infos.items()} == judged
        targets = records.materialization_targets(instance, ORDERS, sorted(judged))
        assert {p: t.storage_id for p, t in targets.items()} == {
            p: i.latest_materialization_storage_id for p, i in infos.items()
        }
