"""A throwaway PostgreSQL database on the test server (127.0.0.1:5432, trust auth, user postgres)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

HOST, PORT, USER, ADMIN_DB = "127.0.0.1", 5432, "postgres", "test"


def connect(dbname: str = ADMIN_DB, **kwargs) -> psycopg.Connection:
    return psycopg.connect(host=HOST, port=PORT, user=USER, dbname=dbname, connect_timeout=10, **kwargs)


@contextmanager
def throwaway_database(prefix: str = "dagster_test") -> Iterator[str]:
    """CREATE DATABASE <prefix>_<random>; yields its name; DROP ... WITH (FORCE) afterwards, so that a
    connection a child process left open cannot keep it alive."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    with connect(autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with connect(autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
