"""Reading row counts from a warehouse, behind one small interface.

Every implementation quotes identifiers, so a table named `x"; drop table y; --` is counted or
rejected, never executed. A metric's SQL expression is the user's own: check_expression lets
only a single expression through (no statement, no second statement, no comment that hides the
rest of the query), and it runs on read-only connections (DuckDB opened read-only; for
Snowflake, a role without write grants, docs/configuration.md, "Metric monitors").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import pandas as pd


class WarehouseUnavailable(RuntimeError):
    """The warehouse itself cannot be reached (a locked or corrupt file, a refused login): every
    table of it fails alike, so there is no point trying them one by one."""


@dataclass(frozen=True)
class TableRef:
    """database.schema.table, as written in the config."""

    database: str
    schema: str
    table: str

    @classmethod
    def parse(cls, text: str) -> TableRef:
        """Split on the dots outside double quotes: shop.raw."odd.name" has three parts."""
        parts = _PART.findall(text)
        if len(parts) != 3 or ".".join(parts) != text:
            raise ValueError(f"expected database.schema.table, got {text!r}")
        return cls(*parts)

    def __str__(self) -> str:
        return f"{self.database}.{self.schema}.{self.table}"


_PART = re.compile(r'"(?:[^"]|"")*"|[^."]+')


def unquote(name: str) -> str:
    """A name as written in the config, without its double quotes (if it has them)."""
    if len(name) >= 2 and name.startswith('"') and name.endswith('"'):
        return name[1:-1].replace('""', '"')
    return name


def quote_ident(name: str) -> str:
    """A double-quoted SQL identifier; embedded quotes are doubled, so nothing escapes it."""
    if "\x00" in name:
        raise ValueError(f"identifier contains a NUL byte: {name!r}")
    return '"' + name.replace('"', '""') + '"'


def qualified(ref: TableRef) -> str:
    """For DuckDB, which matches names case-insensitively: quoted names lose their quotes."""
    return ".".join(quote_ident(unquote(p)) for p in (ref.database, ref.schema, ref.table))


# Tables per UNION ALL query when many are counted at once: large enough that a thousand
# tables cost a handful of round trips, small enough to keep each statement far below
# Snowflake's 1 MB statement limit.
UNION_BATCH = 200


ROW_COUNT = "count(*)"
# Words that begin a statement, never an expression: a metric starting with one is refused by
# name (a DELETE reads "not a SELECT expression", not a parser's "syntax error at DELETE").
_STATEMENTS = {
    "alter", "analyze", "attach", "begin", "call", "checkpoint", "commit", "copy", "create", "delete",
    "describe", "detach", "drop", "execute", "explain", "export", "grant", "import", "insert", "install",
    "load", "merge", "pragma", "prepare", "put", "remove", "revoke", "rollback", "select", "set", "show",
    "summarize", "truncate", "undrop", "update", "use", "vacuum", "with",
}  # fmt: skip
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")


def check_expression(expression: str) -> str:
    """The expression, stripped, if it is one SQL expression over a table's columns (count(*)
    FILTER (WHERE status = 'failed'), sum(amount), avg(CASE WHEN x IS NULL THEN 1 ELSE 0 END));
    else ValueError saying why. Whether it is valid SQL for its warehouse is checked there."""
    text = expression.strip() if isinstance(expression, str) else ""
    if not text:
        raise ValueError("a metric needs an SQL expression, such as sum(amount)")
    bare = _QUOTED.sub(" q ", text)  # string literals and quoted names say nothing about structure
    if "'" in bare or '"' in bare:
        raise ValueError(f"unbalanced quotes in {text!r}")
    if ";" in bare:
        raise ValueError(f"{text!r} holds more than one statement (';'): a metric is a single SELECT expression")
    if "--" in bare or "/*" in bare:
        raise ValueError(f"{text!r} holds an SQL comment: a metric is a single SELECT expression, without comments")
    first = re.match(r"[A-Za-z_]+", bare)
    if first and first.group(0).lower() in _STATEMENTS:
        raise ValueError(
            f"{text!r} is a {first.group(0).upper()} statement, not a SELECT expression: write only what "
            "follows SELECT, such as count(*) FILTER (WHERE status = 'failed')"
        )
    depth = 0
    for char in bare:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            break
    if depth:
        raise ValueError(f"unbalanced parentheses in {text!r}")
    top = _outside_parens(bare)
    if re.search(r"\b(from|union|except|intersect|limit|group\s+by|order\s+by)\b", top, re.I):
        raise ValueError(f"{text!r} is more than an expression: the FROM, WHERE and GROUP BY are the monitor's own")
    if "," in top or re.search(r"\bas\s+\w+\s*$", top, re.I):
        raise ValueError(
            f"{text!r} is more than one expression: a metric is one value per bucket, "
            "without a second column or an alias (AS name)"
        )
    if re.search(r"\b(select|from)\b", bare, re.I):
        raise ValueError(
            f"{text!r} holds a subquery: a metric reads only its own table's rows, so it may not "
            "SELECT from anything else (another table, a file, a stage)"
        )
    return text


# The most characters of a warehouse error that go into a step failure or an alert.
ERROR_TEXT_LIMIT = 600


def error_text(exc: BaseException) -> str:
    """A warehouse error as one bounded line without row data: the warehouses quote the value
    they could not convert or compare ('Could not convert string '...' to INT32'), which may be
    a customer's e-mail or a secret; quoted literals become '…'."""
    lines = str(exc).strip().splitlines()
    text = re.sub(r"'(?:[^']|'')*'", "'…'", lines[0]) if lines else type(exc).__name__
    return text if len(text) <= ERROR_TEXT_LIMIT else text[: ERROR_TEXT_LIMIT - 1] + "…"


