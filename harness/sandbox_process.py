"""Run the sandbox in its own process (as `python -m sandbox up`) for the demo and the benchmarks.

Its own process keeps the simulated systems' memory (moto holds every object in RAM) out of the
pipeline's figures, and proves that the pipeline talks to them only over the wire.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

from dsar_pipeline.settings import load_env_file


class SandboxStartError(RuntimeError):
    """The sandbox did not come up; the message is its own one-line error."""


class SandboxProcess:
    def __init__(self, state_dir: Path, size: int = 1000, seed: int = 42, faults: str = "",
                 extra_args: tuple[str, ...] = (), ready_timeout_s: float = 120.0) -> None:
        self.state_dir = state_dir.resolve()
        self.env_file = self.state_dir / "sandbox.env"
        self.args = [sys.executable, "-m", "sandbox", "up", "--size", str(size), "--seed", str(seed),
                     "--port-base", "0", "--state-dir", str(self.state_dir), "--env-file", str(self.env_file),
                     "--faults", faults, *extra_args]
        self.ready_timeout_s = ready_timeout_s
        self.process: subprocess.Popen[bytes] | None = None
        self.settings: dict[str, str] = {}
        self.log_path = self.state_dir / "sandbox.log"

    def start(self) -> dict[str, str]:
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.env_file.unlink(missing_ok=True)
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(self.args, stdout=log, stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + self.ready_timeout_s
        while not self.env_file.exists():
            if self.process.poll() is not None:
                error = (self.process.stderr.read().decode(errors="replace") if self.process.stderr else "").strip()
                raise SandboxStartError(error.splitlines()[-1] if error else "sandbox exited during start-up")
            if time.monotonic() > deadline:
                self.stop()
                raise SandboxStartError(f"sandbox not ready after {self.ready_timeout_s:.0f} s")
            time.sleep(0.05)
        self.settings = load_env_file(self.env_file, environ={})
        return self.settings

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def __enter__(self) -> SandboxProcess:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
