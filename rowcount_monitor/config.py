"""rowcount_monitor.yaml: which tables are monitored, and how. Validated with pydantic.

Any problem is a ConfigError naming the file, the table entry and the field, raised before a
single asset is built, so the code location never half-loads.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
import typing
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator

from .detection import DetectionPolicy
from .detection.calendar import check_zone
from .detection.policy import ModelName
from .warehouse import TableRef, check_expression


class ConfigError(ValueError):
    """A malformed rowcount_monitor.yaml."""


class WarehouseError(RuntimeError):
    """The warehouse refused or failed a query while the code location was loading."""


# recount: at most a week of hourly buckets (each re-counted bucket is read on every run)
MAX_RECOUNT = 168


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WarehouseConfig(_Strict):
    type: Literal["duckdb", "snowflake"]
    path: str | None = None  # duckdb: the database file, relative to the config file
    # snowflake: credentials come from <env_prefix>ACCOUNT, USER, PASSWORD or PRIVATE_KEY or
    # PRIVATE_KEY_PATH, and optionally ROLE and WAREHOUSE; never from this file
    env_prefix: str = "SNOWFLAKE_"
    query_tag: str = "rowcount-monitor"  # QUERY_TAG of every query, for cost attribution
    connection_args: dict[str, str | int | bool] = {}  # more snowflake.connector.connect args (host, ...)


class PolicyConfig(_Strict):
    """Per-table overrides of rowcount_monitor.detection.DetectionPolicy."""

    model: ModelName | None = None
    seasonality: Literal["auto"] | list[int] | None = "auto"
    sensitivity: float | None = Field(default=None, gt=0)
    # the "state" model's false-alert budget: alerts on normal loads per 1,000 buckets judged
    false_alerts_per_1000: float | None = Field(default=None, gt=0, lt=1000)
    direction: Literal["both", "drop", "spike"] | None = None
    min_history: int | None = Field(default=None, ge=3)
    min_relative_change: float | None = Field(default=None, ge=0)
    exclude: list[tuple[dt.datetime, dt.datetime]] = []
    fail_on_zero: bool | None = None
    min_anomalies: int | None = Field(default=None, ge=1)
    window: int | None = Field(default=None, ge=1)
    # holiday calendars ("US", "DE-BY"); default: the config's top-level `holidays`
    holidays: list[str] | None = None

    def to_policy(self, value_type: str) -> DetectionPolicy:
        given = {k: v for k, v in self.model_dump(exclude_unset=True).items() if v is not None}
        given["exclude"] = tuple(tuple(p) for p in given.get("exclude", ()))
        given["holidays"] = tuple(given.get("holidays", ()))
        if "seasonality" in self.model_fields_set:
            given["seasonality"] = tuple(self.seasonality) if isinstance(self.seasonality, list) else self.seasonality
        return DetectionPolicy(value_type=value_type, **given)


def parse_duration(text: str) -> int:
    """'2w', '7d', '12h', '30m' -> seconds."""
    units = {"w": 604800, "d": 86400, "h": 3600, "m": 60}
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        raise ValueError(f"expected a duration like 2w, 7d, 12h or 30m, not {text!r}")
    return int(text[:-1]) * units[text[-1]]


def _checked(check):
    """An after-validator that keeps the value once `check` (which raises ValueError) passed it."""

    def validate(value: str) -> str:
        check(value)
        return value

    return AfterValidator(validate)


Duration = Annotated[str, _checked(parse_duration)]  # 2w, 7d, 12h, 30m
# A table whose buckets are complete only later than this is not one an hourly or daily check can
# follow (its counts would be judged a month late): a larger `settle` is a typo.
MAX_SETTLE_DAYS = 31


def _check_settle(text: str) -> None:
    if parse_duration(text) > MAX_SETTLE_DAYS * 86400:
        raise ValueError(f"{text!r} is longer than {MAX_SETTLE_DAYS} days: a bucket must settle within a month")


Settle = Annotated[str, _checked(parse_duration), _checked(_check_settle)]
Zone = Annotated[str, _checked(check_zone)]  # an IANA time zone name


class _Monitoring(_Strict):
    """What a table entry and a schema entry (for each table it finds) share. `settle` (a
    duration like 2h) is how long after a bucket ends its rows are complete: rows stamped with
    an event time that keep arriving for hours would otherwise make a first count low.
    `recount` (a number of buckets) re-counts that many buckets before the newest one on every
    run, for rows that arrive even later: a count that changed is recorded and judged again.
    `timezone` (an IANA name; default the config's top-level one, else UTC) is the zone the
    table's business keeps time in: daily buckets are its local days, hourly buckets stay UTC
    hours judged with its clock changes and named in its local time (docs/configuration.md, "timezone:")."""

    warehouse: str
    cadence: Literal["hourly", "daily"] = "daily"
    timestamp_column: str | None = None
    owner: str | None = None
    severity: Literal["WARN", "ERROR"] | None = None
    blocking: bool = False
    settle: Settle | None = None
    recount: int | None = Field(default=None, ge=1, le=MAX_RECOUNT)
    timezone: Zone | None = None
    policy: PolicyConfig = PolicyConfig()

    @property
    def settle_delta(self) -> dt.timedelta:
        return dt.timedelta(seconds=parse_duration(self.settle) if self.settle else 0)


class TableConfig(_Monitoring):
    table: str
    count_mode: Literal["bucket", "snapshot"] | None = None
    start: dt.datetime | None = None  # first partition; default: the table's first timestamp

    @field_validator("start")
    @classmethod
    def _start_in_utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        """Buckets are UTC: a start with an offset is that instant in UTC, not its wall clock."""
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        if value is not None and not dt.datetime(1970, 1, 1) <= value <= dt.datetime(2200, 1, 1):
            raise ValueError(f"{value.date().isoformat()} is not a date a table's first load can have (1970 to 2200)")
        return value

    @field_validator("table")
    @classmethod
    def _three_part_name(cls, value: str) -> str:
        TableRef.parse(value)
        return value

    @property
    def ref(self) -> TableRef:
        return TableRef.parse(self.table)

    @property
    def mode(self) -> str:
        """bucket: rows per load bucket by timestamp; snapshot: total COUNT(*) and its delta."""
        return self.count_mode or ("bucket" if self.timestamp_column else "snapshot")


class MetricConfig(TableConfig):
    """A metric monitor: a named SQL expression measured per bucket of a table (count(*) FILTER
    (WHERE status = 'failed'), sum(amount), count(DISTINCT customer_id), a null rate), judged
    like a row count. `kind: value` for numbers that are not counts (sums, rates): judged on
    their own scale, without a count's noise model."""

    metric: str
    expression: str
    kind: Literal["count", "value"] = "count"

    @field_validator("metric")
    @classmethod
    def _a_name(cls, value: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", value):
            raise ValueError(f"metric name {value!r}: lower-case letters, digits and '_', starting with a letter")
        return value

    @field_validator("expression")
    @classmethod
    def _one_expression(cls, value: str) -> str:
        return check_expression(value)

    @property
    def mode(self) -> str:
        return "bucket"

    @property
    def value_type(self) -> str:
        """How the detection reads its values (DetectionPolicy.value_type)."""
        return "count" if self.kind == "count" else "signed"


class SchemaConfig(_Monitoring):
    """Every table of database.schema whose name matches `include` and not `exclude` (globs).
    A table without the timestamp column is monitored by snapshot; an entry in `tables` for the
    same table wins over the schema's settings."""

    schema_name: str = Field(alias="schema")
    include: list[str] = ["*"]
    exclude: list[str] = []

    @field_validator("schema_name")
    @classmethod
    def _two_part_name(cls, value: str) -> str:
        parts = value.split(".")
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"expected database.schema, got {value!r}")
        return value

    def table_entry(self, name: str, has_timestamp: bool) -> TableConfig:
        fields = self.model_dump(exclude={"schema_name", "include", "exclude"})
        if not has_timestamp:
            fields["timestamp_column"] = None
        return TableConfig(table=f"{self.schema_name}.{name}", **fields)


class AlertsConfig(_Strict):
    """Forwarding failed checks to SNS. The topic comes from $ROWCOUNT_MONITOR_SNS_TOPIC_ARN and
    AWS credentials from boto3's usual sources, never from this file."""

    notify: Literal["state_changes", "every_failure"] = "state_changes"
    ui_base_url: str = "http://127.0.0.1:3000"
    max_attempts: int = Field(default=8, ge=1)  # failed publishes before an alert is dead-lettered
    retry_backoff_seconds: float = Field(default=30.0, ge=0)  # first retry delay, doubling, capped at 1 h
    outbox: str | None = None  # SQLite file; default: rowcount_monitor_alerts.sqlite in DAGSTER_HOME

    @field_validator("outbox")
    @classmethod
    def _a_file(cls, value: str | None) -> str | None:
        if value is not None and Path(value).expanduser().is_dir():
            raise ValueError(f"{value!r} is a folder: give the outbox a file name, such as {value}/alerts.sqlite")
        return value


class HistoryDepth(_Strict):
    """How far back partitions (and backfills) reach, per cadence, whatever rows a table holds."""

    hourly: int = Field(default=400, ge=1)
    daily: int = Field(default=3660, ge=1)


class ChecksConfig(_Strict):
    """How tables are counted and judged at scale."""

    max_history_days: HistoryDepth = HistoryDepth()

    # Tables per counting step. Dagster's cost per step grows faster than its outputs
    # (benchmarks/step_size.py), so a large fleet is more steps, not larger ones.
    batch_size: int = Field(default=250, ge=1, le=5000)
    # The runs a tick spreads the steps of one bucket over (each run loads the code location once)
    runs_per_tick: int = Field(default=2, ge=1)
    plots: Literal["failures", "all", "never"] = "failures"  # which check results carry a PNG


class DbtConfig(_Strict):
    """A dbt project whose models become assets downstream of the monitored raw tables."""

    project_dir: str  # relative to the config file
    warehouse: str  # the warehouse its sources and models live in
    target: str | None = None  # dbt target; default: the profile's (DBT_TARGET, else local)


class MonitorConfig(_Strict):
    warehouses: dict[str, WarehouseConfig]
    holidays: list[str] = []  # holiday calendars for every table whose policy names none
    timezone: Zone | None = None  # the zone of every table and schema entry that names none
    tables: list[TableConfig] = []
    schemas: list[SchemaConfig] = []
    metrics: list[MetricConfig] = []
    alerts: AlertsConfig = AlertsConfig()
    checks: ChecksConfig = ChecksConfig()
    dbt: DbtConfig | None = None
    source: Path | None = None

    @field_validator("warehouses")
    @classmethod
    def _names_fit_dagster(cls, value: dict) -> dict:
        for name in value:
            if not re.fullmatch(r"[A-Za-z0-9_]+", name):
                raise ValueError(
                    f"warehouse name {name!r} may hold only letters, digits and '_' (it names "
                    "the counting steps and resources in Dagster)"
                )
        return value


def _where(raw: dict, loc: tuple) -> str:
    """'tables[2] (shop.raw.orders), field cadence' from a pydantic error location."""
    if len(loc) >= 2 and loc[0] in ("tables", "schemas", "metrics") and isinstance(loc[1], int):
        entries = raw.get(loc[0]) or []
        entry = entries[loc[1]] if loc[1] < len(entries) else None
        name = entry.get(loc[0][:-1]) if isinstance(entry, dict) else None
        head = f"{loc[0]}[{loc[1]}]" + (f" ({name})" if name else "")
        rest = ".".join(str(p) for p in loc[2:])
        return f"{head}, field {rest!r}" if rest else head
    return "field " + repr(".".join(str(p) for p in loc))


class _Loader(yaml.SafeLoader):
    """YAML as the config reads it: a repeated key is an error (YAML keeps the last one, which
    silently drops a whole `tables:` block), and dates stay text, so that `2026-13-45` is a
    field error naming its entry rather than a bare "month must be in 1..12"."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise ConfigError(
                    f"key {key!r} appears twice in one mapping: lines {seen[key]} and {key_node.start_mark.line + 1}"
                )
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _read(path: Path):
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not a text file (byte 0x{exc.object[exc.start]:02x} at offset {exc.start} is not UTF-8)"
        ) from None
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not a config: its YAML is nested thousands of levels deep") from None


def _did_you_mean(error: dict) -> str:
    """For an unknown key, the closest valid key of the mapping it is in."""
    if error["type"] != "extra_forbidden":
        return ""
    model = MonitorConfig
    for part in error["loc"][:-1]:
        field = model.model_fields.get(part) if isinstance(part, str) else None
        if field is not None:  # else a list index or a dict key (a warehouse's name)
            model = next((m for m in _models_in(field.annotation)), model)
    close = difflib.get_close_matches(
        str(error["loc"][-1]), [f.alias or name for name, f in model.model_fields.items()], n=1, cutoff=0.6
    )
    return f" (did you mean {close[0]!r}?)" if close else ""


def _models_in(annotation):
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for arg in typing.get_args(annotation):
        yield from _models_in(arg)


def load_config(path: str | Path) -> MonitorConfig:
    path = Path(path)
    return config_from_mapping(_read(path), path)


def config_from_mapping(raw: object, path: Path) -> MonitorConfig:
    """The config in `raw` (what rowcount_monitor.yaml holds, or a component's `config:`),
    checked; errors name `path` and the field, and relative paths are relative to `path`."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with 'warehouses' and 'tables' at the top")
    if "source" in raw:
        raise ConfigError(
            f"{path}: field 'source': not a config key (the tables' warehouse is 'warehouse:' in each entry)"
        )
    try:
        config = MonitorConfig(**raw, source=path)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_problems(raw, exc)}") from None
    except TypeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    config = _with_defaults(config)
    _check_references(config, path)
    return config


