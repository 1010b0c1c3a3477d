"""The Dagster code location: `dagster dev` (via workspace.yaml) and `dg` load `defs` from here.

The project loads itself as any Dagster project loads rowcount-monitor: through its component,
declared in rowcount_monitor/defs/monitors/defs.yaml."""

import warnings
from pathlib import Path

import dagster as dg

# Dagster 1.13's webserver rebuilds each counting asset's checks as AssetChecksDefinition through
# a beta parameter (execution_type) and warns once per load, about its own call, not ours.
warnings.filterwarnings("ignore", message="Parameter `execution_type`", category=dg.BetaWarning)

defs = dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
