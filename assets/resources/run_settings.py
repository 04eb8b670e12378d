"""How the deployment runs the pipeline: batch sizes, threads per step, retention and warning windows."""

from __future__ import annotations

from datetime import timedelta

from assets.resources.settings import SettingsResource


class RunSettingsResource(SettingsResource):
    """Tunables with their defaults; each is its `DSAR_*` setting (README, "Settings")."""

    SETTINGS = ("request_threads", "batch_size", "batch_runs", "purge_after_days", "deadline_warning_days")
    request_threads: int = 4
    batch_size: int = 50
    batch_runs: int = 2
    purge_after_days: int = 30
    deadline_warning_days: int = 7

    def threads(self) -> int:
        """How many of a batch's requests a waiting step (identities, collection, delivery) serves at once."""
        return max(1, self.request_threads)

    def purge_window(self) -> timedelta:
        """The retention window. A negative value is refused rather than clamped: it would purge open
        requests before their statutory deadline, and a typo must not do that silently."""
        if self.purge_after_days < 0:
            raise ValueError("DSAR_PURGE_AFTER_DAYS must be 0 or more")
        return timedelta(days=self.purge_after_days)
