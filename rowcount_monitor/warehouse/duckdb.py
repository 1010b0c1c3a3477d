"""The DuckDB warehouse: the embedded default and the demo."""
from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Callable

import re

import duckdb
import pandas as pd

from . import qualified, quote_ident, unquote

_UNITS = {"hour", "day"}


class DuckDBWarehouse:
    """Counts rows through connections from `connect` (e.g. DuckDBResource.get_connection)."""

    def __init__(self, connect: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]):
        self._connect = connect

    def bucket_counts(self, ref, timestamp_column, unit, start, end):
        if unit not in _UNITS:
            raise ValueError(f"bucket unit must be hour or day, not {unit!r}")
        ts = quote_ident(unquote(timestamp_column))
        sql = (f"SELECT date_trunc('{unit}', {ts}) AS bucket, count(*) FROM {qualified(ref)} "
               f"WHERE {ts} >= ? AND {ts} < ? GROUP BY 1")
        with self._connect() as conn:
            rows = conn.execute(sql, [start.to_pydatetime(), end.to_pydatetime()]).fetchall()
        return {pd.Timestamp(bucket): int(n) for bucket, n in rows}

    def total_count(self, ref):
        with self._connect() as conn:
            return int(conn.execute(f"SELECT count(*) FROM {qualified(ref)}").fetchone()[0])

    def list_tables(self, database, schema):
        sql = ("SELECT table_name FROM information_schema.tables "
               "WHERE table_catalog = ? AND table_schema = ? ORDER BY 1")
        with self._connect() as conn:
            return [r[0] for r in conn.execute(sql, [unquote(database), unquote(schema)]).fetchall()]

    def column_schema(self, ref):
        sql = ("SELECT column_name, data_type FROM information_schema.columns "
               "WHERE table_catalog = ? AND table_schema = ? AND table_name = ? ORDER BY ordinal_position")
        with self._connect() as conn:
            cols = conn.execute(sql, [unquote(p) for p in (ref.database, ref.schema, ref.table)]).fetchall()
        if not cols:
            raise LookupError(f"table {ref} does not exist in the warehouse")
        return [(name, dtype) for name, dtype in cols]

    def first_timestamp(self, ref, timestamp_column):
        sql = f"SELECT min({quote_ident(unquote(timestamp_column))}) FROM {qualified(ref)}"
        with self._connect() as conn:
            value = conn.execute(sql).fetchone()[0]
        return None if value is None else pd.Timestamp(value)

    def same_identifier(self, written, stored):
        return unquote(written).lower() == stored.lower()  # DuckDB matches names case-insensitively

    def config_name(self, stored):
        simple = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", stored)
        return stored if simple else '"' + stored.replace('"', '""') + '"'
