"""Alert delivery under faults: per scenario, alerts expected / delivered / duplicated / lost.

    python benchmarks/delivery_faults.py [--rounds N]

Everything is real and local: a Dagster instance (temporary), check evaluations written by a
real run, the `row_count_alerts` sensor, SNS and SQS on moto's server on 127.0.0.1 (behind a
proxy that can fail or slow down), the outbox an SQLite file. Each scenario counts the alert
ids that arrived in the SQS queue subscribed to the topic. Asserts nothing: tests/test_alerting.py
holds the same guarantees as tests.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import dagster as dg  # noqa: E402
import duckdb  # noqa: E402
import yaml  # noqa: E402

from rowcount_monitor.alerting.deliver import deliver  # noqa: E402
from rowcount_monitor.alerting.outbox import CLAIM_LEASE, Outbox  # noqa: E402
from rowcount_monitor.alerting.sns import SNSPublisher  # noqa: E402
from rowcount_monitor.defs import build_definitions  # noqa: E402
from rowcount_monitor.defs.checks import CHECK_NAME  # noqa: E402
from tests.aws import FlakyProxy, drain, moto_server, topic_with_queue  # noqa: E402  (the tests' local AWS)

ORDERS = dg.AssetKey(["demo", "raw", "orders"])


def definitions(folder: Path) -> tuple[dg.Definitions, Path]:
    db = folder / "shop.duckdb"
    with duckdb.connect(str(db)) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS raw.orders AS SELECT range AS id, "
            "TIMESTAMP '2026-02-01' + range * INTERVAL 1 MINUTE AS loaded_at FROM range(10000)"
        )
    outbox = folder / "outbox.sqlite"
    config = folder / "rowcount_monitor.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "warehouses": {"demo": {"type": "duckdb", "path": str(db)}},
                "tables": [
                    {
                        "table": "shop.raw.orders",
                        "warehouse": "demo",
                        "cadence": "hourly",
                        "timestamp_column": "loaded_at",
                        "owner": "team-orders",
                    }
                ],
                "alerts": {"notify": "every_failure", "outbox": str(outbox), "retry_backoff_seconds": 0},
            }
        )
    )
    return build_definitions(config), outbox


def log_failures(instance, n: int) -> None:
    """n failed check evaluations of orders, written by a real run."""

    @dg.op
    def evaluate(context):
        for i in range(n):
            context.log_event(
                dg.AssetCheckEvaluation(
                    asset_key=ORDERS,
                    check_name=CHECK_NAME,
                    passed=False,
                    partition=f"2026-02-{1 + i // 24:02d}-{i % 24:02d}:00",
                    severity=dg.AssetCheckSeverity.WARN,
                    description=f"bucket {i} is 60 % below the expected 100",
                )
            )

    @dg.job
    def failing():
        evaluate()

    failing.execute_in_process(instance=instance)


def tick(defs, instance, topic, cursor):
    sensor = next(s for s in defs.sensors if s.name == "row_count_alerts")
    with dg.build_sensor_context(
        instance=instance, cursor=cursor, definitions=defs, resources={"sns": SNSPublisher(topic_arn=topic)}
    ) as context:
        sensor(context)
        return context.cursor


class Scenario:
    """A fresh instance, outbox, topic and queue; `run(self)` drives it, returns alerts expected."""

    def __init__(self, endpoint: str, proxy: FlakyProxy, folder: Path):
        self.endpoint, self.proxy = endpoint, proxy
        self.defs, self.outbox = definitions(folder)
        self.topic, self.queue = topic_with_queue(endpoint, name=f"t{time.monotonic_ns()}")
        self.cursor = None

    def tick(self, instance):
        self.cursor = tick(self.defs, instance, self.topic, self.cursor)


def outage(s: Scenario, instance, rounds: int) -> int:
    s.proxy.healthy_for = 20
    log_failures(instance, 50)
    s.tick(instance)
    s.tick(instance)
    s.proxy.healthy_for = None
    for _ in range(3):
        s.tick(instance)
    return 50


def overlapping_passes(s: Scenario, instance, rounds: int) -> int:
    s.proxy.delay = 0.02
    for _ in range(rounds):
        log_failures(instance, 17)
        passes = [threading.Thread(target=lambda: tick(s.defs, instance, s.topic, None)) for _ in range(2)]
        for p in passes:
            p.start()
        for p in passes:
            p.join()
    s.proxy.delay = 0.0
    s.tick(instance)
    return 17 * rounds


def lost_outbox(how: str):
    def scenario(s: Scenario, instance, rounds: int) -> int:
        log_failures(instance, 17)
        s.tick(instance)
        if how == "deleted":
            s.outbox.unlink()
        elif how == "truncated":
            s.outbox.write_bytes(b"")
        else:
            s.outbox.write_bytes(b"not an SQLite file" * 100)
        s.tick(instance)
        log_failures(instance, 3)
        s.tick(instance)
        return 20 + (how == "corrupted")  # the corrupt file is reported by one operational alert

    return scenario


def died_mid_publish(s: Scenario, instance, rounds: int) -> int:
    """SNS accepted the alerts, the process died before the outbox recorded it (the window no
    outbox closes on a standard topic: a FIFO topic's deduplication drops the copy)."""
    log_failures(instance, 5)
    outbox = Outbox(s.outbox)
    s.tick(instance)  # queues and sends
    with outbox._tx() as conn:  # ... as if the sends had never been recorded
        conn.execute("UPDATE alerts SET status = 'sending', claimed = ?", (time.time(),))
    publisher = SNSPublisher(topic_arn=s.topic)
    client = publisher.client()
    deliver(outbox, lambda a: publisher.publish(a, client), time.time() + CLAIM_LEASE + 1, 5, 0)
    return 5


SCENARIOS = {
    "SNS down after 20 of 50, then back": outage,
    "two passes at once (N rounds of 17)": overlapping_passes,
    "outbox deleted between ticks": lost_outbox("deleted"),
    "outbox truncated between ticks": lost_outbox("truncated"),
    "outbox corrupted between ticks": lost_outbox("corrupted"),
    "died after publish, before recording": died_mid_publish,
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog="example: python benchmarks/delivery_faults.py --rounds 5"
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the overlapping-passes scenario (default 5)")
    args = parser.parse_args(argv)
    os.environ.update(AWS_ACCESS_KEY_ID="AKIDTESTING", AWS_SECRET_ACCESS_KEY="secret", AWS_DEFAULT_REGION="us-east-1")
    os.environ.pop("AWS_PROFILE", None)
    print(f"{'scenario':40s} {'expected':>8s} {'delivered':>9s} {'duplicated':>10s} {'lost':>5s} {'seconds':>7s}")
    with moto_server() as endpoint:
        proxy = FlakyProxy(endpoint)
        os.environ["AWS_ENDPOINT_URL"] = proxy.url
        try:
            for name, scenario in SCENARIOS.items():
                with tempfile.TemporaryDirectory() as folder, dg.instance_for_test() as instance:
                    print(f"  running: {name}", file=sys.stderr, flush=True)
                    t0 = time.perf_counter()
                    s = Scenario(endpoint, proxy, Path(folder))
                    expected = scenario(s, instance, args.rounds)
                    ids = Counter(json.loads(m["Message"])["alert_id"] for m in drain(endpoint, s.queue))
                    delivered = len(ids)
                    duplicated = sum(n - 1 for n in ids.values())
                    print(
                        f"{name:40s} {expected:8d} {delivered:9d} {duplicated:10d} "
                        f"{max(expected - delivered, 0):5d} {time.perf_counter() - t0:7.1f}",
                        flush=True,
                    )
        finally:
            proxy.close()


if __name__ == "__main__":
    main()
