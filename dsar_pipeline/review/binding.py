"""What binds a DPO's approval to the package it approves: the SHA-256 of every sealed object the
package was built from, of the package file and of its manifest. Delivery compares the binding as it
is now with the one approved; any difference voids the approval."""

from __future__ import annotations

import hashlib
from typing import Any

from connectors.registry import systems
from dsar_pipeline.collection.collect import records_asset_name
from dsar_pipeline.review.approval import ReleaseBinding
from dsar_pipeline.sealing.objects import sealed_object_key
from dsar_pipeline.sealing.workstore import WorkStore

REVIEW_BUNDLE = "review_bundle"
"""The sealed review bundle the DPO decides on (`review.bundle`): bound like every input."""

BOUND_INPUTS = ("dsar_request", "subject_identities", *(records_asset_name(name) for name in systems()),
                "review_findings", REVIEW_BUNDLE, "release_scope", "portability_export", "response_package")
"""The sealed objects a package is built from: an approval covers every one of them."""


def sealed_digest(store: WorkStore, request_id: str, asset: str) -> str:
    """SHA-256 of the sealed object of `asset` for the request (every materialisation seals anew), or
    "absent" for one never materialised (the DPO's scope, until they give one)."""
    key = sealed_object_key(request_id, asset)
    return hashlib.sha256(store.get(key)).hexdigest() if store.exists(key) else "absent"


def current_binding(store: WorkStore, request_id: str, package: Any) -> ReleaseBinding:
    """The package as it is now: its inputs' sealed objects, the package and its manifest. The package's own
    SHA-256 is the one sealed in `response_package` (bound above): delivery refuses a file that differs."""
    inputs = {name: sealed_digest(store, request_id, name) for name in BOUND_INPUTS}
    return ReleaseBinding(inputs=inputs, package_sha256=package.sha256,
                          manifest_sha256=package.manifest_sha256)
