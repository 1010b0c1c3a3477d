"""What people told the checks about a table: this bucket was expected, this one was an
incident, from here on this level is the new normal.

Stored where the checks read their history (the history cache's SQLite file in DAGSTER_HOME, or
the instance's PostgreSQL database: table `feedback`, `rowcount_monitor_feedback` there), read
by every check in one query per step, and also recorded as an AssetObservation on the table's
asset so it shows in the asset's events in the Dagster UI.
The detection engine uses it (DetectionPolicy.expected / incidents / accepted_changes): an
expected bucket is normal data and never flagged, an incident bucket never trains, an accepted
level re-levels the history before it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import dagster as dg
import pandas as pd

from .cadence import local_zone
from .config import TableConfig
from .detection import DetectionPolicy
from .measures import is_metric
from .storage import CACHE_FILE, Store

KINDS = ("expected", "incident", "accept")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS {feedback} (
    asset TEXT NOT NULL, bucket TEXT NOT NULL, kind TEXT NOT NULL, note TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL, PRIMARY KEY (asset, bucket, kind));
"""


@dataclass(frozen=True)
class Feedback:
    expected: tuple[pd.Timestamp, ...] = ()
    incidents: tuple[pd.Timestamp, ...] = ()
    accepted: tuple[pd.Timestamp, ...] = ()

    def apply(self, policy: DetectionPolicy) -> DetectionPolicy:
        if not (self.expected or self.incidents or self.accepted):
            return policy
        return replace(policy, expected=self.expected, incidents=self.incidents, accepted_changes=self.accepted)


@dataclass(frozen=True)
class Entry:
    bucket: pd.Timestamp
    kind: str
    note: str
    created: float


class FeedbackStore(Store):
    """Where the history cache is (its SQLite file, or the instance's PostgreSQL database)."""

    TABLES, SCHEMA, VERSIONS, FILE = ("feedback",), _SCHEMA, {"feedback": 1}, CACHE_FILE

    def add(self, asset: str, bucket: pd.Timestamp, kind: str, note: str = "") -> bool:
        """Record one piece of feedback; False when exactly this was already recorded. A bucket
        is either expected or an incident: saying one replaces the other."""
        if kind not in KINDS:
            raise ValueError(f"feedback kind must be one of {', '.join(KINDS)}, not {kind!r}")
        key = {"asset": asset, "bucket": bucket.isoformat(), "kind": kind, "note": note, "created": time.time()}
        with self.db.transaction() as conn:
            same = conn.execute(
                "SELECT note FROM {feedback} WHERE asset = :asset AND bucket = :bucket AND kind = :kind", key
            ).fetchone()
            if same is not None and same[0] == note:
                return False
            if kind != "accept":
                conn.execute(
                    "DELETE FROM {feedback} WHERE asset = :asset AND bucket = :bucket "
                    "AND kind IN ('expected', 'incident')",
                    key,
                )
            conn.execute(
                "INSERT INTO {feedback} VALUES (:asset, :bucket, :kind, :note, :created) "
                "ON CONFLICT (asset, bucket, kind) DO UPDATE SET note = excluded.note, created = excluded.created",
                key,
            )
        return True

    def entries(self, asset: str) -> list[Entry]:
        with self.db.transaction(write=False) as conn:
            rows = conn.execute(
                "SELECT bucket, kind, note, created FROM {feedback} WHERE asset = :asset ORDER BY bucket, kind",
                {"asset": asset},
            ).fetchall()
        return [Entry(pd.Timestamp(b), k, n, c) for b, k, n, c in rows]

    def read(self, assets: list[str]) -> dict[str, Feedback]:
        """Each asset's feedback, in one query; assets without any are left out."""
        wanted = set(assets)
        with self.db.transaction(write=False) as conn:
            rows = conn.execute("SELECT asset, bucket, kind FROM {feedback}").fetchall()
        found: dict[str, dict[str, list]] = {}
        for asset, bucket, kind in rows:
            if asset in wanted:
                found.setdefault(asset, {k: [] for k in KINDS})[kind].append(pd.Timestamp(bucket))
        return {
            a: Feedback(tuple(sorted(f["expected"])), tuple(sorted(f["incident"])), tuple(sorted(f["accept"])))
            for a, f in found.items()
        }


def feedback_for(instance: dg.DagsterInstance, assets: list[str]) -> dict[str, Feedback]:
    """The feedback of the given assets (user strings); none on an instance without a directory."""
    store = FeedbackStore.for_instance(instance)
    return store.read(assets) if store is not None and assets else {}


def policy_for(entry: TableConfig, feedback: Feedback | None = None) -> DetectionPolicy:
    """The table's configured policy, in its time zone, with what people said about its buckets
    (above)."""
    policy = entry.policy.to_policy(entry.value_type if is_metric(entry) else "count")
    if local_zone(entry.timezone):
        policy = replace(policy, timezone=entry.timezone)
    return feedback.apply(policy) if feedback is not None else policy
