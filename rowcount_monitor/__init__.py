"""rowcount-monitor: seasonal row-count anomaly checks for warehouse tables, on Dagster.

`RowCountMonitor` is the dg component (`dg scaffold defs rowcount_monitor.RowCountMonitor
monitors`); `build_row_count_anomaly_checks` adds the checks to assets a project already has;
the detector itself is `rowcount_monitor.detection`. The first two are imported on first use,
so that `import rowcount_monitor.detection` stays free of Dagster."""

from __future__ import annotations

from typing import Any

__all__ = ["RowCountMonitor", "build_row_count_anomaly_checks"]


def __getattr__(name: str) -> Any:
    if name == "build_row_count_anomaly_checks":
        from .defs.existing_assets import build_row_count_anomaly_checks

        return build_row_count_anomaly_checks
    if name == "RowCountMonitor":
        from .component import RowCountMonitor

        return RowCountMonitor
    raise AttributeError(f"module 'rowcount_monitor' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The lazy names too: dg finds the component by listing this module."""
    return sorted([*globals(), *__all__])
