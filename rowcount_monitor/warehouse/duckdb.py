"""The DuckDB warehouse: the embedded default and the demo."""
from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Callable

import re

import duckdb

from . import UnionQueries, columns_by_table, qualified, quote_ident, unquote


class DuckDBWarehouse(UnionQueries):
    """Counts rows through connections from `connect` (e.g. DuckDBResource.get_connection)."""

    def __init__(self, connect: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]):
        self._connect = connect

    def _table(self, ref):
        return qualified(ref)

    def _column(self, name):
        return quote_ident(unquote(name))

    def _rows(self, sql, params=()):
        with self._connect() as conn:
            # TIMESTAMPTZ columns are truncated and compared in the session's zone, which is the
            # machine's unless set: UTC makes buckets the same on every host
            conn.execute("SET TimeZone = 'UTC'")
            return conn.execute(sql, list(params)).fetchall()

    def list_tables(self, database, schema):
        rows = self._rows("SELECT table_name FROM information_schema.tables "
                          "WHERE table_catalog = ? AND table_schema = ? ORDER BY 1", (unquote(database), unquote(schema)))
        return [r[0] for r in rows]

    def column_schema(self, ref):
        cols = self._rows("SELECT column_name, data_type FROM information_schema.columns "
                          "WHERE table_catalog = ? AND table_schema = ? AND table_name = ? ORDER BY ordinal_position",
                          tuple(unquote(p) for p in (ref.database, ref.schema, ref.table)))
        if not cols:
            raise LookupError(f"table {ref} does not exist in the warehouse")
        return [(name, dtype) for name, dtype in cols]

    def schema_columns(self, database, schema):
        return columns_by_table(self._rows(
            "SELECT table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_catalog = ? AND table_schema = ? ORDER BY table_name, ordinal_position",
            (unquote(database), unquote(schema))))

    def same_identifier(self, written, stored):
        return unquote(written).lower() == stored.lower()  # DuckDB matches names case-insensitively

    def config_name(self, stored):
        simple = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", stored)
        return stored if simple else '"' + stored.replace('"', '""') + '"'