def alerts_from_mapping(raw: dict, path: Path) -> AlertsConfig:
    """An `alerts:` mapping on its own (a component's), checked as in rowcount_monitor.yaml."""
    try:
        return AlertsConfig(**raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_problems({'alerts': raw}, exc, ('alerts',))}") from None


def _problems(raw: dict, exc: ValidationError, under: tuple = ()) -> str:
    """Each validation error of `raw` by entry and field, with a "did you mean" for a typo."""
    errors = [{**e, "loc": (*under, *e["loc"])} for e in exc.errors()]  # located within the whole config
    return "; ".join(f"{_where(raw, e['loc'])}: {e['msg']}{_did_you_mean(e)}" for e in errors)


def _with_defaults(config: MonitorConfig) -> MonitorConfig:
    """Every table and schema entry whose policy names no calendar gets the top-level one, and
    every entry that names no time zone the top-level one."""
    if not config.holidays and not config.timezone:
        return config

    def filled(entry):
        if config.timezone and entry.timezone is None:
            entry = entry.model_copy(update={"timezone": config.timezone})
        if not config.holidays or entry.policy.holidays is not None:
            return entry
        return entry.model_copy(update={"policy": entry.policy.model_copy(update={"holidays": list(config.holidays)})})

    return config.model_copy(
        update={
            "tables": [filled(e) for e in config.tables],
            "schemas": [filled(e) for e in config.schemas],
            "metrics": [filled(e) for e in config.metrics],
        }
    )


