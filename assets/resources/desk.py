"""The DPO's review desk as the Dagster layer links to it: where it answers, how long links live."""

from __future__ import annotations

from assets.resources.settings import SettingsResource
from dsar_pipeline.review.links import issue_link


class DeskResource(SettingsResource):
    """`DSAR_REVIEW_DESK_URL` and `DSAR_REVIEW_LINK_SECONDS` (README, "The DPO's desk")."""

    SETTINGS = ("review_desk_url", "review_link_seconds")
    review_desk_url: str = "http://127.0.0.1:3001"
    review_link_seconds: int = 28800

    def review_link(self, request_id: str, bundle_sha256: str) -> str:
        """A fresh short-lived link to the request's review bundle (it names no personal value)."""
        return issue_link(request_id, bundle_sha256, self.review_link_seconds).url(self.review_desk_url)
