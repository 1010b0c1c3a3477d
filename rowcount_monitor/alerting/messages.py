"""The alert: what a person reads in the e-mail or chat message an SNS subscription delivers."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

# SNS takes at most 256 KiB per message, attributes included: a summary and the lists in the
# details are bounded so that an alert about 10,000 tables still goes out (saying how many more).
SUMMARY_LIMIT = 2_000
LIST_LIMIT = 50


def bounded(value: Any) -> Any:
    """A summary or a list of the details, cut to its limit with what was left out said."""
    if isinstance(value, str) and len(value) > SUMMARY_LIMIT:
        return value[: SUMMARY_LIMIT - 30] + f"… ({len(value) - SUMMARY_LIMIT + 30:,} more characters)"
    if isinstance(value, list) and len(value) > LIST_LIMIT:
        return [*value[:LIST_LIMIT], f"… and {len(value) - LIST_LIMIT:,} more"]
    return value


@dataclass(frozen=True)
class Alert:
    """One message. `id` is its idempotency key: the same id is never sent twice."""

    id: str
    kind: str  # anomaly | recovered | operational | test
    table: str  # database.schema.table, or the run's tables for operational alerts
    owner: str
    severity: str  # ERROR | WARN | INFO
    summary: str  # the one-line reason
    details: dict[str, Any] = field(default_factory=dict)  # observed, expected, lower, upper, run_id, url, ...

    def subject(self) -> str:
        """SNS subjects must be ASCII, one line, at most 100 characters."""
        head = {
            "anomaly": "row count anomaly",
            "recovered": "recovered",
            "operational": "count failed",
            "test": "test message",
        }[self.kind]
        text = f"[{self.severity}] {self.table}: {head}"
        if self.kind == "anomaly" and "observed" in self.details and "expected" in self.details:
            text += f" ({self.details['observed']:,.0f} rows, expected {self.details['expected']:,.0f})"
        text = text.encode("ascii", "replace").decode().replace("\n", " ")
        return text if len(text) <= 100 else text[:97] + "..."

    def owners(self) -> list[str]:
        """The owners an alert is for: one, or several (an operational alert over tables of
        several teams lists them comma-separated)."""
        return [o.strip() for o in self.owner.split(",") if o.strip()]

    def message(self) -> str:
        return json.dumps(
            {
                "alert_id": self.id,
                "kind": self.kind,
                "table": self.table,
                "owner": self.owner,
                "severity": self.severity,
                "summary": bounded(self.summary),
                **{k: bounded(v) for k, v in self.details.items()},
            },
            ensure_ascii=False,
            sort_keys=True,
        )

    def attributes(self) -> dict[str, dict[str, Any]]:
        """SNS message attributes, for subscription filter policies (route per team). Several
        owners are a String.Array, which a filter policy {"owner": ["team-a"]} matches when any
        of them is team-a."""
        values = {"owner": self.owner, "severity": self.severity, "table": self.table, "kind": self.kind}
        attributes = {k: {"DataType": "String", "StringValue": v or "-"} for k, v in values.items()}
        if len(self.owners()) > 1:
            attributes["owner"] = {"DataType": "String.Array", "StringValue": json.dumps(self.owners())}
        if self.details.get("downstream_owners"):  # an upstream cause's page, copied to the teams below it
            attributes["downstream_owners"] = {
                "DataType": "String.Array",
                "StringValue": json.dumps(self.details["downstream_owners"]),
            }
        return attributes

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Alert:
        return cls(**json.loads(text))
