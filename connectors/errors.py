"""Failures a connector reports: always naming the system and the cause, never a personal value.

Messages end up in Dagster's event log and the DPO's overview, so they carry the operation (a
path template such as `GET /v1/accounts`), the status or error class, and attempt counts — never
URLs with query strings, SQL parameters or response bodies.
"""

from __future__ import annotations


class ConnectorError(RuntimeError):
    """The system could not be searched completely; the result must be treated as incomplete."""

    def __init__(self, system: str, cause: str) -> None:
        super().__init__(f"{system}: {cause}")
        self.system = system
        self.cause = cause


class TransientError(Exception):
    """One attempt failed in a way worth retrying (5xx, 429, timeout, reset, truncated page)."""

    def __init__(self, cause: str, retry_after: float | None = None) -> None:
        super().__init__(cause)
        self.cause = cause
        self.retry_after = retry_after


class TruncatedPage(TransientError):
    """A page shorter than the system promised (or a body cut short): retry the page."""


class PermanentError(Exception):
    """An attempt failed in a way retrying cannot fix (4xx other than 429, bad credentials)."""