def _check_references(config: MonitorConfig, path: Path) -> None:
    for calendar in config.holidays:
        try:
            DetectionPolicy(holidays=(calendar,))
        except ValueError as exc:
            raise ConfigError(f"{path}: field 'holidays': {exc}") from None
    if not config.tables and not config.schemas:
        raise ConfigError(f"{path}: field 'tables': nothing to monitor (no 'tables' or 'schemas' entries)")
    _check_tables(config, path)
    _check_metrics(config, path)
    for i, schema in enumerate(config.schemas):
        where = f"{path}: schemas[{i}] ({schema.schema_name})"
        _check_policy(where, schema.policy, "count")
        _check_warehouse(config, where, schema.warehouse)
    if config.dbt and config.dbt.warehouse not in config.warehouses:
        raise ConfigError(f"{path}: dbt, field 'warehouse': unknown warehouse {config.dbt.warehouse!r}")
    if config.dbt and not (relative_to_config(config, config.dbt.project_dir) / "dbt_project.yml").exists():
        raise ConfigError(f"{path}: dbt, field 'project_dir': no dbt_project.yml in {config.dbt.project_dir}")
    for name, wh in config.warehouses.items():
        if wh.type == "duckdb" and not wh.path:
            raise ConfigError(f"{path}: warehouses.{name}, field 'path': a duckdb warehouse needs a path")


