"""The dg component, as a Dagster user meets it: installed from the built wheel into a fresh
environment, `dg list components` lists it, `dg scaffold defs` writes its defs.yaml, and a
project with it passes `dg check defs`, watching an asset it already has or counting warehouse
tables of its own."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from .conftest import table_entry

DG = str(Path(sys.executable).parent / "dg")
ASSET = """import dagster as dg


@dg.asset(key=["dbt", "orders"], partitions_def=dg.DailyPartitionsDefinition(start_date="2026-10-01"))
def orders() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"dagster/row_count": 100})
"""


def _dg(project: Path, *args: str, dg: str = DG) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(project / "src"), "COLUMNS": "200"}
    return subprocess.run([dg, *args], cwd=project, env=env, capture_output=True, text=True, timeout=300)


def _project(root: Path, name: str = "shop") -> Path:
    """An empty dg project (module `name`) with one asset of its own, dbt/orders."""
    project = root / name
    (project / "src" / name / "defs").mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        f'[project]\nname = "{name}"\nversion = "0.1.0"\n\n'
        f'[tool.dg]\ndirectory_type = "project"\n\n[tool.dg.project]\nroot_module = "{name}"\n'
    )
    (project / "src" / name / "__init__.py").write_text("")
    (project / "src" / name / "defs" / "__init__.py").write_text("")
    (project / "src" / name / "defs" / "orders.py").write_text(ASSET)
    (project / "src" / name / "definitions.py").write_text(
        "from pathlib import Path\n\nimport dagster as dg\n\n\n@dg.definitions\ndef defs() -> dg.Definitions:\n"
        "    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)\n"
    )
    return project


def _run(*args: object) -> None:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def wheel_dg(tmp_path_factory) -> str:
    """`dg` of a fresh virtual environment outside the repository, with the package installed
    from its built wheel: its dependencies at the locked versions, from uv's cache (offline:
    the tests reach nothing beyond this machine)."""
    root, work = Path(__file__).parents[1], tmp_path_factory.mktemp("wheel")
    uv = Path(sys.executable).parent / "uv"
    _run(uv, "build", "--offline", "--wheel", "-o", work / "dist", root)
    (wheel,) = (work / "dist").glob("rowcount_monitor-*.whl")
    _run(uv, "venv", "--offline", "-q", "--python", sys.executable, work / "venv")
    lock = work / "pylock.toml"
    export = ("export", "--offline", "--locked", "--no-emit-project", "--format", "pylock.toml", "-q")
    _run(uv, *export, "--extra", "dg", "-o", lock)  # the package's own dependencies, and dg
    python = work / "venv" / "bin" / "python"
    _run(uv, "pip", "install", "--offline", "-q", "--preview-features", "pylock", "--python", python, "-r", lock)
    _run(uv, "pip", "install", "--offline", "-q", "--no-deps", "--python", python, wheel)
    return str(work / "venv" / "bin" / "dg")


def test_the_wheel_holds_no_demo_and_needs_no_warehouse_library(wheel_dg):
    """The built wheel leaves the demo out, and its environment (the package's dependencies and
    dg, nothing else) has neither DuckDB, dbt nor statsmodels: the command line still starts."""
    import zipfile

    venv = Path(wheel_dg).parent.parent
    (wheel,) = (venv.parent / "dist").glob("rowcount_monitor-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "rowcount_monitor/component.py" in names
    assert not [n for n in names if n.startswith("rowcount_monitor/demo")]
    python = venv / "bin" / "python"
    probe = "import importlib.util as u; print([m for m in ('duckdb', 'dagster_dbt', 'statsmodels') if u.find_spec(m)])"
    assert subprocess.run([python, "-c", probe], capture_output=True, text=True).stdout.strip() == "[]"
    helped = subprocess.run([venv / "bin" / "rowcount-monitor", "--help"], capture_output=True, text=True, timeout=120)
    assert helped.returncode == 0, helped.stderr
    assert "status" in helped.stdout and "demo" not in helped.stdout


def test_dg_lists_scaffolds_and_loads_the_component_watching_an_asset_the_project_has(tmp_path, wheel_dg):
    project = _project(tmp_path)
    listed = _dg(project, "list", "components", "--json", dg=wheel_dg)
    assert listed.returncode == 0, listed.stderr
    assert "rowcount_monitor.RowCountMonitor" in {c["key"] for c in json.loads(listed.stdout)["items"]}

    scaffolded = _dg(project, "scaffold", "defs", "rowcount_monitor.RowCountMonitor", "monitors", dg=wheel_dg)
    assert scaffolded.returncode == 0, scaffolded.stderr
    defs_yaml = project / "src" / "shop" / "defs" / "monitors" / "defs.yaml"
    assert yaml.safe_load(defs_yaml.read_text())["type"] == "rowcount_monitor.RowCountMonitor"
    with defs_yaml.open("a") as f:  # the two lines a user adds
        f.write('attributes:\n  watch: ["dbt/orders"]\n')
    defs_yaml.write_text(defs_yaml.read_text().replace("attributes: {}\n", ""))

    checked = _dg(project, "check", "defs", dg=wheel_dg)
    assert checked.returncode == 0, checked.stderr + checked.stdout
    listed_defs = json.loads(_dg(project, "list", "defs", "--json", dg=wheel_dg).stdout)
    assert [c["key"] for c in listed_defs["asset_checks"]] == ["dbt/orders:row_count_anomaly"]


def test_the_component_counts_tables_of_its_own_config_and_names_its_file_in_errors(tmp_path, writable_db):
    project = _project(tmp_path)
    folder = project / "src" / "shop" / "defs" / "monitors"
    folder.mkdir()
    config = {"warehouses": {"demo": {"type": "duckdb", "path": str(writable_db)}}, "tables": [table_entry("orders")]}
    (folder / "defs.yaml").write_text(
        yaml.safe_dump({"type": "rowcount_monitor.RowCountMonitor", "attributes": {"config": config}})
    )
    checked = _dg(project, "check", "defs")
    assert checked.returncode == 0, checked.stderr + checked.stdout
    keys = {a["asset_key"] for a in json.loads(_dg(project, "list", "defs", "--json").stdout)["assets"]}
    assert "demo/raw/orders" in keys

    config["tables"][0]["cadence"] = "weekly"
    (folder / "defs.yaml").write_text(
        yaml.safe_dump({"type": "rowcount_monitor.RowCountMonitor", "attributes": {"config": config}})
    )
    broken = _dg(project, "check", "defs")
    assert broken.returncode != 0
    assert f"{folder / 'defs.yaml'}: tables[0] (shop.raw.orders), field 'cadence'" in broken.stderr + broken.stdout


MORE_ASSETS = """import dagster as dg


