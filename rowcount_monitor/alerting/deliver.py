"""Sending what is due in the outbox, with backoff, without one failure blocking the rest."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .messages import Alert
from .outbox import Outbox, stream_of

# Retry n waits first_delay * 2**(n-1), at most BACKOFF_CAP seconds.
BACKOFF_CAP = 3600.0
# After this many consecutive failures in one pass the endpoint is taken to be down: the rest
# waits for the next tick without being charged an attempt.
CONSECUTIVE_FAILURES_TO_PAUSE = 3


@dataclass
class DeliveryReport:
    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)
    deferred: int = 0
    held: int = 0  # behind an earlier alert of their check that failed (they keep its order)
    resent_after_crash: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        text = f"sent {len(self.sent)}, failed {len(self.failed)}, dead-lettered {len(self.dead)}"
        if self.deferred:
            text += f", {self.deferred} deferred (endpoint down)"
        if self.held:
            text += f", {self.held} held behind an earlier alert of their table"
        return text


def backoff(attempts: int, first_delay: float) -> float:
    return float(min(first_delay * 2 ** max(attempts - 1, 0), BACKOFF_CAP))


# user:password@ (or a token@) in a URL: never stored or printed
_URL_CREDENTIALS = re.compile(r"(\b[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s\"']+@")


def mask_credentials(text: str) -> str:
    """Every URL in `text` with its user and password replaced by ***."""
    return _URL_CREDENTIALS.sub(r"\1***@", text)


def describe_error(exc: Exception) -> str:
    """Type and message only: botocore messages carry no credentials but the endpoint URL,
    whose user:password part (AWS_ENDPOINT_URL may hold one) is masked; no traceback or request
    dump (which could hold more) is ever stored or logged."""
    return mask_credentials(f"{type(exc).__name__}: {exc}")[:300]


def deliver(
    outbox: Outbox, publish: Callable[[Alert], str], now: float, max_attempts: int, first_delay: float, limit: int = 500
) -> DeliveryReport:
    """Publish due alerts oldest first. A failed one is retried after a doubling delay and
    dead-lettered after `max_attempts`; the others are still tried (except later alerts of its
    check, which keep their order), unless several fail in a row (the endpoint is down), when
    the rest waits for the next pass uncharged. An alert another pass claimed is left to it."""
    report = DeliveryReport()
    streak = 0
    held: set[str | None] = set()  # streams whose earlier alert failed or is another pass's in this one
    due = outbox.due(now, limit)
    for i, item in enumerate(due):
        alert = item.alert
        if streak >= CONSECUTIVE_FAILURES_TO_PAUSE:
            report.deferred = len(due) - i
            break
        stream = stream_of(alert)
        if stream is not None and stream in held:
            report.held += 1
            continue
        if not outbox.claim(alert.id, now):
            held.add(stream)
            continue
        if item.interrupted:
            report.resent_after_crash.append(alert.id)
        try:
            message_id = publish(alert)
        except Exception as exc:  # any publish failure: throttling, network, 5xx, bad topic
            streak += 1
            attempts = item.attempts + 1
            dead = attempts >= max_attempts
            error = describe_error(exc)
            outbox.mark_failed(alert.id, error, now + backoff(attempts, first_delay), dead)
            (report.dead if dead else report.failed).append(alert.id)
            held.add(stream)
            report.errors.append(error)
            continue
        streak = 0
        outbox.mark_sent(alert.id, message_id, now)
        report.sent.append(alert.id)
    return report