def _check_tables(config: MonitorConfig, path: Path) -> None:
    seen: dict[str, int] = {}
    for i, entry in enumerate(config.tables):
        where = f"{path}: tables[{i}] ({entry.table})"
        if entry.table in seen:
            raise ConfigError(f"{where}, field 'table': duplicate of tables[{seen[entry.table]}]")
        seen[entry.table] = i
        _check_warehouse(config, where, entry.warehouse)
        if entry.mode == "bucket" and not entry.timestamp_column:
            raise ConfigError(f"{where}, field 'count_mode': bucket counting needs a timestamp_column")
        _check_policy(where, entry.policy, "count")


def _check_metrics(config: MonitorConfig, path: Path) -> None:
    named: dict[tuple[str, str], int] = {}
    for i, entry in enumerate(config.metrics):
        where = f"{path}: metrics[{i}] ({entry.metric})"
        if (entry.table, entry.metric) in named:
            raise ConfigError(f"{where}, field 'metric': duplicate of metrics[{named[entry.table, entry.metric]}]")
        named[entry.table, entry.metric] = i
        _check_warehouse(config, where, entry.warehouse)
        if not entry.timestamp_column:
            raise ConfigError(f"{where}, field 'timestamp_column': a metric is measured per bucket of it")
        _check_policy(where, entry.policy, entry.value_type)


def _check_warehouse(config: MonitorConfig, where: str, warehouse: str) -> None:
    if warehouse not in config.warehouses:
        raise ConfigError(
            f"{where}, field 'warehouse': unknown warehouse {warehouse!r} "
            f"(defined: {', '.join(sorted(config.warehouses))})"
        )


def _check_policy(where: str, policy: PolicyConfig, value_type: str) -> None:
    try:
        policy.to_policy(value_type)
    except ValueError as exc:
        raise ConfigError(f"{where}, field 'policy': {exc}") from None


def relative_to_config(config: MonitorConfig, path: str) -> Path:
    base = config.source.parent if config.source else Path.cwd()
    return (base / path).resolve()


def warehouse_path(config: MonitorConfig, name: str) -> Path:
    """A duckdb warehouse file, relative to the config file's folder."""
    return relative_to_config(config, config.warehouses[name].path)


DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "rowcount_monitor.yaml"


CONFIG_ENV = "ROWCOUNT_MONITOR_CONFIG"


def config_path() -> Path:
    """ROWCOUNT_MONITOR_CONFIG, or rowcount_monitor.yaml at the project root."""
    return Path(os.environ.get(CONFIG_ENV, DEFAULT_CONFIG))
