"""Alert delivery under faults: per scenario, alerts expected / delivered / duplicated / lost /
false recoveries ("recovered" messages beyond the anomalies of their table that went out).

    python benchmarks/delivery_faults.py [--rounds N]

Everything is real and local: a Dagster instance (temporary), check evaluations written by a
real run, the `row_count_alerts` sensor, SNS and SQS on moto's server on 127.0.0.1 (behind a
proxy that can fail or slow down), the outbox an SQLite file. Each scenario counts the alert
ids that arrived in the SQS queues subscribed to the topic (one per team, with a filter policy
on `owner`, where the scenario routes by team). Asserts nothing: tests/test_alerting.py
holds the same guarantees as tests.
"""

from __future__ import annotations

import argparse
import datetime as dt
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

import boto3  # noqa: E402
import dagster as dg  # noqa: E402
import duckdb  # noqa: E402
import yaml  # noqa: E402

from rowcount_monitor.alerting.deliver import deliver  # noqa: E402
from rowcount_monitor.alerting.messages import Alert  # noqa: E402
from rowcount_monitor.alerting.outbox import CLAIM_LEASE, Outbox  # noqa: E402
from rowcount_monitor.alerting.sns import SNSPublisher  # noqa: E402
from rowcount_monitor.defs import build_definitions  # noqa: E402
from rowcount_monitor.defs.checks import CHECK_NAME  # noqa: E402
from rowcount_monitor.defs.counting import fail_for  # noqa: E402
from tests.aws import FlakyProxy, drain, moto_server, topic_with_queue  # noqa: E402  (the tests' local AWS)

ORDERS = dg.AssetKey(["demo", "raw", "orders"])
PAYMENTS = dg.AssetKey(["demo", "raw", "payments"])
INVOICE_PAYMENTS = dg.AssetKey(["demo", "raw", "payments", "invoice_payments"])


def definitions(folder: Path) -> tuple[dg.Definitions, Path]:
    db = folder / "shop.duckdb"
    with duckdb.connect(str(db)) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS raw")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS raw.orders AS SELECT range AS id, "
            "TIMESTAMP '2026-02-01' + range * INTERVAL 1 MINUTE AS loaded_at FROM range(10000)"
        )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS raw.payments AS SELECT range AS id, CASE WHEN range % 3 = 0 THEN 'invoice' "
            "ELSE 'card' END AS method, TIMESTAMP '2026-02-01' + range * INTERVAL 1 MINUTE AS loaded_at FROM range(10000)"
        )
    outbox = folder / "outbox.sqlite"
    config = folder / "rowcount_monitor.yaml"
    hourly = {"warehouse": "demo", "cadence": "hourly", "timestamp_column": "loaded_at"}
    config.write_text(
        yaml.safe_dump(
            {
                "warehouses": {"demo": {"type": "duckdb", "path": str(db)}},
                "tables": [
                    {**hourly, "table": "shop.raw.orders", "owner": "team-orders"},
                    {**hourly, "table": "shop.raw.payments", "owner": "team-payments"},
                ],
                "metrics": [
                    {
                        **hourly,
                        "metric": "invoice_payments",
                        "table": "shop.raw.payments",
                        "expression": "count(*) FILTER (WHERE method = 'invoice')",
                        "owner": "team-billing",
                    }
                ],
                "alerts": {"notify": "every_failure", "outbox": str(outbox), "retry_backoff_seconds": 0},
            }
        )
    )
    return build_definitions(config), outbox


def log_evaluations(instance, verdicts: list[tuple[dg.AssetKey, bool, str]]) -> None:
    """Check evaluations (asset, passed, bucket), written by a real run as a check run writes them."""

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
                )
            )

    @dg.job
    def evaluations():
        evaluate()

    evaluations.execute_in_process(instance=instance)


def log_failures(instance, n: int) -> None:
    """n failed check evaluations of orders, of the n hours after the newest bucket logged so far
    (a bucket already paged is no news when judged again)."""
    first = log_failures.logged = getattr(log_failures, "logged", 0)
    log_failures.logged += n
    hours = [dt.datetime(2026, 2, 1) + dt.timedelta(hours=first + i) for i in range(n)]
    log_evaluations(instance, [(ORDERS, False, h.strftime("%Y-%m-%d-%H:%M")) for h in hours])


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
        self.queues = [self.queue]  # where the scenario's alerts arrive
        self.cursor = None

    def team_queues(self, teams: list[str]) -> None:
        """One queue per team, subscribed with the filter policy {"owner": [team]}, instead of
        the queue that takes everything."""
        sns, sqs = (boto3.client(k, endpoint_url=self.endpoint) for k in ("sns", "sqs"))
        self.queues = []
        for team in teams:
            queue = sqs.create_queue(QueueName=f"{self.topic.rsplit(':', 1)[1]}-{team}")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            policy = json.dumps({"owner": [team]})
            sns.subscribe(TopicArn=self.topic, Protocol="sqs", Endpoint=arn, Attributes={"FilterPolicy": policy})
            self.queues.append(queue)

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


