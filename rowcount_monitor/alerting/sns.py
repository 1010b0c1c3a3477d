"""Publishing alerts to an SNS topic with boto3.

Credentials, region and endpoint come from boto3's usual sources (AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL, a profile or an instance role): they are
never part of the config, the messages or the logs.
"""

from __future__ import annotations

from typing import Any

import boto3
import dagster as dg
from botocore.config import Config
from pydantic import Field

from .messages import Alert

TOPIC_ENV = "ROWCOUNT_MONITOR_SNS_TOPIC_ARN"


class NoTopic(RuntimeError):
    """Publishing was asked for without a topic."""


class SNSPublisher(dg.ConfigurableResource["SNSPublisher"]):
    """Where alerts go. An empty topic_arn means alerts wait in the outbox until one is set."""

    topic_arn: str = Field(default="", description=f"SNS topic ARN (usually from ${TOPIC_ENV})")
    region_name: str | None = Field(default=None, description="AWS region; default: boto3's (AWS_DEFAULT_REGION)")
    endpoint_url: str | None = Field(default=None, description="default: boto3's (AWS_ENDPOINT_URL)")
    timeout_seconds: float = Field(default=10.0, description="connect and read timeout per request")

    def client(self) -> Any:
        config = Config(
            connect_timeout=self.timeout_seconds,
            read_timeout=self.timeout_seconds,
            retries={"max_attempts": 2, "mode": "standard"},
        )
        return boto3.client("sns", region_name=self.region_name, endpoint_url=self.endpoint_url, config=config)

    def publish(self, alert: Alert, client: Any = None) -> str:
        """Publish one alert; returns SNS's MessageId. FIFO topics get the alert id as
        MessageDeduplicationId, so even a re-send after a crash is delivered once."""
        if not self.topic_arn:
            raise NoTopic(f"no SNS topic configured (set {TOPIC_ENV})")
        kwargs = dict(
            TopicArn=self.topic_arn,
            Subject=alert.subject(),
            Message=alert.message(),
            MessageAttributes=alert.attributes(),
        )
        if self.topic_arn.endswith(".fifo"):
            kwargs.update(MessageGroupId=alert.table[:128], MessageDeduplicationId=_dedup_id(alert.id))
        return str((client or self.client()).publish(**kwargs)["MessageId"])


def _dedup_id(alert_id: str) -> str:
    """MessageDeduplicationId allows 128 characters from a limited set: hash longer ids."""
    import hashlib
    import re

    if len(alert_id) <= 128 and re.fullmatch(r"[A-Za-z0-9!-/:-@\[-`{-~]+", alert_id):
        return alert_id
    return hashlib.sha256(alert_id.encode()).hexdigest()
