"""The Snowflake warehouse: production.

Identifiers follow Snowflake's case rules: a name written plainly in the config (orders) is
an unquoted identifier, which Snowflake stores upper-cased (ORDERS); a name written in double
quotes ("MixedCase") keeps its case. Either way the SQL sent always quotes the resolved name,
so nothing in a name is ever executed.
"""
from __future__ import annotations

import re
from contextlib import AbstractContextManager
from typing import Callable

import pandas as pd

from . import UNION_BATCH, TableRef, quote_ident, union_bucket_sql, union_min_sql, union_total_sql, unquote

_UNITS = {"hour", "day"}


def resolve(name: str) -> str:
    """The identifier as Snowflake stores it."""
    if len(name) >= 2 and name.startswith('"') and name.endswith('"'):
        return unquote(name)
    return name.upper()


def qualified(ref: TableRef) -> str:
    return ".".join(quote_ident(resolve(p)) for p in (ref.database, ref.schema, ref.table))


class SnowflakeWarehouse:
    """Counts rows through connections from `connect` (e.g. SnowflakeResource.get_connection)."""

    def __init__(self, connect: Callable[[], AbstractContextManager]):
        self._connect = connect

    def _query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with self._connect() as conn:
            cur = conn.cursor()
            try:
                cur.execute(sql, params)
                return cur.fetchall()
            finally:
                cur.close()

    def bucket_counts(self, ref, timestamp_column, unit, start, end):
        return self.bucket_counts_many([(ref, timestamp_column)], unit, start, end)[0]

    def bucket_counts_many(self, tables, unit, start, end):
        if unit not in _UNITS:
            raise ValueError(f"bucket unit must be hour or day, not {unit!r}")
        out: list[dict] = [{} for _ in tables]
        bounds = (start.to_pydatetime(), end.to_pydatetime())
        for first in range(0, len(tables), UNION_BATCH):
            chunk = tables[first:first + UNION_BATCH]
            parts = [(qualified(ref), quote_ident(resolve(ts))) for ref, ts in chunk]
            for i, bucket, n in self._query(union_bucket_sql(parts, unit, "%s"), bounds * len(chunk)):
                bucket = pd.Timestamp(bucket)
                out[first + i][bucket.tz_localize(None) if bucket.tzinfo else bucket] = int(n)
        return out

    def total_counts(self, refs):
        out = [0] * len(refs)
        for first in range(0, len(refs), UNION_BATCH):
            for i, n in self._query(union_total_sql([qualified(r) for r in refs[first:first + UNION_BATCH]])):
                out[first + i] = int(n)
        return out

    def total_count(self, ref):
        return self.total_counts([ref])[0]

    def list_tables(self, database, schema):
        rows = self._query(
            f"SELECT TABLE_NAME FROM {quote_ident(resolve(database))}.INFORMATION_SCHEMA.TABLES "
            "WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1", (resolve(schema),))
        return [r[0] for r in rows]

    def column_schema(self, ref):
        rows = self._query(
            f"SELECT COLUMN_NAME, DATA_TYPE FROM {quote_ident(resolve(ref.database))}.INFORMATION_SCHEMA.COLUMNS "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (resolve(ref.schema), resolve(ref.table)))
        if not rows:
            raise LookupError(f"table {ref} does not exist in the warehouse")
        return [(name, dtype) for name, dtype in rows]

    def schema_columns(self, database, schema):
        rows = self._query(
            f"SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE FROM {quote_ident(resolve(database))}.INFORMATION_SCHEMA.COLUMNS "
            "WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME, ORDINAL_POSITION", (resolve(schema),))
        tables: dict[str, list] = {}
        for table, name, dtype in rows:
            tables.setdefault(table, []).append((name, dtype))
        return tables

    def first_timestamp(self, ref, timestamp_column):
        return self.first_timestamps([(ref, timestamp_column)])[0]

    def first_timestamps(self, tables):
        out: list = [None] * len(tables)
        for first in range(0, len(tables), UNION_BATCH):
            parts = [(qualified(ref), quote_ident(resolve(ts))) for ref, ts in tables[first:first + UNION_BATCH]]
            for i, value in self._query(union_min_sql(parts)):
                out[first + i] = None if value is None else pd.Timestamp(value)
        return out

    def same_identifier(self, written, stored):
        return resolve(written) == stored

    def config_name(self, stored):
        simple = stored == stored.upper() and re.fullmatch(r"[A-Z_][A-Z0-9_$]*", stored)
        return stored.lower() if simple else '"' + stored.replace('"', '""') + '"'
