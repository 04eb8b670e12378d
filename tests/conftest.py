"""Shared fixtures: one running sandbox federation per test session (in this process, on free ports).

In-process so tests can read the population (the ground truth) and flip faults directly; the
pipeline code under test still reaches every system only over its protocol.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def postgres_available() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


requires_postgres = pytest.mark.skipif(not postgres_available(),
                                       reason="PostgreSQL is not listening on 127.0.0.1:5432")


@pytest.fixture(scope="session")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The whole sandbox at a small size, SQLite billing, no rate limits, shared by the session."""
    from sandbox.federation import Federation, SandboxOptions

    state: Path = tmp_path_factory.mktemp("sandbox")
    fed = Federation(SandboxOptions(size=120, port_base=0, state_dir=state, avp_min_call_interval_s=0.0,
                                    volt_rate_per_second=0.0))
    fed.start()
    yield fed
    fed.stop()


@pytest.fixture
def clean_faults(federation: object) -> Iterator[object]:
    """The federation with no faults before and after the test."""
    federation.board.replace([])  # type: ignore[attr-defined]
    yield federation
    federation.board.replace([])  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def cold_index_cache() -> Iterator[None]:
    """Each test reads the call centre's month indexes itself (faults, call counts), as if first."""
    from connectors.recordings.index_cache import SHARED

    SHARED.clear()
    yield
