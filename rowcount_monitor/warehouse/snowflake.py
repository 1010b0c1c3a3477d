"""The Snowflake warehouse: production.

Identifiers follow Snowflake's case rules: a name written plainly in the config (orders) is
an unquoted identifier, which Snowflake stores upper-cased (ORDERS); a name written in double
quotes ("MixedCase") keeps its case. Either way the SQL sent always quotes the resolved name,
so nothing in a name is ever executed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from . import TableRef, UnionQueries, columns_by_table, quote_ident, unquote


def resolve(name: str) -> str:
    """The identifier as Snowflake stores it."""
    if len(name) >= 2 and name.startswith('"') and name.endswith('"'):
        return unquote(name)
    return name.upper()


def qualified(ref: TableRef) -> str:
    return ".".join(quote_ident(resolve(p)) for p in (ref.database, ref.schema, ref.table))


class SnowflakeWarehouse(UnionQueries):
    """Counts rows through connections from `connect` (e.g. SnowflakeResource.get_connection)."""

    PLACEHOLDER = "%s"

    def __init__(self, connect: Callable[[], AbstractContextManager[Any]]):
        self._connect = connect

    def _table(self, ref: TableRef) -> str:
        return qualified(ref)

    def _column(self, name: str) -> str:
        return quote_ident(resolve(name))

    def _in_utc(self, column: str) -> str:
        # date_trunc cuts a TIMESTAMP_TZ at its own offset's midnight; the session is UTC (see
        # resources.snowflake_resource), so this also reads NTZ and DATE values as UTC
        return f"CONVERT_TIMEZONE('UTC', {column})"

    def _in_zone(self, column: str, zone: str) -> str:
        # to UTC first (any TIMESTAMP type), then that UTC wall clock to the zone's (NTZ)
        return f"CONVERT_TIMEZONE('UTC', '{zone}', CONVERT_TIMEZONE('UTC', {column}))"

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._connect() as conn:
            cur = conn.cursor()
            try:
                cur.execute(sql, params)
                return list(cur.fetchall())
            finally:
                cur.close()

    def list_tables(self, database: str, schema: str) -> list[str]:
        rows = self._rows(
            f"SELECT TABLE_NAME FROM {quote_ident(resolve(database))}.INFORMATION_SCHEMA.TABLES "
            "WHERE TABLE_SCHEMA = %s AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1",
            (resolve(schema),),
        )
        return [r[0] for r in rows]

    def column_schema(self, ref: TableRef) -> list[tuple[str, str]]:
        rows = self._rows(
            f"SELECT COLUMN_NAME, DATA_TYPE FROM {quote_ident(resolve(ref.database))}.INFORMATION_SCHEMA.COLUMNS "
            "WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s ORDER BY ORDINAL_POSITION",
            (resolve(ref.schema), resolve(ref.table)),
        )
        if not rows:
            raise LookupError(f"table {ref} does not exist in the warehouse")
        return [(name, dtype) for name, dtype in rows]

    def schema_columns(self, database: str, schema: str) -> dict[str, list[tuple[str, str]]]:
        return columns_by_table(
            self._rows(
                f"SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE FROM {quote_ident(resolve(database))}.INFORMATION_SCHEMA.COLUMNS "
                "WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME, ORDINAL_POSITION",
                (resolve(schema),),
            )
        )

    def same_identifier(self, written: str, stored: str) -> bool:
        return resolve(written) == stored

    def config_name(self, stored: str) -> str:
        simple = stored == stored.upper() and re.fullmatch(r"[A-Z_][A-Z0-9_$]*", stored)
        return stored.lower() if simple else '"' + stored.replace('"', '""') + '"'
