"""The DuckDB warehouse: the embedded default and the demo."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import duckdb

from . import TableRef, UnionQueries, WarehouseUnavailable, columns_by_table, qualified, quote_ident, unquote

# How long a reader waits for a DuckDB file another process holds (dbt building models, say)
# before giving up with the lock holder's message. dagster-duckdb's own connect retries ten
# times with exponential backoff, about 100 s, and a step that then retries its tables one by
# one would wait that long for each of them.
LOCK_WAIT_SECONDS = 15.0


def bounded_connect(
    database: str, config: dict[str, Any] | None = None, wait: float = LOCK_WAIT_SECONDS
) -> Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]:
    """Read-only connections to a DuckDB file (the monitor only reads, and a metric's SQL is the
    user's own) that wait at most `wait` seconds for a lock; a file that stays locked, is
    corrupt, is not a database or does not exist is WarehouseUnavailable."""

    @contextmanager
    def connect() -> Iterator[duckdb.DuckDBPyConnection]:
        if database != ":memory:" and not Path(database).is_file():
            # duckdb.connect would create an empty database and every table would be "missing"
            raise WarehouseUnavailable(f"DuckDB file {database} does not exist")
        deadline, delay = time.monotonic() + wait, 0.25
        while True:
            try:
                conn = duckdb.connect(database, read_only=database != ":memory:", config=config or {})
                break
            except duckdb.IOException as exc:
                locked = "lock" in str(exc).lower()
                if not locked or time.monotonic() + delay > deadline:
                    raise WarehouseUnavailable(f"cannot open DuckDB file {database}: {exc}") from None
                time.sleep(delay)
                delay = min(2 * delay, 4.0)
            except (duckdb.Error, RuntimeError) as exc:
                raise WarehouseUnavailable(f"cannot open DuckDB file {database}: {exc}") from None
        try:
            yield conn
        finally:
            conn.close()

    return connect


def seal(conn: duckdb.DuckDBPyConnection) -> None:
    """Set a connection up for the monitor's queries and lock it: TIMESTAMPTZ columns are
    truncated and compared in the session's zone, which is the machine's unless set (UTC makes
    buckets the same on every host); no file or network access (a metric's SQL is the user's
    own, and must not read a local file or URL into a count or an error message); and no
    setting may be changed back."""
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("SET enable_external_access = false")
    conn.execute("SET lock_configuration = true")


class DuckDBWarehouse(UnionQueries):
    """Counts rows through connections from `connect` (e.g. DuckDBResource.get_connection)."""

    def __init__(self, connect: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]):
        self._connect = connect

    def _table(self, ref: TableRef) -> str:
        return qualified(ref)

    def _column(self, name: str) -> str:
        return quote_ident(unquote(name))

    def _in_zone(self, column: str, zone: str) -> str:
        # a naive TIMESTAMP becomes TIMESTAMPTZ in the session's zone (UTC), DATE at its midnight
        return f"timezone('{zone}', CAST({column} AS TIMESTAMPTZ))"

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._connect() as conn:
            seal(conn)
            return conn.execute(sql, list(params)).fetchall()

    def list_tables(self, database: str, schema: str) -> list[str]:
        rows = self._rows(
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = ? AND table_schema = ? ORDER BY 1",
            (unquote(database), unquote(schema)),
        )
        return [r[0] for r in rows]

    def column_schema(self, ref: TableRef) -> list[tuple[str, str]]:
        cols = self._rows(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE lower(table_catalog) = lower(?) AND lower(table_schema) = lower(?) "
            "AND lower(table_name) = lower(?) ORDER BY ordinal_position",  # names are case-insensitive
            tuple(unquote(p) for p in (ref.database, ref.schema, ref.table)),
        )
        if not cols:
            raise LookupError(f"table {ref} does not exist in the warehouse")
        return [(name, dtype) for name, dtype in cols]

    def schema_columns(self, database: str, schema: str) -> dict[str, list[tuple[str, str]]]:
        return columns_by_table(
            self._rows(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_catalog = ? AND table_schema = ? ORDER BY table_name, ordinal_position",
                (unquote(database), unquote(schema)),
            )
        )

    def same_identifier(self, written: str, stored: str) -> bool:
        return unquote(written).lower() == stored.lower()  # DuckDB matches names case-insensitively

    def config_name(self, stored: str) -> str:
        simple = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", stored)
        return stored if simple else '"' + stored.replace('"', '""') + '"'
