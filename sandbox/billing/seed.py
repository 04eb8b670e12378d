"""Create the billing schema and load the population into it, on SQLite or PostgreSQL.

A reload replaces everything, atomically, so a restarted sandbox serves exactly the same rows:
on PostgreSQL the schema is dropped, recreated and filled in one transaction (readers wait for the
commit instead of seeing half a load); on SQLite a fresh file is built beside the old one and
renamed over it. PostgreSQL is filled with COPY, SQLite with executemany, both in one transaction —
the default population (~800 customers, ~39k invoices, ~156k lines) loads in seconds.
"""

from __future__ import annotations

import operator
import os
import re
import urllib.parse
from pathlib import Path
from typing import Any

from psycopg import sql
from sqlalchemy import Connection, Table, create_engine, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.schema import (
    AddConstraint,
    CreateIndex,
    CreateSchema,
    CreateTable,
    DropSchema,
    SetColumnComment,
    SetTableComment,
)

from sandbox.billing.schema import SCHEMA, TABLES, translate_map
from sandbox.population import Population

SCHEMA_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class BillingUrlError(ValueError):
    """The billing database URL is not one we can serve; the message is one line for the user."""


def seed_database(population: Population, url: str | None, sqlite_path: Path, *, schema: str = SCHEMA) -> str:
    """Load `population` into PostgreSQL at `url`, or into the SQLite file `sqlite_path` when `url` is None.

    Returns the SQLAlchemy URL the pipeline should read billing with (password included: it is the
    caller's own). `schema` is the PostgreSQL schema to (re)create; tests give their own so they never
    trample a running sandbox's `billing`.
    """
    if url is None:
        return _seed_sqlite(population, sqlite_path)
    if not SCHEMA_NAME.fullmatch(schema):
        raise BillingUrlError(f"schema name {schema!r} is not a plain lower-case SQL identifier")
    return _seed_postgresql(population, postgresql_url(url), schema)


def postgresql_url(url: str) -> URL:
    """Parse a PostgreSQL URL and pin the psycopg 3 driver (the only one installed)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise BillingUrlError(f"billing database URL must be postgresql://…, not {parsed.get_backend_name()}://")
    return parsed.set(drivername="postgresql+psycopg")


def with_search_path(url: URL, schema: str) -> URL:
    """Add `-csearch_path=<schema>` to the libpq `options` of the URL, keeping any options already there."""
    existing = url.query.get("options", "")
    if isinstance(existing, tuple):
        existing = " ".join(existing)
    options = " ".join(part for part in (existing, f"-csearch_path={schema}") if part)
    return url.update_query_dict({"options": options})


def rows(table: Table, population: Population) -> list[tuple[Any, ...]]:
    """The table's rows from the population's list of the same name, in the table's column order."""
    names = [column.name for column in table.columns]
    values = operator.attrgetter(*names)
    return [values(record) for record in getattr(population, table.name)]


def _seed_postgresql(population: Population, url: URL, schema: str) -> str:
    engine = create_engine(url, execution_options={"schema_translate_map": translate_map("postgresql", schema)})
    try:
        with engine.begin() as conn:
            _recreate_schema(conn, schema)
            for table in TABLES:
                conn.execute(CreateTable(table, include_foreign_key_constraints=[]))
                _comment(conn, table)
            _copy_rows(conn, population, schema)
            for table in TABLES:  # checked once per table now, instead of once per row during COPY
                for constraint in table.foreign_key_constraints:
                    conn.execute(AddConstraint(constraint))
            _create_indexes(conn)
            for table in TABLES:
                conn.execute(text(f"ANALYZE {_qualified(conn, schema, table)}"))
    finally:
        engine.dispose()
    return with_search_path(url, schema).render_as_string(hide_password=False)


def _recreate_schema(conn: Connection, schema: str) -> None:
    conn.execute(DropSchema(schema, cascade=True, if_exists=True))
    conn.execute(CreateSchema(schema))
    conn.execute(text(f"COMMENT ON SCHEMA {conn.dialect.identifier_preparer.quote_schema(schema)} IS "
                      "'Billing of Enefit AS / Enefit SIA: customers, contracts, invoices, debts. "
                      "Tables and columns carry comments.'"))


def _qualified(conn: Connection, schema: str, table: Table) -> str:
    quote = conn.dialect.identifier_preparer
    return f"{quote.quote_schema(schema)}.{quote.quote(table.name)}"


def _comment(conn: Connection, table: Table) -> None:
    """Table and column comments: the schema's documentation, where `\\d+` and catalog readers see it."""
    conn.execute(SetTableComment(table))
    for column in table.columns:
        conn.execute(SetColumnComment(column))


def _create_indexes(conn: Connection) -> None:
    """After the load: building an index once is much cheaper than maintaining it row by row."""
    for table in TABLES:
        for index in sorted(table.indexes, key=lambda i: str(i.name)):
            conn.execute(CreateIndex(index))


def _copy_rows(conn: Connection, population: Population, schema: str) -> None:
    """COPY each table, parents first; runs in the caller's transaction."""
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor:
        for table in TABLES:
            statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
                sql.Identifier(schema, table.name), sql.SQL(", ").join(sql.Identifier(c.name) for c in table.columns))
            with cursor.copy(statement) as copy:
                for row in rows(table, population):
                    copy.write_row(row)


def _seed_sqlite(population: Population, path: Path) -> str:
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    loading = path.with_name(path.name + ".loading")
    loading.unlink(missing_ok=True)
    engine = create_engine(URL.create("sqlite", database=str(loading)),
                           execution_options={"schema_translate_map": translate_map("sqlite")})
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA synchronous = OFF")
            for table in TABLES:
                conn.execute(CreateTable(table))
                _insert_sqlite(conn, table, rows(table, population))
            _create_indexes(conn)
    finally:
        engine.dispose()
    # A journal left beside the old file would be replayed into the new one: it belongs to the old file.
    path.with_name(path.name + "-journal").unlink(missing_ok=True)
    os.replace(loading, path)
    return sqlite_url(path)


def _insert_sqlite(conn: Connection, table: Table, values: list[tuple[Any, ...]]) -> None:
    """executemany with SQLAlchemy's own SQLite storage formats (dates, timestamps, flags), minus its overhead."""
    processors = [column.type.dialect_impl(conn.dialect).bind_processor(conn.dialect) for column in table.columns]
    converting = [(i, p) for i, p in enumerate(processors) if p is not None]
    if converting:
        converted = []
        for row in values:
            out = list(row)
            for i, process in converting:
                out[i] = process(out[i])
            converted.append(tuple(out))
        values = converted  # type: ignore[assignment]
    # Identifiers come from our own metadata, values go as parameters.
    quote = conn.dialect.identifier_preparer.quote
    names = ", ".join(quote(column.name) for column in table.columns)
    placeholders = ", ".join("?" for _ in table.columns)
    conn.exec_driver_sql(f"INSERT INTO {quote(table.name)} ({names}) VALUES ({placeholders})", values)  # noqa: S608


def sqlite_url(path: Path) -> str:
    """Read-only URI URL of the SQLite file: opening fails (instead of creating a file) when it is missing.

    Quoted twice: SQLite decodes its `file:` URI and SQLAlchemy decodes the URL before that, so a
    path with a space or `#` survives both (ordinary paths are left as they are).
    """
    return f"sqlite:///file:{urllib.parse.quote(urllib.parse.quote(str(path.resolve())))}?mode=ro&uri=true"
