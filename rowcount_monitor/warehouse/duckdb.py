"""The DuckDB warehouse: the embedded default and the demo."""
from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Callable

import re

import duckdb
import pandas as pd

from . import UNION_BATCH, qualified, quote_ident, union_bucket_sql, union_min_sql, union_total_sql, unquote

_UNITS = {"hour", "day"}


class DuckDBWarehouse:
    """Counts rows through connections from `connect` (e.g. DuckDBResource.get_connection)."""

    def __init__(self, connect: Callable[[], AbstractContextManager[duckdb.DuckDBPyConnection]]):
        self._connect = connect

    def bucket_counts(self, ref, timestamp_column, unit, start, end):
        return self.bucket_counts_many([(ref, timestamp_column)], unit, start, end)[0]

    def bucket_counts_many(self, tables, unit, start, end):
        if unit not in _UNITS:
            raise ValueError(f"bucket unit must be hour or day, not {unit!r}")
        out: list[dict] = [{} for _ in tables]
        bounds = [start.to_pydatetime(), end.to_pydatetime()]
        with self._connect() as conn:
            for first in range(0, len(tables), UNION_BATCH):
                chunk = tables[first:first + UNION_BATCH]
                parts = [(qualified(ref), quote_ident(unquote(ts))) for ref, ts in chunk]
                for i, bucket, n in conn.execute(union_bucket_sql(parts, unit, "?"), bounds * len(chunk)).fetchall():
                    out[first + i][pd.Timestamp(bucket)] = int(n)
        return out

    def total_counts(self, refs):
        out = [0] * len(refs)
        with self._connect() as conn:
            for first in range(0, len(refs), UNION_BATCH):
                sql = union_total_sql([qualified(r) for r in refs[first:first + UNION_BATCH]])
                for i, n in conn.execute(sql).fetchall():
                    out[first + i] = int(n)
        return out

    def total_count(self, ref):
        return self.total_counts([ref])[0]

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

    def schema_columns(self, database, schema):
        sql = ("SELECT table_name, column_name, data_type FROM information_schema.columns "
               "WHERE table_catalog = ? AND table_schema = ? ORDER BY table_name, ordinal_position")
        with self._connect() as conn:
            rows = conn.execute(sql, [unquote(database), unquote(schema)]).fetchall()
        tables: dict[str, list] = {}
        for table, name, dtype in rows:
            tables.setdefault(table, []).append((name, dtype))
        return tables

    def first_timestamp(self, ref, timestamp_column):
        return self.first_timestamps([(ref, timestamp_column)])[0]

    def first_timestamps(self, tables):
        out: list = [None] * len(tables)
        with self._connect() as conn:
            for first in range(0, len(tables), UNION_BATCH):
                parts = [(qualified(ref), quote_ident(unquote(ts))) for ref, ts in tables[first:first + UNION_BATCH]]
                for i, value in conn.execute(union_min_sql(parts)).fetchall():
                    out[first + i] = None if value is None else pd.Timestamp(value)
        return out

    def same_identifier(self, written, stored):
        return unquote(written).lower() == stored.lower()  # DuckDB matches names case-insensitively

    def config_name(self, stored):
        simple = re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", stored)
        return stored if simple else '"' + stored.replace('"', '""') + '"'
