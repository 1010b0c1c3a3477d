"""The Dagster code location: `dagster dev` (via workspace.yaml) loads `defs` from here."""

from rowcount_monitor.defs import build_definitions

defs = build_definitions()