def metric_only_catch_up(s: Scenario, instance, rounds: int) -> int:
    """One catch-up pass over seven hours: payments fails at 10:00 and 12:00, its metric at 12:00
    (one page with payments') and alone at 15:00 (its own page)."""
    hours = [f"2026-02-27-{h:02d}:00" for h in range(10, 17)]
    failing = {PAYMENTS: {hours[0], hours[2]}, INVOICE_PAYMENTS: {hours[2], hours[5]}}
    log_evaluations(instance, [(key, h not in failing[key], h) for h in hours for key in failing])
    s.tick(instance)
    s.tick(instance)
    return 7  # payments: 2 anomalies, 2 recoveries; the metric: 1 anomaly, 2 recoveries


def older_bucket_after_failure(s: Scenario, instance, rounds: int) -> int:
    """orders fails at 20:00; a backfill then judges the 20 hours before it (all normal); 21:00
    passes."""
    log_evaluations(instance, [(ORDERS, False, "2026-02-27-20:00")])
    s.tick(instance)
    log_evaluations(instance, [(ORDERS, True, f"2026-02-27-{h:02d}:00") for h in range(20)])
    s.tick(instance)
    log_evaluations(instance, [(ORDERS, True, "2026-02-27-21:00")])
    s.tick(instance)
    return 2


def several_owners(s: Scenario, instance, rounds: int) -> int:
    """An operational alert over tables of three teams, each subscribed with its own filter."""
    s.team_queues(["team-orders", "team-payments", "team-billing", "team-nobody"])
    Outbox(s.outbox).add(
        Alert(
            "run-failure:r1",
            "operational",
            "shop.raw.orders, ...",
            "team-billing, team-orders, team-payments",
            "ERROR",
            "counting failed, no count or value recorded: warehouse locked",
        )
    )
    s.tick(instance)
    return 3  # one copy in each of the three teams' queues, none in team-nobody's


def operational_1000(s: Scenario, instance, rounds: int) -> int:
    """A counting run over 1,000 tables of 40 teams fails on a locked file: its failure as
    counting.py words it, its operational alert as the sensor builds it."""
    errors = {f"demo/raw/table_{i:04d}": 'IO Error: Could not set lock on file "shop.duckdb"' for i in range(1000)}
    try:
        fail_for(errors, 1000)
    except dg.Failure as failure:
        summary = f"counting failed, no count or value recorded: {failure.description}"
    owners = ", ".join(f"team-{i:02d}" for i in range(40))
    Outbox(s.outbox).add(
        Alert(
            "run-failure:r1000",
            "operational",
            ", ".join(errors)[:200],
            owners,
            "ERROR",
            summary,
            {"downstream": sorted(errors)},
        )
    )
    s.tick(instance)
    return 1


SCENARIOS = {
    "SNS down after 20 of 50, then back": outage,
    "two passes at once (N rounds of 17)": overlapping_passes,
    "outbox deleted between ticks": lost_outbox("deleted"),
    "outbox truncated between ticks": lost_outbox("truncated"),
    "outbox corrupted between ticks": lost_outbox("corrupted"),
    "died after publish, before recording": died_mid_publish,
    "metric-only incident in a catch-up pass": metric_only_catch_up,
    "older bucket judged after a newer failure": older_bucket_after_failure,
    "several owners on per-team queues": several_owners,
    "operational alert for 1,000 tables": operational_1000,
}


def false_recoveries(bodies: list[dict]) -> int:
    """ "recovered" messages beyond the anomalies of their table that went out (its own pages, and
    pages of a table above it that listed it as failing below)."""
    paged = Counter(b["table"] for b in bodies if b["kind"] == "anomaly")
    paged.update(t for b in bodies if b["kind"] == "anomaly" for t in b.get("downstream", []))
    recovered = Counter(b["table"] for b in bodies if b["kind"] == "recovered")
    return sum(max(0, n - paged[table]) for table, n in recovered.items())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], epilog="example: python benchmarks/delivery_faults.py --rounds 5"
    )
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the overlapping-passes scenario (default 5)")
    args = parser.parse_args(argv)
    os.environ.update(AWS_ACCESS_KEY_ID="AKIDTESTING", AWS_SECRET_ACCESS_KEY="secret", AWS_DEFAULT_REGION="us-east-1")
    os.environ.pop("AWS_PROFILE", None)
    print(
        f"{'scenario':42s} {'expected':>8s} {'delivered':>9s} {'duplicated':>10s} {'lost':>5s} "
        f"{'false recoveries':>16s} {'seconds':>7s}"
    )
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
                    bodies = [(q, json.loads(m["Message"])) for q in s.queues for m in drain(endpoint, q)]
                    ids = Counter((q, b["alert_id"]) for q, b in bodies)
                    delivered = len(ids)
                    duplicated = sum(n - 1 for n in ids.values())
                    print(
                        f"{name:42s} {expected:8d} {delivered:9d} {duplicated:10d} "
                        f"{max(expected - delivered, 0):5d} {false_recoveries([b for _, b in bodies]):16d} "
                        f"{time.perf_counter() - t0:7.1f}",
                        flush=True,
                    )
        finally:
            proxy.close()


if __name__ == "__main__":
    main()
