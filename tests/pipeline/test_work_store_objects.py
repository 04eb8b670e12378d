"""Whoever can write to the work store, even holding a data key, cannot steer a request.

The attacker here has what a leaked work-bucket credential plus KMS encrypt rights give: they can put any
object, sealed properly for the request and asset it pretends to be. A step opens an object only when its
SHA-256 is the one Dagster recorded on the request's latest materialisation, and what it opens is data,
never a pickle. So a planted approval is no approval, a planted "nothing to review" does not release the
household's package, an older object of the same request put back is refused, and a pickle runs nothing.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import dagster as dg
import pytest

from assets.definitions import request_job
from assets.environments import resource_now
from assets.io_manager import UnrecordedObjectError, load_stored, object_key
from assets.status import request_status
from dsar_pipeline.review.approval import Approval, Decision
from dsar_pipeline.review.binding import current_binding
from dsar_pipeline.sealing import codec
from dsar_pipeline.sealing.envelope import encrypt_bytes

from .conftest import person_ticket, run_ticket
from .test_request_run import outbox

pytestmark = pytest.mark.usefixtures("no_faults")
RELEASE = ("portability_export", "response_package", "delivery")
REFUSED = "not the object Dagster recorded"


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # what unpickling an attacker's object would run
        import os

        return (os.system, (f"touch {self.marker}",))


def plant(request_id: str, asset: str, payload: bytes) -> None:
    """The attacker's object, sealed for exactly this request and asset with a real data key."""
    work = resource_now("work")
    key = dg.AssetKey(asset)
    blob = encrypt_bytes(payload, work.key_provider(), {"request": request_id, "asset": "/".join(key.path)})
    work.store().put(object_key(request_id, key), blob)


def rerun(instance: dg.DagsterInstance, request_id: str,
          assets: tuple[str, ...] = RELEASE) -> dg.ExecuteInProcessResult:
    return request_job().execute_in_process(partition_key=request_id, instance=instance, raise_on_error=False,
                                            asset_selection=[dg.AssetKey(a) for a in assets])


def refusals(result: dg.ExecuteInProcessResult) -> list[str]:
    """The failed steps' errors, with their causes (an input that would not load is wrapped by Dagster)."""
    texts = []
    for event in result.get_step_failure_events():
        error = event.step_failure_data.error
        while error is not None:
            texts.append(error.message)
            error = error.cause
    return texts


def test_a_planted_approval_is_refused_and_nothing_is_sent(federation, instance) -> None:
    request_id = run_ticket(federation, instance, person_ticket(federation, "household-a", suffix="-plant-ok"),
                            "-plant-ok")
    assert request_status(instance, request_id)["status"] == "awaiting_review"
    package = load_stored(instance, resource_now("work"), request_id, "response_package")
    binding = current_binding(resource_now("work").store(), request_id, package)  # all an attacker needs
    plant(request_id, "release_approval",
          codec.dumps(Approval(Decision.APPROVE, "dpo.mari", authenticated=True, binding=binding)))
    with pytest.raises(UnrecordedObjectError, match="not the object Dagster recorded"):
        load_stored(instance, resource_now("work"), request_id, "release_approval")
    result = rerun(instance, request_id, ("delivery",))
    assert not result.success and any(REFUSED in text for text in refusals(result)), refusals(result)
    assert request_status(instance, request_id)["status"] != "delivered"
    assert not [m for m in outbox(federation, "mail") if request_id in m["text"]], "nothing was sent"


def test_a_planted_or_replayed_step_output_is_refused_unopened(federation, instance, tmp_path: Path) -> None:
    request_id = run_ticket(federation, instance, person_ticket(federation, "household-a", suffix="-plant"), "-plant")
    assert request_status(instance, request_id)["status"] == "awaiting_review"
    work = resource_now("work")
    findings = load_stored(instance, work, request_id, "review_findings")
    assert findings.requires_approval

    # 1. "Nothing needs review", sealed properly: the household's package would go out unreviewed.
    released = type(findings).__new__(type(findings))
    for name, value in vars(findings).items():
        object.__setattr__(released, name, value)
    object.__setattr__(released, "requires_approval", False)
    plant(request_id, "review_findings", codec.dumps(released))
    result = rerun(instance, request_id)
    assert not result.success
    assert any(REFUSED in text for text in refusals(result)), refusals(result)

    # 2. A pickle that would run code when opened.
    marker = tmp_path / "ran"
    plant(request_id, "review_findings", pickle.dumps(_Payload(marker)))
    result = rerun(instance, request_id)
    assert not result.success and not marker.exists()
    assert any(REFUSED in text for text in refusals(result)), refusals(result)

    # 3. The request's own older object, put back after a newer one was recorded.
    older = work.store().get(object_key(request_id, dg.AssetKey("dsar_request")))
    assert rerun(instance, request_id, ("dsar_request",)).success
    work.store().put(object_key(request_id, dg.AssetKey("dsar_request")), older)
    result = rerun(instance, request_id, ("review_findings",))
    assert not result.success
    assert any(REFUSED in text for text in refusals(result)), refusals(result)

    assert request_status(instance, request_id)["status"] != "delivered"
    assert not [m for m in outbox(federation, "mail") if request_id in m["text"]], "nothing was sent"
