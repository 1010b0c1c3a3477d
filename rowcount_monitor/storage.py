"""Where the project keeps its own state beside Dagster's (the alert outbox, the history cache,
feedback): an SQLite file in DAGSTER_HOME for `dagster dev`, tables prefixed `rowcount_monitor_`
in the instance's PostgreSQL database in production, where the webserver, the daemon, the code
server and every run worker run on hosts of their own and share no file.

Each store speaks one SQL for both: tables are named `{counts}`-style and parameters `:name`;
`Statements` rewrites them for the driver at hand.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from pathlib import Path
from typing import Any

import dagster as dg

PREFIX = "rowcount_monitor_"
# Tables are created in a PostgreSQL database once per process, not on every step or tick.
_CREATED: set[tuple[str, str]] = set()
_CREATING = threading.Lock()
# pg_advisory_xact_lock key ('rc-schem') held while a store creates its tables
SCHEMA_LOCK = 0x72632D736368656D

# The SQLite file in DAGSTER_HOME that holds the history cache and the feedback of `dagster dev`.
CACHE_FILE = "rowcount_monitor_history.sqlite"


def create_once(url: str, schema: str, create) -> None:
    """Run `create()` (which makes `schema`'s tables in the database at `url`) unless this process
    did already. Threads wait for the one creating; processes are serialized by SCHEMA_LOCK, which
    `create` takes (two CREATE TABLE IF NOT EXISTS at once can still collide in PostgreSQL)."""
    key = (url, schema)
    if key in _CREATED:
        return
    with _CREATING:
        if key not in _CREATED:
            create()
            _CREATED.add(key)


def postgres_url(instance: dg.DagsterInstance) -> str | None:
    """The instance's PostgreSQL URL where its storage is dagster-postgres, else None."""
    return getattr(instance.run_storage, "postgres_url", None)


def libpq_url(url: str) -> str:
    """A SQLAlchemy-style URL (postgresql+psycopg2://...) in the form libpq accepts."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


def _pyformat(sql: str) -> str:
    """`:name` parameters as psycopg2 wants them (`%(name)s`)."""
    return re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"%(\1)s", sql)


# the one row tuple of an INSERT's VALUES clause, which PostgreSQL's statements repeat per row
_VALUES = re.compile(r"VALUES\s*(\((?:%\(\w+\)s|[^()])*\))")


class Statements:
    """A transaction's connection, speaking one SQL for both databases: `{alerts}`-style table
    names and `:name` parameters, rewritten for the driver at hand."""

    def __init__(self, conn: Any, names: dict[str, str], postgres: bool):
        self.conn, self.names, self.postgres = conn, names, postgres

    def _sql(self, sql: str) -> str:
        sql = sql.format(**self.names)
        return _pyformat(sql) if self.postgres else sql

    def execute(self, sql: str, args: dict[str, Any] | None = None) -> Any:
        cur = self.conn.cursor()
        cur.execute(self._sql(sql), args or {})
        return cur

    def executemany(self, sql: str, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self.postgres:  # one multi-row statement per thousand rows, not a statement per row
            from psycopg2.extras import execute_values

            head, values, tail = _VALUES.split(self._sql(sql), maxsplit=1)
            execute_values(self.conn.cursor(), f"{head}VALUES %s{tail}", rows, template=values, page_size=1000)
        else:
            self.conn.cursor().executemany(self._sql(sql), rows)


def _use_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Put the file in WAL mode (it stays so). Switching a new file's mode takes an exclusive lock
    for which SQLite does not wait (no busy handler): workers opening it at once are told
    "database is locked" at once, so wait here, up to `timeout`, as SQLite waits for other locks."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


@contextmanager
def sqlite_transaction(
    path: Path, names: dict[str, str], timeout: float = 60, write: bool = True
) -> Iterator[Statements]:
    """One transaction on an SQLite file; a write transaction is serialized against every other
    (BEGIN IMMEDIATE), a read-only one reads a snapshot beside them (WAL)."""
    with closing(sqlite3.connect(path, timeout=timeout, isolation_level=None)) as conn:
        _use_wal(conn, timeout)
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield Statements(conn, names, postgres=False)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise


@contextmanager
def postgres_transaction(url: str, names: dict[str, str], lock: int | None = None) -> Iterator[Statements]:
    """One transaction on PostgreSQL; with `lock`, serialized against every other holding the
    same advisory lock (as SQLite's BEGIN IMMEDIATE serializes writers)."""
    import psycopg2  # dagster-postgres' driver

    conn = psycopg2.connect(url)
    try:
        with conn:  # commits, or rolls back on an exception
            if lock is not None:
                conn.cursor().execute("SELECT pg_advisory_xact_lock(%s)", (lock,))
            yield Statements(conn, names, postgres=True)
    finally:
        conn.close()


class Database:
    """A store's tables: in an SQLite file (`path`) or in a PostgreSQL database (`url`, tables
    prefixed rowcount_monitor_). `schema` is created once per process, with `versions` (component
    -> version) recorded in the schema_version table. `upgrades` (component -> version -> SQL)
    bring PostgreSQL tables of an older version up to date (SQLite's column types are only
    affinities: its files need none)."""

    def __init__(
        self,
        tables: tuple[str, ...],
        schema: str,
        versions: dict[str, int],
        *,
        path: Path | None = None,
        url: str | None = None,
        upgrades: dict[str, dict[int, str]] | None = None,
    ):
        if (path is None) == (url is None):
            raise ValueError("a Database is either an SQLite file or a PostgreSQL URL")
        self.path, self.url = (Path(path) if path else None), (libpq_url(url) if url else None)
        names = (*tables, "schema_version")
        self.names = {t: (PREFIX + t if self.url else t) for t in names}

        def create():
            tx = postgres_transaction(self.url, self.names, SCHEMA_LOCK) if self.url else self.transaction()
            with tx as conn:
                conn.execute(
                    "CREATE TABLE IF NOT EXISTS {schema_version} (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
                )
                for statement in filter(str.strip, schema.split(";")):
                    conn.execute(statement)
                for component, steps in (upgrades or {}).items() if self.url else ():
                    row = conn.execute(
                        "SELECT version FROM {schema_version} WHERE component = :c", {"c": component}
                    ).fetchone()
                    for version, statement in sorted(steps.items()):
                        if row is not None and row[0] < version:
                            conn.execute(statement)
                for component, version in versions.items():
                    conn.execute(
                        "INSERT INTO {schema_version} VALUES (:c, :v) ON CONFLICT (component) "
                        "DO UPDATE SET version = excluded.version",
                        {"c": component, "v": version},
                    )

        if self.path:
            create()  # a deleted SQLite file comes back empty: create each time (cheap, local)
        else:
            create_once(self.url, schema, create)

    def transaction(self, write: bool = True) -> AbstractContextManager[Statements]:
        if self.url:
            return postgres_transaction(self.url, self.names)
        return sqlite_transaction(self.path, self.names, write=write)


class Store:
    """A store of the project's own state: its TABLES (created from SCHEMA, recorded with
    VERSIONS) in the SQLite file FILE in DAGSTER_HOME, or in the instance's PostgreSQL database."""

    TABLES: tuple[str, ...] = ()
    SCHEMA = ""
    VERSIONS: dict[str, int] = {}
    UPGRADES: dict[str, dict[int, str]] = {}
    FILE = ""

    def __init__(self, db: Database):
        self.db = db

    @classmethod
    def at(cls, path: Path | None = None, *, url: str | None = None):
        """The store in an SQLite file or in a PostgreSQL database."""
        return cls(Database(cls.TABLES, cls.SCHEMA, cls.VERSIONS, path=path, url=url, upgrades=cls.UPGRADES))

    @classmethod
    def for_instance(cls, instance: dg.DagsterInstance):
        """In the instance's PostgreSQL database where it has one, else in FILE in its directory;
        None for an instance without either (tests' ephemeral instances)."""
        url = postgres_url(instance)
        if url:
            return cls.at(url=url)
        root = getattr(instance, "root_directory", None)
        return cls.at(Path(root) / cls.FILE) if root else None
