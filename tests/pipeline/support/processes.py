"""Subprocesses the tests start in their own session (process group), stopped by that group only."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[3]
ARTIFACTS = PROJECT / "test-artifacts"
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def child_env(base: Mapping[str, str], **extra: str) -> dict[str, str]:
    """`base` plus `extra`, with this interpreter's bin folder first on PATH (CI runs `.venv/bin/python -m
    pytest` without activating the venv, and the Dagster CLI execs `dagster` by name)."""
    env = {**base, **extra}
    env["PATH"] = os.pathsep.join([str(VENV_BIN), env.get("PATH", os.defpath)])
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def stop_group(process: subprocess.Popen, grace_s: float = 10.0) -> None:
    """SIGINT (what Ctrl-C sends) to the group the process leads, then SIGKILL to what is left of it."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(process.pid, signal.SIGINT)
            process.wait(timeout=grace_s)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # children outlive a leader that exited on SIGINT
    if process.poll() is None:
        process.wait(timeout=10)


@contextmanager
def group_process(args: Sequence[str], env: Mapping[str, str], log_path: Path,
                  cwd: Path = PROJECT) -> Iterator[subprocess.Popen]:
    """Start `args` as the leader of a new session, output to `log_path`; stop the whole group on exit."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("wb") as log:
        process = subprocess.Popen(list(args), cwd=cwd, env=dict(env), stdout=log, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        yield process
    finally:
        stop_group(process)


def log_tail(path: Path, lines: int = 40, noise: tuple[str, ...] = ("BetaWarning", "return fn(")) -> str:
    """The last lines of a process log, without Dagster's repeated import-time warnings."""
    if not path.exists():
        return f"(no log at {path})"
    kept = [line for line in path.read_text(errors="replace").splitlines() if not any(n in line for n in noise)]
    return "\n".join(kept[-lines:])


def wait_for(predicate, timeout_s: float, interval_s: float = 0.5, what: str = "condition"):
    """Call `predicate` until it returns something truthy; that value, or TimeoutError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached after {timeout_s:.0f} s")
        time.sleep(interval_s)
