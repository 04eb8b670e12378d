"""Fault knobs: the spec language, the live board, and the WSGI middleware that obeys it.

`SPEC = SYSTEM=KIND[:VALUE][,SYSTEM=KIND[:VALUE]...]`, e.g. `volt=latency:0.5,avp=error:0.3`.
One board per sandbox holds the current faults; it can be replaced at run time (control API), and
every service consults it on every call, so a change takes effect on the next call.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

SYSTEMS = ("billing", "volt", "recordings", "portal", "avp")
KINDS: dict[str, tuple[float | None, str]] = {
    # kind: (default value, what the value means)
    "latency": (1.0, "seconds added to every call"),
    "error": (0.5, "fraction of calls answered with a 5xx error (0..1)"),
    "ratelimit": (3, "length of each burst of 429 answers (Retry-After: 1); a burst every 10 calls"),
    "timeout": (120.0, "seconds a call hangs before any answer"),
    "truncate": (1.0, "fraction of answers whose body is cut short (0..1)"),
    "down": (None, "the service refuses connections"),
}
RATELIMIT_PERIOD = 10


class FaultSpecError(ValueError):
    """A fault spec that cannot be understood; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class Fault:
    system: str
    kind: str
    value: float | None

    def __str__(self) -> str:
        return f"{self.system}={self.kind}" + ("" if self.value is None else f":{self.value:g}")


def parse_spec(spec: str) -> list[Fault]:
    """Parse a fault spec; an empty string or `none` means no faults."""
    spec = spec.strip()
    if spec in ("", "none"):
        return []
    faults: list[Fault] = []
    for item in spec.split(","):
        system, sep, rest = item.strip().partition("=")
        if not sep:
            raise FaultSpecError(f"fault {item.strip()!r} is not SYSTEM=KIND[:VALUE]")
        if system not in SYSTEMS:
            raise FaultSpecError(f"unknown system {system!r} in fault spec; systems: {', '.join(SYSTEMS)}")
        kind, _, raw = rest.partition(":")
        if kind not in KINDS:
            raise FaultSpecError(f"unknown fault kind {kind!r} for {system}; kinds: {', '.join(KINDS)}")
        default, _ = KINDS[kind]
        if default is None:
            if raw:
                raise FaultSpecError(f"fault {system}={kind} takes no value")
            faults.append(Fault(system, kind, None))
            continue
        try:
            value = float(raw) if raw else float(default)
        except ValueError:
            raise FaultSpecError(f"fault {system}={kind} needs a number, not {raw!r}") from None
        if value < 0 or (kind in ("error", "truncate") and value > 1):
            raise FaultSpecError(f"fault {system}={kind}:{raw} is out of range ({KINDS[kind][1]})")
        faults.append(Fault(system, kind, value))
    return faults


class FaultBoard:
    """The live set of faults, shared by every service of one sandbox; thread-safe."""

    def __init__(self, faults: Iterable[Fault] = (), seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._faults: dict[str, dict[str, float | None]] = {}
        self._calls: dict[str, int] = {}
        self._rng = random.Random(seed)
        self._listeners: list[Callable[[], None]] = []
        self.cleared = threading.Event()
        self.replace(faults)

    def replace(self, faults: Iterable[Fault]) -> None:
        """Swap in a new set of faults (all systems); hanging calls are released."""
        table: dict[str, dict[str, float | None]] = {}
        for fault in faults:
            table.setdefault(fault.system, {})[fault.kind] = fault.value
        with self._lock:
            self._faults = table
            self._calls = {}
            old, self.cleared = self.cleared, threading.Event()
        old.set()
        for listener in list(self._listeners):
            listener()

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def of(self, system: str) -> dict[str, float | None]:
        with self._lock:
            return dict(self._faults.get(system, {}))

    def is_down(self, system: str) -> bool:
        return "down" in self.of(system)

    def describe(self) -> list[str]:
        with self._lock:
            return [str(Fault(s, k, v)) for s, kinds in sorted(self._faults.items()) for k, v in kinds.items()]

    def chance(self, probability: float) -> bool:
        with self._lock:
            return self._rng.random() < probability

    def count_call(self, system: str) -> int:
        """Number of this call among the system's calls since the faults were last set (0-based)."""
        with self._lock:
            n = self._calls.get(system, 0)
            self._calls[system] = n + 1
            return n

    def hang(self, seconds: float) -> None:
        """Block like a stuck server, but let go early when the faults are replaced."""
        self.cleared.wait(seconds)


def in_ratelimit_burst(call_number: int, burst: int) -> bool:
    """Bursts of `burst` refused calls, one starting every RATELIMIT_PERIOD allowed calls."""
    cycle = RATELIMIT_PERIOD + burst
    return call_number % cycle < burst


def json_error(status: str, message: str) -> tuple[bytes, str]:
    return json.dumps({"error": message}).encode(), "application/json"


class FaultInjector:
    """WSGI middleware putting one system's faults in front of its real application."""

    def __init__(self, app: Any, system: str, board: FaultBoard,
                 error_body: Callable[[str, str], tuple[bytes, str]] = json_error,
                 exempt: Callable[[str], bool] = lambda path: False) -> None:
        self.app = app
        self.system = system
        self.board = board
        self.error_body = error_body
        self.exempt = exempt

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        faults = self.board.of(self.system)
        if not faults or self.exempt(environ.get("PATH_INFO", "")):
            return self.app(environ, start_response)
        if "latency" in faults:
            time.sleep(float(faults["latency"] or 0))
        if "timeout" in faults:
            self.board.hang(float(faults["timeout"] or 0))
            return self._refuse(start_response, "504 Gateway Timeout", "injected fault: timeout")
        call_number = self.board.count_call(self.system)
        if "ratelimit" in faults and in_ratelimit_burst(call_number, int(faults["ratelimit"] or 0)):
            return self._refuse(start_response, "429 Too Many Requests", "rate limited", [("Retry-After", "1")])
        if "error" in faults and self.board.chance(float(faults["error"] or 0)):
            return self._refuse(start_response, "503 Service Unavailable", "injected fault: error")
        if "truncate" in faults and self.board.chance(float(faults["truncate"] or 0)):
            return self._truncated(environ, start_response)
        return self.app(environ, start_response)

    def _refuse(self, start_response: Callable[..., Any], status: str, message: str,
                extra: list[tuple[str, str]] | None = None) -> list[bytes]:
        body, content_type = self.error_body(status, message)
        start_response(status, [("Content-Type", content_type), ("Content-Length", str(len(body))),
                                *(extra or [])])
        return [body]

    def _truncated(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        """Answer with the real headers but only half of the body, then close the connection."""
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[..., Any]:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        result = self.app(environ, capture)
        try:
            body = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() not in ("content-length", "connection")]
        headers += [("Content-Length", str(len(body))), ("Connection", "close")]
        start_response(captured["status"], headers)
        return [body[: len(body) // 2]]
