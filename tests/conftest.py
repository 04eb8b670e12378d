"""Shared fixtures: one running sandbox federation per test session (in this process, on free ports).

In-process so tests can read the population (the ground truth) and flip faults directly; the
pipeline code under test still reaches every system only over its protocol.
"""

from __future__ import annotations

import os
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


# -- files from the sibling checkout ../shared (CI lays it beside the clone; a bare clone lacks it) -------

REPO = Path(__file__).resolve().parents[1]
AVP_SPECS_SETTING = "DSAR_AVP_SPECS_DIR"
AVP_SPECS_DEFAULT = "../shared/specs/elering-avp"


def avp_specs_setting() -> str:
    """Where the data hub's published OpenAPI files are, as configured (relative to the repository root)."""
    return os.environ.get(AVP_SPECS_SETTING) or AVP_SPECS_DEFAULT


def avp_specs_dir() -> Path:
    """The hub's OpenAPI folder; a relative setting counts from the repository root, not the working directory."""
    return REPO / Path(avp_specs_setting()).expanduser()


def avp_specs_missing() -> str | None:
    """Why the hub's OpenAPI files cannot be used (one line naming the folder and the setting), or None."""
    if avp_specs_dir().is_dir():
        return None
    return f"the hub's OpenAPI files are not at {avp_specs_setting()} (set {AVP_SPECS_SETTING})"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip every test that needs the hub's files by a `skip` mark, so that `-ra` folds them into one
    summary line per file (a skip raised in the fixture would print one line per test)."""
    reason = avp_specs_missing()
    if reason is None:
        return
    for item in items:
        if "avp_specs" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def avp_specs() -> Path:
    """The hub's OpenAPI folder: a clone without ../shared still runs every test that does not validate
    against the published files (the skip itself is the collection hook's; this covers dynamic requests)."""
    reason = avp_specs_missing()
    if reason is not None:
        pytest.skip(reason)
    return avp_specs_dir()


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
