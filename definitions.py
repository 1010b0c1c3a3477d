"""The Dagster code location: `dagster dev` (via workspace.yaml) and `dg` load `defs` from here.

The project loads itself as any Dagster project loads rowcount-monitor: through its component,
declared in rowcount_monitor/defs/monitors/defs.yaml."""

from pathlib import Path

import dagster as dg

defs = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
