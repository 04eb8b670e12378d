"""The review bundle: everything the DPO needs to decide one request, as one sealed HTML document.

For a request that needs a decision, the bundle is built outside Dagster and put in the work store,
encrypted for the DPO. It holds every record under review (weak matches, unbound identifiers) and
every record of another person, each with why it waits, its fields and the chain of identifiers that
reached it (`bundle_view`); what would be released and what would be held; the retention findings;
and the draft Art. 15 letter as a review copy — the source beside each of its statements — with the facts
still to confirm (`bundle_letter`). It is a
self-contained HTML document: inline CSS, no scripts (a Content-Security-Policy forbids them too), no
external resources, every value escaped. Dagster only ever sees `bundle_summary` (counts) and the
SHA-256 of the sealed object; the plaintext returned by `build_review_bundle` must go straight into
`seal_review_bundle`, never into a log, an asset value or a file.

Where it lives: `sealed_object_key(request_id, REVIEW_BUNDLE)` (`<request id>/review_bundle.sealed`),
beside the request's other sealed objects, so purging the request deletes it, and the approval can
be bound to its SHA-256 like any other sealed input (`review.binding.sealed_digest`).

Who may open it, and how that is logged
---------------------------------------

The envelope's encryption context is `{"asset": "review_bundle", "audience": "dpo", "request_ref":
<request id>}` (opaque ids only: KMS logs contexts in plaintext).

- **Production (KMS).** The request id deliberately travels as `request_ref`, not `request`: the
  `RequestKeyCache` derives the keys of contexts that carry `request` from one per-request KMS key
  (wrapped under `{"request": id}` alone), which the pipeline's role must be able to open; a context
  without `request` goes to KMS unchanged. So every bundle's data key is a KMS data key generated
  and decrypted under `audience=dpo`, and the key policy decides who opens it: the pipeline's role
  may `kms:GenerateDataKey` under that context but is denied `kms:Decrypt` when
  `kms:EncryptionContext:audience` is `dpo`; only the role the review desk runs under for the DPO
  is allowed `kms:Decrypt`, with the conditions `kms:EncryptionContext:audience = dpo` and
  `kms:EncryptionContext:asset = review_bundle`. The desk must therefore open bundles with a key
  provider built from its own (the DPO's) credentials, never the pipeline's. Every opening is a
  KMS `Decrypt`, which CloudTrail records with the caller's identity and the context (which
  request's bundle), independently of our own trail.
- **Embedded default (local key file).** One key-encryption key in a local file
  (`DSAR_LOCAL_KEY_FILE`) wraps every data key; the context is bound as associated data, which stops
  a bundle being moved to another request, but it is not an access control: whoever can read the key
  file (the single local user who runs the pipeline) can open the bundle. That is the embedded
  default's honest limit: a single-user installation, with no second role to withhold a key from.
- **The review desk** (`assets.desk`) opens the bundle only through a signed, short-lived review link
  that names the bundle's SHA-256, and passes that SHA-256 to `open_review_bundle`, so a replaced or
  rebuilt object is refused (`ReviewBundleChanged`) rather than shown. It decrypts in memory for one
  response (never cached, never written in plaintext), and appends a `review_opened` event to the
  audit trail: who opened it (the SSO user, or "unauthenticated" in the embedded default), whether
  that identity was authenticated, and the bundle's SHA-256 — codes and hashes only, never a
  personal value. The DPO's decision is then recorded with the same SHA-256, and refused if the
  bundle was rebuilt since.
- **Errors** say which request, never what is inside: `ReviewBundleMissing` (none sealed, or
  purged), `ReviewBundleChanged` (another SHA-256 than expected, or it fails authentication: tampered,
  cut, or sealed for another request or asset), `ReviewBundleUnreadable` (the data key does not open
  with these keys: KMS refused, another key file, or a tampered key header when no SHA-256 was given).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from connectors.resolution import IdentityGraph
from dsar_pipeline.collection.collect import SystemResult
from dsar_pipeline.intake.sealed_tickets import RequestFacts
from dsar_pipeline.review.binding import REVIEW_BUNDLE
from dsar_pipeline.review.bundle_letter import draft_letter
from dsar_pipeline.review.bundle_view import records_view, summary_counts
from dsar_pipeline.review.findings import ReviewOutcome
from dsar_pipeline.sealing.envelope import (
    EnvelopeError,
    EnvelopeKeyError,
    decrypt_bytes,
    encrypt_bytes,
)
from dsar_pipeline.sealing.keys import KeyProvider
from dsar_pipeline.sealing.objects import sealed_object_key
from dsar_pipeline.sealing.workstore import WorkStore

"""The sealed object's asset name (its key: `sealed_object_key(request_id, REVIEW_BUNDLE)`)."""
AUDIENCE = "dpo"
TEMPLATES = Path(__file__).with_name("templates")