def _outside_parens(text: str) -> str:
    """The text at parenthesis depth 0 (a subquery's FROM inside parentheses is its own)."""
    out, depth = [], 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        out.append(char if depth == 0 and char not in "()" else " ")
    return "".join(out)


def union_bucket_sql(
    parts: list[tuple[str, str, str]], unit: str, placeholder: str, on_clock: Callable[[str], str] = lambda ts: ts
) -> str:
    """One statement measuring every bucket of many tables: (qualified table, quoted timestamp
    column, measure: count(*) or a metric's checked expression) triples; rows come back as
    (position in `parts`, bucket, value). `on_clock` wraps a column so that date_trunc cuts it
    at the hours and days of the buckets' clock (UTC, or a table's local days)."""
    return " UNION ALL ".join(
        f"SELECT {i} AS t, date_trunc('{unit}', {on_clock(ts)}) AS bucket, {measure} AS n FROM {table} "
        f"WHERE {ts} >= {placeholder} AND {ts} < {placeholder} GROUP BY 2"
        for i, (table, ts, measure) in enumerate(parts)
    )


def union_min_sql(parts: list[tuple[str, str]], placeholder: str) -> str:
    """One statement with the earliest timestamp of many tables from a bound on (one parameter
    per table, given twice), and how many rows lie before it; rows are (position, min, before)."""
    return " UNION ALL ".join(
        f"SELECT {i} AS t, min(CASE WHEN {ts} >= {placeholder} THEN {ts} END) AS first, "
        f"sum(CASE WHEN {ts} < {placeholder} THEN 1 ELSE 0 END) AS before FROM {table}"
        for i, (table, ts) in enumerate(parts)
    )


def union_total_sql(tables: list[str]) -> str:
    """One statement with COUNT(*) of many tables; rows are (position, count)."""
    return " UNION ALL ".join(f"SELECT {i} AS t, count(*) AS n FROM {table}" for i, table in enumerate(tables))


_UNITS = {"hour", "day"}
# Timestamps before this are junk in any warehouse (and beyond what pandas can represent).
EARLIEST = pd.Timestamp("1900-01-01")


