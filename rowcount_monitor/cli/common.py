"""What the commands share: the instance home, table names as users write them, argument types, tables printed."""

from __future__ import annotations

import argparse
import functools
import math
import os
from pathlib import Path
from types import ModuleType

PROJECT = Path(__file__).resolve().parents[2]
# A dg project whose row-count checks the reading commands read (`--project`), in place of the
# config's tables: the component's watched assets and counted tables, the factory's checks.
PROJECT_ENV = "ROWCOUNT_MONITOR_PROJECT"


# An explicit instance config: local SQLite storage in DAGSTER_HOME, and no telemetry (whose
# banner greeted every `make demo`).
_DEFAULT_SETTINGS = "# Dagster instance settings: local SQLite storage in this folder.\ntelemetry:\n  enabled: false\n"


def demo_commands() -> ModuleType | None:
    """The demo's commands where the demo is there (the repository; the wheel leaves it out)."""
    import importlib
    import importlib.util

    if importlib.util.find_spec("rowcount_monitor.demo") is None:
        return None
    return importlib.import_module("rowcount_monitor.demo.commands")


def _dagster_home() -> Path:
    """DAGSTER_HOME, or .dagster_home in the project (git-ignored) so history survives restarts."""
    if os.environ.get(PROJECT_ENV) and not os.environ.get("DAGSTER_HOME"):
        from ..config import ConfigError

        raise ConfigError(f"--project {os.environ[PROJECT_ENV]}: set DAGSTER_HOME to the instance that project runs on")
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(PROJECT / ".dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    settings = home / "dagster.yaml"
    if not settings.exists():
        settings.write_text(_DEFAULT_SETTINGS)
    return home


def _instance_and_checks():
    """The instance and its row-count checks, each labelled by its asset key."""
    import dagster as dg

    _dagster_home()
    if os.environ.get(PROJECT_ENV):
        return dg.DagsterInstance.get(), {key: entry.table for key, entry in _project_entries().items()}
    from ..defs import build_definitions
    from ..report import row_count_checks

    return dg.DagsterInstance.get(), row_count_checks(build_definitions())


def _check_entries() -> dict:
    """Each row-count check's key -> what alerts and metrics say of its table (owner, cadence)."""
    if os.environ.get(PROJECT_ENV):
        return _project_entries()
    import dagster as dg

    from ..defs import monitored_entries
    from ..naming import CHECK_NAME, entry_key

    return {dg.AssetCheckKey(entry_key(e), CHECK_NAME): e for e in monitored_entries()}


def _project_entries() -> dict:
    """The row-count checks of the dg project PROJECT_ENV names, loaded as `dg` loads it (once a
    process: `anomalies` and `explain` ask twice, and a dbt project takes seconds to load)."""
    return _load_project(Path(os.environ[PROJECT_ENV]).resolve())


@functools.lru_cache(maxsize=4)
def _load_project(root: Path) -> dict:
    import sys
    import warnings

    import dagster as dg

    from ..config import ConfigError
    from ..defs.existing_assets import WatchedAsset
    from ..naming import CHECK_NAME

    if not (root / "pyproject.toml").is_file():
        raise ConfigError(f"--project {root}: not a dg project (no pyproject.toml there)")
    if (root / "src").is_dir() and str(root / "src") not in sys.path:
        sys.path.insert(0, str(root / "src"))
    with warnings.catch_warnings():  # Dagster's own (a dbt project's assets raise a BetaWarning on its internals)
        warnings.simplefilter("ignore", dg.BetaWarning)
        graph = dg.load_from_defs_folder(path_within_project=root).resolve_asset_graph()
    keys = sorted((k for k in graph.asset_check_keys if k.name == CHECK_NAME), key=lambda k: k.asset_key)
    return {
        key: WatchedAsset.of_check(key, graph.get_check_spec(key).metadata, graph.get(key.asset_key).partitions_def)
        for key in keys
    }


def _did_you_mean(text: str) -> str:
    """' (did you mean 'orders'?)' for a mistyped table name, from the configured ones; '' if none is close."""
    import difflib

    if os.environ.get(PROJECT_ENV):
        entries = list(_project_entries().values())
    else:
        from ..defs import monitored_entries

        entries = monitored_entries()
    names = {n for e in entries for n in (e.table, e.table.rsplit(".", 1)[-1], getattr(e, "metric", None)) if n}
    close = difflib.get_close_matches(text, sorted(names), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _names(text: str, key) -> bool:
    """Does `text` name the table of asset `key`: demo/raw/orders, shop.raw.orders, raw.orders
    or orders?"""
    schema_table = ".".join(key.path[1:])
    return text in (key.to_user_string(), key.path[-1], schema_table) or text.endswith("." + schema_table)


def _fmt(x) -> str:
    """Whole numbers from 100 on (row counts), three significant digits below (a metric's share)."""
    if x is None:
        return "-"
    return f"{x:,.0f}" if abs(x) >= 100 or float(x).is_integer() else f"{x:.3g}"


def _print_rows(rows, as_json: bool, columns) -> None:
    import json

    if as_json:
        print(json.dumps([r.as_dict() for r in rows], indent=1))
        return
    widths = [max([width, *(len(str(get(r))) for r in rows)]) for _, width, get in columns]  # a metric's long name
    print("  ".join(f"{title:<{w}}" for (title, _, _), w in zip(columns, widths, strict=True)).rstrip())
    for row in rows:
        print("  ".join(f"{get(row):<{w}}" for (_, _, get), w in zip(columns, widths, strict=True)).rstrip())


def _bucket_table(text: str, snapshots: bool = False):
    """The configured bucket table (or, with `snapshots`, any table) that `text` names, or None."""
    from ..catalog import resolve_tables
    from ..config import config_path, load_config
    from ..naming import entry_key

    config = load_config(config_path())
    facts = [
        f for f in resolve_tables(config) if (snapshots or f.start is not None) and _names(text, entry_key(f.entry))
    ]
    return (config, facts[0]) if facts else (config, None)


class _Parser(argparse.ArgumentParser):
    """Bad arguments end in one line naming the command and exit 2 (argparse prints its whole
    usage first, which hides the one line that matters)."""

    def error(self, message: str):
        command = self.prog.removeprefix("rowcount-monitor").strip()
        self.exit(2, f"rowcount-monitor: {command + ': ' if command else ''}{message} (see --help)\n")


def _timestamp(text: str) -> str:
    """An ISO timestamp argument, checked here so that a typo is one line, not a traceback."""
    import pandas as pd

    try:
        pd.Timestamp(text)
    except (ValueError, TypeError):
        raise argparse.ArgumentTypeError(
            f"not a timestamp: {text!r} (ISO, UTC: 2026-11-26T09:00 or 2026-11-26)"
        ) from None
    return text


def _age(text: str) -> str:
    from ..config import parse_duration

    try:
        parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, not {text!r}")
    return value


def _number(text: str, expected: str, below: float = math.inf) -> float:
    """`text` as a number above 0 and below `below`, else an argparse error saying what was expected."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value < below):
        raise argparse.ArgumentTypeError(f"expected {expected}, not {text!r}")
    return value


def _sensitivity(text: str) -> float:
    return _number(text, "a positive number of standard deviations, such as 4")


def _budget(text: str) -> float:
    return _number(text, "false alerts per 1,000 buckets above 0, such as 0.25", below=1000)


def _seasonality(text: str) -> str | tuple[int, ...] | None:
    if text in ("auto", "none"):
        return None if text == "none" else "auto"
    try:
        periods = tuple(int(p) for p in text.split(","))
    except ValueError:
        periods = ()
    if not periods or min(periods) < 2:
        raise argparse.ArgumentTypeError(
            f"expected auto, none, or periods of at least 2 buckets such as 24,168, not {text!r}"
        )
    return periods


def _png_path(text: str) -> str:
    folder = Path(text).expanduser().resolve().parent
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"no folder {folder} to write {text!r} into")
    return text
