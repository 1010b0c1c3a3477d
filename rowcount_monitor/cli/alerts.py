"""The alert outbox: `alerts test`, `alerts replay`, `alerts status` (and, in the repository, the demo's local topic)."""

from __future__ import annotations

import argparse
import os
import sys

from .common import (
    _dagster_home,
    demo_commands,
)


def _alerting():
    """The config's alert settings, its outbox and the SNS publisher, as the sensor has them."""
    from ..alerting.outbox import outbox_for
    from ..alerting.sns import TOPIC_ENV, SNSPublisher
    from ..config import config_path, load_config

    config = load_config(config_path())
    publisher = SNSPublisher(topic_arn=os.environ.get(TOPIC_ENV, ""))
    import dagster as dg

    _dagster_home()
    with dg.DagsterInstance.get() as instance:
        outbox = outbox_for(config.alerts, instance)
    return config.alerts, outbox, publisher


def cmd_alerts_test(args) -> int:
    import time
    import uuid

    from ..alerting.messages import Alert

    _, _, publisher = _alerting()
    alert = Alert(
        f"test:{uuid.uuid4()}",
        "test",
        args.table,
        args.owner,
        "INFO",
        "rowcount-monitor test message: if you read this, your subscription works",
    )
    message_id = publisher.publish(alert)
    print(f"published a test message to {publisher.topic_arn} (MessageId {message_id}) at {time.ctime()}")
    return 0


def cmd_alerts_replay(args) -> int:
    import time

    from ..alerting.deliver import deliver

    alerts, outbox, publisher = _alerting()
    now = time.time()
    dead = {alert_id for alert_id, _, _ in outbox.listing("dead")}
    unknown = [alert_id for alert_id in args.ids or [] if alert_id not in dead]
    if unknown:
        print(
            f"rowcount-monitor: no dead-lettered alert {', '.join(map(repr, unknown))}; nothing replayed "
            "(`rowcount-monitor alerts status` lists them)",
            file=sys.stderr,
        )
        return 2
    count = outbox.replay(args.ids or None, now)
    client = publisher.client()
    report = deliver(
        outbox, lambda a: publisher.publish(a, client), now, alerts.max_attempts, alerts.retry_backoff_seconds
    )
    print(f"replayed {count} dead-lettered alert{'' if count == 1 else 's'}; delivered the outbox: {report.line()}")
    for error in report.errors[:5]:
        print(f"  {error}")
    return 0 if not report.failed and not report.dead else 1


def cmd_alerts_status(args) -> int:
    _, outbox, _ = _alerting()
    counts = outbox.counts()
    print(f"outbox {outbox}: " + (", ".join(f"{n} {s}" for s, n in sorted(counts.items())) or "empty"))
    from ..alerting.deliver import mask_credentials

    for alert_id, attempts, error in outbox.listing("dead"):
        print(f"  dead  {alert_id}  after {attempts} attempts: {mask_credentials(error or '')}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    al = sub.add_parser("alerts", help="the SNS alert outbox: send a test message, replay dead letters, status")
    al_sub = al.add_subparsers(dest="alerts_command", required=True, metavar="ACTION")
    test = al_sub.add_parser("test", help="publish one test message to $ROWCOUNT_MONITOR_SNS_TOPIC_ARN")
    test.add_argument("--table", default="rowcount-monitor.test", help="table attribute of the message")
    test.add_argument("--owner", default="", help="owner attribute, to test a subscription filter policy")
    test.set_defaults(func=cmd_alerts_test)
    replay = al_sub.add_parser("replay", help="re-send dead-lettered alerts (all, or the given ids)")
    replay.add_argument("ids", nargs="*", help="alert ids (see `alerts status`)")
    replay.set_defaults(func=cmd_alerts_replay)
    status = al_sub.add_parser("status", help="how many alerts are pending, sent, dead")
    status.set_defaults(func=cmd_alerts_status)
    demo = demo_commands()
    if demo is not None:  # the repository's: the demo's local topic and queue
        demo.register_local_alerts(al_sub)
