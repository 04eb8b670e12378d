"""Fresh, empty databases for the dataset connector's tests, on each of the three back ends.

`fresh_database(backend)` creates a database of its own (a schema on PostgreSQL, a database on
MariaDB, a file for SQLite), yields (URL to write with, URL the connector reads), and drops it.
PostgreSQL and MariaDB skip, saying why, when the local service is absent.
"""

from __future__ import annotations

import itertools
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
MARIADB = "mysql+pymysql://root@127.0.0.1:3306/"
_numbers = itertools.count()


def listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=[pytest.mark.postgres, pytest.mark.skipif(
        not listening(5432), reason="PostgreSQL is not listening on 127.0.0.1:5432")]),
    pytest.param("mariadb", id="mariadb", marks=pytest.mark.skipif(
        not listening(3306), reason="MariaDB is not listening on 127.0.0.1:3306")),
]


@contextmanager
def fresh_database(backend: str, tmp: Path) -> Iterator[tuple[str, str]]:
    name = f"ds_{os.getpid()}_{next(_numbers)}"
    if backend == "sqlite":
        url = f"sqlite:///{tmp / (name + '.sqlite3')}"
        yield url, url
        return
    if backend == "postgresql":
        admin = sa.create_engine(PG, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {name}")
        url = f"{PG}?options=-csearch_path%3D{name}"
        try:
            yield url, url
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {name} CASCADE")
            admin.dispose()
        return
    admin = sa.create_engine(MARIADB, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name} CHARACTER SET utf8mb4")
    try:
        yield f"{MARIADB}{name}", f"{MARIADB}{name}"
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name}")
        admin.dispose()
