"""Where a step's sealed output lives in the work store: one object per request and asset, so that each
request's data stays separable and purgeable on its own."""

from __future__ import annotations


def sealed_object_key(request_id: str, asset: str) -> str:
    """`<request id>/<asset>.sealed` (a multi-part asset name joined with dots)."""
    return f"{request_id}/{asset}.sealed"