@dg.asset(key=["dbt", "customers"], group_name="marts")
def customers() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"dagster/row_count": 10})


@dg.asset(key=["raw", "events"], tags={"monitored": ""})
def events() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"dagster/row_count": 10})


@dg.asset(key=["raw", "clicks"])
def clicks() -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"dagster/row_count": 10})
"""


def _watching(project: Path, name: str, watch: list[str]):
    folder = project / "src" / name / "defs" / "quality" / "monitors"  # nested: its parent folder is searched too
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "defs.yaml").write_text(
        yaml.safe_dump({"type": "rowcount_monitor.RowCountMonitor", "attributes": {"watch": watch}})
    )
    return folder / "defs.yaml"


def test_watch_takes_dagster_selections_over_the_rest_of_the_project_and_names_one_that_selects_nothing(
    tmp_path, monkeypatch
):
    import dagster as dg

    from rowcount_monitor.config import ConfigError

    name = "selshop"
    project = _project(tmp_path, name)
    (project / "src" / name / "defs" / "quality").mkdir()
    (project / "src" / name / "defs" / "quality" / "more.py").write_text(MORE_ASSETS)
    monkeypatch.syspath_prepend(str(project / "src"))
    _watching(project, name, ["tag:monitored", "key:dbt/* and not group:marts", "group:marts", "elsewhere/table"])
    defs = dg.load_from_defs_folder(path_within_project=project / "src" / name)
    graph = defs.resolve_asset_graph()
    checked = sorted(k.asset_key.to_user_string() for k in graph.asset_check_keys)
    assert checked == ["dbt/customers", "dbt/orders", "elsewhere/table", "raw/events"]  # not raw/clicks

    source = _watching(project, name, ["group:nope"])
    with pytest.raises(Exception) as raised:  # Dagster's tree error, ours its cause
        dg.load_from_defs_folder(path_within_project=project / "src" / name)
    cause = raised.value.__cause__
    assert isinstance(cause, ConfigError)
    assert str(cause) == f"{source}: field 'watch': 'group:nope' selects no asset of this project"