def utc_naive(value: Any) -> pd.Timestamp:
    """A timestamp from the warehouse as naive UTC, the one form used everywhere after it.

    Timestamp columns come naive (TIMESTAMP, TIMESTAMP_NTZ), tz-aware (DuckDB TIMESTAMPTZ,
    Snowflake TIMESTAMP_TZ / TIMESTAMP_LTZ, e.g. Fivetran's _fivetran_synced) or as DATE; a
    UNION ALL of several tables promotes them all to tz-aware. Sessions run in UTC (each
    warehouse sets that), so a naive value already is UTC."""
    ts = pd.Timestamp(value)
    return ts.tz_convert("UTC").tz_localize(None) if ts.tzinfo is not None else ts


class UnionQueries:
    """The batched reads both warehouses share: many tables per UNION ALL statement
    (UNION_BATCH at a time), results put back in the order asked. A warehouse says how it
    writes a table and a column name, its parameter placeholder and how it runs a statement."""

    PLACEHOLDER = "?"

    def _in_utc(self, column: str) -> str:
        """The column's SQL for date_trunc in UTC (the session already runs in UTC)."""
        return column

    def _in_zone(self, column: str, zone: str) -> str:
        """The column's SQL as a naive wall-clock time of `zone` (an IANA name checked by the
        config), for date_trunc at local days."""
        raise NotImplementedError

    def _table(self, ref: TableRef) -> str:
        raise NotImplementedError

    def _column(self, name: str) -> str:
        raise NotImplementedError

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _union(
        self, items: list[Any], statement: Callable[[list[Any]], tuple[str, tuple[Any, ...]]]
    ) -> Iterator[tuple[int, list[Any]]]:
        """(position in `items`, the rest of the row) for every row of statement(chunk), which
        returns (sql, params) whose rows start with the item's position in its chunk."""
        for first in range(0, len(items), UNION_BATCH):
            for position, *values in self._rows(*statement(items[first : first + UNION_BATCH])):
                yield first + position, values

    def bucket_counts(
        self,
        ref: TableRef,
        timestamp_column: str,
        unit: str,
        start: pd.Timestamp,
        end: pd.Timestamp,
        zone: str | None = None,
    ) -> dict[pd.Timestamp, int | float]:
        return self.bucket_counts_many([(ref, timestamp_column)], unit, start, end, zone)[0]

    def bucket_counts_many(
        self,
        tables: list[tuple[Any, ...]],
        unit: str,
        start: pd.Timestamp,
        end: pd.Timestamp,
        zone: str | None = None,
    ) -> list[dict[pd.Timestamp, int | float]]:
        if unit not in _UNITS:
            raise ValueError(f"bucket unit must be hour or day, not {unit!r}")
        bounds = (start.to_pydatetime(), end.to_pydatetime())
        out: list[dict[pd.Timestamp, int | float]] = [{} for _ in tables]
        on_clock: Callable[[str], str] = (lambda column: self._in_zone(column, zone)) if zone else self._in_utc
        rows = self._union(
            tables,
            lambda chunk: (
                union_bucket_sql(
                    [
                        (self._table(r), self._column(ts), check_expression(m) if m else ROW_COUNT)
                        for r, ts, m in _measured(chunk)
                    ],
                    unit,
                    self.PLACEHOLDER,
                    on_clock,
                ),
                bounds * len(chunk),
            ),
        )
        for i, (bucket, n) in rows:
            if n is not None:  # a metric over no matching rows (avg of nothing): no value that bucket
                out[i][utc_naive(bucket)] = _number(n)
        return out

    def total_count(self, ref: TableRef) -> int:
        return self.total_counts([ref])[0]

    def total_counts(self, refs: list[TableRef]) -> list[int]:
        out = [0] * len(refs)
        for i, (n,) in self._union(refs, lambda chunk: (union_total_sql([self._table(r) for r in chunk]), ())):
            out[i] = int(n)
        return out

    def first_timestamp(self, ref: TableRef, timestamp_column: str) -> pd.Timestamp | None:
        return self.first_timestamps([(ref, timestamp_column)])[0][0]

    def first_timestamps(
        self, tables: list[tuple[TableRef, str]], bounds: list[pd.Timestamp] | None = None
    ) -> list[tuple[pd.Timestamp | None, int]]:
        bounds = bounds or [EARLIEST] * len(tables)
        out: list[tuple[pd.Timestamp | None, int]] = [(None, 0)] * len(tables)
        items = [(ref, ts, bound) for (ref, ts), bound in zip(tables, bounds, strict=True)]
        rows = self._union(
            items,
            lambda chunk: (
                union_min_sql([(self._table(r), self._column(ts)) for r, ts, _ in chunk], self.PLACEHOLDER),
                tuple(b.to_pydatetime() for *_, bound in chunk for b in (bound, bound)),
            ),
        )
        for i, (value, before) in rows:
            out[i] = (None if value is None else utc_naive(value), int(before or 0))
        return out