class ReviewBundleError(Exception):
    """The review bundle cannot be shown (messages hold the request id at most, never a personal value)."""


class ReviewBundleMissing(ReviewBundleError):
    """No bundle was sealed for the request (or it was purged)."""


class ReviewBundleChanged(ReviewBundleError):
    """The stored bundle is not the one sealed: another SHA-256 than expected, or it fails authentication
    (tampered, cut, or an object sealed for another request or asset)."""


class ReviewBundleUnreadable(ReviewBundleError):
    """The data key does not open with these keys: not the DPO's key (KMS refused), or another key file."""


def bundle_context(request_id: str) -> dict[str, str]:
    """The encryption context of a request's bundle (see the module docstring for why `request_ref`)."""
    return {"asset": REVIEW_BUNDLE, "audience": AUDIENCE, "request_ref": request_id}


def bundle_key(request_id: str) -> str:
    return sealed_object_key(request_id, REVIEW_BUNDLE)


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def build_review_bundle(facts: RequestFacts, graph: IdentityGraph, results: Mapping[str, SystemResult],
                        outcome: ReviewOutcome, *, bound_inputs: Mapping[str, str], today: date | None = None,
                        generated_at: datetime | None = None) -> bytes:
    """The bundle as one self-contained HTML document (UTF-8). Personal: seal it at once.

    `bound_inputs` (asset name -> SHA-256 of its sealed object) is shown in the header: what the
    bundle was built from. `today` dates the draft letter (default: the controller's today).
    """
    view = records_view(facts, graph, results, outcome)
    letter, letter_error = None, None
    try:
        letter = draft_letter(facts, results, outcome, today)
    except ValueError as exc:  # a profile or letter fact that does not hold: the DPO must see it, not lose the bundle
        letter_error = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:500]
    html = _environment().get_template("review_bundle.html.j2").render(
        facts=facts, outcome=outcome, view=view, letter=letter, letter_error=letter_error,
        bound_inputs=sorted(bound_inputs.items()),
        generated_at=(generated_at or datetime.now(UTC)).replace(microsecond=0).isoformat(),
        graph_note=_graph_note(graph))
    return html.encode("utf-8")


def _graph_note(graph: IdentityGraph) -> str | None:
    notes = []
    if graph.stopped_early:
        notes.append(f"identity resolution stopped early: {graph.stopped_early}")
    if graph.errors:
        notes.append("systems that could not be asked for identifiers: " + ", ".join(sorted(graph.errors)))
    return "; ".join(notes) or None


def seal_review_bundle(store: WorkStore, keys: KeyProvider, request_id: str, document: bytes) -> str:
    """Encrypt `document` for the DPO, store it at the bundle's key; the SHA-256 (hex) of the stored object."""
    sealed = encrypt_bytes(document, keys, bundle_context(request_id))
    store.put(bundle_key(request_id), sealed)
    return hashlib.sha256(sealed).hexdigest()


def open_review_bundle(store: WorkStore, keys: KeyProvider, request_id: str,
                       expected_sha256: str | None = None) -> bytes:
    """The bundle's HTML, after checking the stored object's SHA-256 (when given) and decrypting it."""
    key = bundle_key(request_id)
    if not store.exists(key):
        raise ReviewBundleMissing(f"no review bundle for request {request_id}")
    try:
        sealed = store.get(key)
    except (FileNotFoundError, KeyError) as exc:  # purged between the two calls
        raise ReviewBundleMissing(f"no review bundle for request {request_id}") from exc
    if expected_sha256 is not None and hashlib.sha256(sealed).hexdigest() != expected_sha256.lower():
        raise ReviewBundleChanged(f"the review bundle of request {request_id} is not the one sealed "
                                  "(SHA-256 differs)")
    try:
        return decrypt_bytes(sealed, keys, bundle_context(request_id))
    except EnvelopeKeyError as exc:
        raise ReviewBundleUnreadable(f"the review bundle of request {request_id} does not open with these keys "
                                     f"({exc})") from None
    except EnvelopeError as exc:
        raise ReviewBundleChanged(f"the review bundle of request {request_id} fails authentication ({exc})") from None


def bundle_summary(outcome: ReviewOutcome) -> dict[str, int]:
    """Counts only (safe for Dagster metadata): under_review, other_person, released, held, retention_findings.

    `held` is what would not be released: the records under review plus other people's records.
    """
    return summary_counts(outcome)


__all__ = ["AUDIENCE", "REVIEW_BUNDLE", "ReviewBundleChanged", "ReviewBundleError", "ReviewBundleMissing",
           "ReviewBundleUnreadable", "build_review_bundle", "bundle_context", "bundle_key", "bundle_summary",
           "open_review_bundle", "seal_review_bundle"]