def _measured(tables: list[tuple[Any, ...]]) -> list[tuple[Any, str, str | None]]:
    """(ref, timestamp column, expression or None): a pair measures the row count."""
    return [(t[0], t[1], t[2] if len(t) > 2 else None) for t in tables]


def _number(value: Any) -> int | float:
    """A count as an int; a metric's value (a sum, a rate; Snowflake gives Decimals) as a float
    unless it is whole."""
    x = float(value)
    return int(x) if x.is_integer() else x


def columns_by_table(rows: list[tuple[Any, ...]]) -> dict[str, list[tuple[str, str]]]:
    """(table, column, type) rows, ordered by table and position, as {table: [(column, type)]}."""
    tables: dict[str, list[tuple[str, str]]] = {}
    for table, name, dtype in rows:
        tables.setdefault(table, []).append((name, dtype))
    return tables


class Warehouse(Protocol):
    def bucket_counts(
        self,
        ref: TableRef,
        timestamp_column: str,
        unit: str,
        start: pd.Timestamp,
        end: pd.Timestamp,
        zone: str | None = None,
    ) -> dict[pd.Timestamp, int | float]:
        """Rows per bucket (unit 'hour' or 'day') with start <= timestamp < end (naive UTC);
        empty buckets absent. Buckets are labelled by their start in UTC, or with `zone` by
        their start on that zone's clock (local days: 23 and 25 hours on daylight-saving days)."""

    def bucket_counts_many(
        self,
        tables: list[tuple[Any, ...]],
        unit: str,
        start: pd.Timestamp,
        end: pd.Timestamp,
        zone: str | None = None,
    ) -> list[dict[pd.Timestamp, int | float]]:
        """bucket_counts of many (table, timestamp column) pairs in a few UNION ALL queries, in
        the order given; a triple (table, timestamp column, expression) measures a metric
        instead of the row count (buckets where it is NULL are absent). One failing table fails
        the whole call."""

    def total_counts(self, refs: list[TableRef]) -> list[int]:
        """COUNT(*) of many tables in a few queries, in the order given."""

    def total_count(self, ref: TableRef) -> int:
        """COUNT(*) of the whole table."""

    def list_tables(self, database: str, schema: str) -> list[str]:
        """Table names in one schema."""

    def column_schema(self, ref: TableRef) -> list[tuple[str, str]]:
        """(column name, type) pairs; raises LookupError when the table does not exist."""

    def schema_columns(self, database: str, schema: str) -> dict[str, list[tuple[str, str]]]:
        """column_schema of every table in one schema, by stored table name, in one query."""

    def first_timestamps(
        self, tables: list[tuple[TableRef, str]], bounds: list[pd.Timestamp] | None = None
    ) -> list[tuple[pd.Timestamp | None, int]]:
        """For many (table, timestamp column) pairs, in a few queries: the earliest timestamp at
        or after the table's bound (default EARLIEST), and how many rows lie before the bound."""

    def first_timestamp(self, ref: TableRef, timestamp_column: str) -> pd.Timestamp | None:
        """The earliest value of the timestamp column, None for an empty table."""

    def same_identifier(self, written: str, stored: str) -> bool:
        """Does a name as written in the config denote this stored name (case rules)?"""

    def config_name(self, stored: str) -> str:
        """How to write a stored name in the config so that it denotes exactly that name."""
