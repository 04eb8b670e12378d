"""Identity verification end to end: real containers from the sandbox eID, judged by `verify_ticket`.

Why a second suite next to ``test_signatures``: there the containers come from a hand-made test
PKI, one property at a time. Here they come from the sandbox eID exactly as a demo files them
(XAdES-LT with time-stamp and OCSP, signed over the canonical request document), so every
outcome a helpdesk can meet is proved against what a person could really sign: an honest
request, a ticket edited after signing, a container of another document, a stale or late
signature, a replayed container, a revoked card, missing or broken revocation evidence, another
signer, and the ID-card certificate the package would be encrypted to.

Every result also goes through `private_dict`, because results end up in the audit trail and in
Dagster metadata: none may carry the subject's (or signer's) personal values.
"""

from __future__ import annotations

import base64
import copy
import io
import json
import re
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dsar_pipeline.intake import parse_ticket
from dsar_pipeline.signatures.certificates import load_trust_anchors
from dsar_pipeline.signatures.signed_request import DOCUMENT_NAME, document_bytes, request_document
from dsar_pipeline.signatures.verification import VerificationResult, VerificationStatus, verify_ticket
from harness.ticket_example import sign_ticket, ticket_for
from sandbox.eid import SandboxEid

VERIFIED = VerificationStatus.VERIFIED
MANUAL = VerificationStatus.NEEDS_MANUAL_VERIFICATION
REJECTED = VerificationStatus.REJECTED
CONTROLLER = "enefit-ee"
SIGNATURE_FILE = "META-INF/signatures0.xml"

Signer = Callable[[str, bytes], bytes]


# -- the federation's eID, people and trust anchors -------------------------------------------------


@pytest.fixture(scope="module")
def control_url(federation: Any) -> str:
    return str(federation.settings["SANDBOX_CONTROL_URL"])


@pytest.fixture(scope="module")
def anchors(federation: Any) -> list[x509.Certificate]:
    """The CA the sandbox hands the pipeline, read as the pipeline reads ``DSAR_TRUST_ANCHORS_DIR``."""
    return load_trust_anchors(Path(federation.settings["DSAR_TRUST_ANCHORS_DIR"]))


@pytest.fixture(scope="module")
def people(control_url: str) -> dict[str, dict[str, Any]]:
    response = httpx.get(f"{control_url}/people", timeout=30)
    response.raise_for_status()
    return {p["name"]: p for p in response.json()["people"]}


@pytest.fixture(scope="module")
def federation_eid(federation: Any) -> SandboxEid:
    """An in-process eID on the federation's state dir: same CA, for what the control API cannot sign."""
    state = Path(federation.settings["DSAR_TRUST_ANCHORS_DIR"]).parent.parent
    eid = SandboxEid(state)
    assert eid.trust_dir == Path(federation.settings["DSAR_TRUST_ANCHORS_DIR"]).resolve()
    return eid


@pytest.fixture(autouse=True)
def default_max_age(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts from the default 72 h window, whatever the environment says."""
    monkeypatch.delenv("DSAR_SIGNATURE_MAX_AGE_HOURS", raising=False)


def control_signer(control_url: str, person: str, *, level: str = "LT",
                   signing_time: datetime | None = None) -> Signer:
    """Sign as a named person over the control API, at a level and (back-dated) time."""
    def sign(file_name: str, data: bytes) -> bytes:
        params = {"person": person, "file_name": file_name, "level": level}
        if signing_time is not None:
            params["signing_time"] = signing_time.astimezone(UTC).isoformat()
        response = httpx.post(f"{control_url}/eid/sign", params=params, content=data, timeout=30)
        assert response.status_code == 200, response.text
        return response.content

    return sign


def local_signer(eid: SandboxEid, holder: Any) -> Signer:
    """Sign in process with a given eID (another state dir, or several data files)."""
    return lambda file_name, data: eid.sign_container([(file_name, data)], holder)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def make_ticket(person: dict[str, Any], *, submitted: datetime | None = None,
                certificate: x509.Certificate | None = None) -> dict[str, Any]:
    """The web form's ticket for `person`, with the ID-card certificate when given (before signing)."""
    ticket = ticket_for(person, CONTROLLER, now=submitted or now())
    if certificate is not None:
        ticket["extensions"]["id_card_certificate"] = base64.b64encode(
            certificate.public_bytes(serialization.Encoding.DER)).decode()
    return ticket


def with_container(ticket: dict[str, Any], container: bytes) -> dict[str, Any]:
    """The ticket carrying `container` as its evidence (for containers `sign_ticket` would not make)."""
    evidence = {"type": "signed_container", "container": base64.b64encode(container).decode(),
                "file_name": "request.asice"}
    return {**ticket, "extensions": {**ticket["extensions"], "verification_evidence": evidence}}


def container_of(ticket: dict[str, Any]) -> bytes:
    return base64.b64decode(ticket["extensions"]["verification_evidence"]["container"])


def canonical_document(ticket: dict[str, Any]) -> bytes:
    """The bytes a person signs for this ticket (what `sign_ticket` hands the signer)."""
    return document_bytes(request_document(parse_ticket(json.dumps(ticket).encode())))


def personal_values(*persons: dict[str, Any]) -> list[str]:
    values: list[str] = []
    for person in persons:
        values += [str(person[k]) for k in ("personal_code", "first_name", "last_name", "email", "phone")
                   if person.get(k)]
        values += [re.sub(r"[^0-9+]", "", str(person["phone"]))] if person.get("phone") else []
    return values


def verify(ticket: dict[str, Any], anchors: list[x509.Certificate], *persons: dict[str, Any],
           **options: Any) -> VerificationResult:
    """Parse and verify a ticket as intake does, and check the result names nobody in `persons`."""
    result = verify_ticket(parse_ticket(json.dumps(ticket).encode()), trust_anchors=anchors, **options)
    text = json.dumps(result.to_dict(), ensure_ascii=False)
    leaked = [value for value in personal_values(*persons) if value in text]
    assert not leaked, f"the result carries personal values: {result.to_dict()}"
    return result


def read_document(blob: bytes) -> bytes:
    """The signed request document inside a container."""
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        return archive.read(DOCUMENT_NAME)


def rebuilt(blob: bytes, replace: dict[str, bytes]) -> bytes:
    """The container with some entries' content replaced, ``mimetype`` still first and stored."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(blob)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            target.writestr(info, replace.get(info.filename, source.read(info)), compress_type=info.compress_type)
    return out.getvalue()


# -- an honest request ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def honest(people: dict[str, dict[str, Any]], control_url: str) -> dict[str, Any]:
    """demo's request, signed over the control API as the demo files it (shared: tests edit copies)."""
    return sign_ticket(make_ticket(people["demo"]), control_signer(control_url, "demo"))


def test_honest_ticket_is_verified(honest: dict[str, Any], anchors: list[x509.Certificate],
                                   people: dict[str, dict[str, Any]]) -> None:
    result = verify(honest, anchors, people["demo"])
    assert (result.status, result.reason_code) == (VERIFIED, "signer_matches_subject")
    assert (result.signing_time_source, result.revocation, result.signer_country) == ("timestamp", "good", "EE")
    assert result.signing_time is not None and abs(result.signing_time - now()) < timedelta(minutes=5)
    assert result.mismatched_fields == ()


# -- the ticket edited after signing ----------------------------------------------------------------


def _add_customer_number(ticket: dict[str, Any], people: dict[str, dict[str, Any]]) -> None:
    ticket["subject_identities"].append({"identity_type": "customer_number", "identity_format": "raw",
                                         "identity_value": str(people["stranger"]["customer_id"])})


def _set_email(ticket: dict[str, Any], people: dict[str, dict[str, Any]]) -> None:
    ticket["extensions"]["delivery_contacts"]["email"] = str(people["stranger"]["email"])


def _set_phone(ticket: dict[str, Any], people: dict[str, dict[str, Any]]) -> None:
    ticket["extensions"]["delivery_contacts"]["phone"] = "+37256789012"


def _move_submitted_time(ticket: dict[str, Any], people: dict[str, dict[str, Any]]) -> None:
    moment = datetime.fromisoformat(ticket["submitted_time"].replace("Z", "+00:00")) - timedelta(minutes=1)
    ticket["submitted_time"] = moment.isoformat().replace("+00:00", "Z")


def _other_controller(ticket: dict[str, Any], people: dict[str, dict[str, Any]]) -> None:
    ticket["extensions"]["controller"] = "enefit-lv"


def _portability(ticket: dict[str, Any], people: dict[str, dict[str, Any]]) -> None:
    ticket["subject_request_type"] = "portability"


@pytest.mark.parametrize(("edit", "field"), [
    (_add_customer_number, "subject_identities"),
    (_set_email, "delivery_contacts.email"),
    (_set_phone, "delivery_contacts.phone"),
    (_move_submitted_time, "submitted_time"),
    (_other_controller, "controller"),
    (_portability, "request_type"),
], ids=["customer_number", "email", "phone", "submitted_time", "controller", "portability"])
def test_ticket_edited_after_signing_is_a_content_mismatch(
        honest: dict[str, Any], anchors: list[x509.Certificate], people: dict[str, dict[str, Any]],
        edit: Callable[[dict[str, Any], dict[str, dict[str, Any]]], None], field: str) -> None:
    ticket = copy.deepcopy(honest)
    edit(ticket, people)
    result = verify(ticket, anchors, people["demo"], people["stranger"])
    assert (result.status, result.reason_code) == (REJECTED, "content_mismatch")
    assert result.mismatched_fields == (field,)
    assert result.reason.endswith(f": {field}")  # the field's name, never its value


# -- a container that signs something else ----------------------------------------------------------


def test_container_of_a_plain_text_file_is_a_content_mismatch(
        control_url: str, anchors: list[x509.Certificate], people: dict[str, dict[str, Any]]) -> None:
    ticket = make_ticket(people["demo"])
    container = control_signer(control_url, "demo")("request.txt", b"Palun andke mu andmed.\n")
    result = verify(with_container(ticket, container), anchors, people["demo"])
    assert (result.status, result.reason_code, result.mismatched_fields) == (
        REJECTED, "content_mismatch", ("data_files",))


def test_request_document_with_a_second_data_file_is_a_content_mismatch(
        federation: Any, federation_eid: SandboxEid, anchors: list[x509.Certificate],
        people: dict[str, dict[str, Any]]) -> None:
    ticket = make_ticket(people["demo"])
    files = [(DOCUMENT_NAME, canonical_document(ticket)), ("volikiri.pdf", b"%PDF-1.7\n")]
    container = federation_eid.sign_container(files, federation.population.case("demo"))
    result = verify(with_container(ticket, container), anchors, people["demo"])
    assert (result.status, result.reason_code, result.mismatched_fields) == (
        REJECTED, "content_mismatch", ("data_files",))


def test_other_content_under_the_document_name_is_a_content_mismatch(
        control_url: str, anchors: list[x509.Certificate], people: dict[str, dict[str, Any]]) -> None:
    ticket = make_ticket(people["demo"])
    container = control_signer(control_url, "demo")(DOCUMENT_NAME, b'{"subject_request_id": "x"}')
    result = verify(with_container(ticket, container), anchors, people["demo"])
    assert (result.status, result.reason_code, result.mismatched_fields) == (
        REJECTED, "content_mismatch", ("document",))


# -- when it was signed -----------------------------------------------------------------------------


def signed_at(control_url: str, person: dict[str, Any], signing_time: datetime,
              submitted: datetime | None = None) -> dict[str, Any]:
    return sign_ticket(make_ticket(person, submitted=submitted),
                       control_signer(control_url, person["name"], signing_time=signing_time))


def test_signed_four_days_before_submission_is_stale(
        control_url: str, anchors: list[x509.Certificate], people: dict[str, dict[str, Any]]) -> None:
    moment = now() - timedelta(days=4)
    result = verify(signed_at(control_url, people["demo"], moment), anchors, people["demo"])
    assert (result.status, result.reason_code) == (REJECTED, "stale_signature")
    assert (result.signing_time, result.signing_time_source) == (moment, "timestamp")


def test_signed_71_hours_before_submission_is_verified(
        control_url: str, anchors: list[x509.Certificate], people: dict[str, dict[str, Any]]) -> None:
    moment = now() - timedelta(hours=71)
    result = verify(signed_at(control_url, people["demo"], moment), anchors, people["demo"])
    assert (result.status, result.reason_code) == (VERIFIED, "signer_matches_subject")
    assert result.signing_time == moment


def test_max_age_setting_makes_a_two_hour_old_signature_stale(
        control_url: str, anchors: list[x509.Certificate], people: dict[str, dict[str, Any]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    ticket = signed_at(control_url, people["demo"], now() - timedelta(hours=2))
    assert verify(ticket, anchors, people["demo"]).status is VERIFIED  # within the default 72 h
    monkeypatch.setenv("DSAR_SIGNATURE_MAX_AGE_HOURS", "1")
    result = verify(ticket, anchors, people["demo"])
    assert (result.status, result.reason_code) == (REJECTED, "stale_signature")


def test_signed_after_submission_is_stale_beyond_the_clock_skew(
        control_url: str, anchors: list[x509.Certificate], people: dict[str, dict[str, Any]]) -> None:
    submitted = now() - timedelta(minutes=30)
    late = verify(signed_at(control_url, people["demo"], submitted + timedelta(minutes=11), submitted),
                  anchors, people["demo"])
    assert (late.status, late.reason_code) == (REJECTED, "stale_signature")
    skewed = verify(signed_at(control_url, people["demo"], submitted + timedelta(minutes=9), submitted),
                    anchors, people["demo"])
    assert (skewed.status, skewed.reason_code) == (VERIFIED, "signer_matches_subject")


# -- one container, two requests --------------------------------------------------------------------


class MemoryRegistry:
    """The smallest replay registry: the first request to claim a container (per controller) keeps it."""

    def __init__(self) -> None:
        self.claims: dict[tuple[str, str], str] = {}

    def claim_container(self, controller: str, container_sha256: str, request_id: str) -> str | None:
        earlier = self.claims.setdefault((controller, container_sha256), request_id)
        return None if earlier == request_id else earlier


def test_container_used_by_a_second_request_is_replayed(
        honest: dict[str, Any], anchors: list[x509.Certificate], people: dict[str, dict[str, Any]]) -> None:
    registry = MemoryRegistry()
    first = verify(honest, anchors, people["demo"], replay=registry, request_id="req-1")
    assert (first.status, first.reason_code) == (VERIFIED, "signer_matches_subject")
    second = verify(honest, anchors, people["demo"], replay=registry, request_id="req-2")
    assert (second.status, second.reason_code) == (REJECTED, "replayed")
    again = verify(honest, anchors, people["demo"], replay=registry, request_id="req-1")
    assert (again.status, again.reason_code) == (VERIFIED, "signer_matches_subject")  # idempotent
    assert registry.claims == {(CONTROLLER, first.container_sha256): "req-1"}
    # without request_id the ticket's own id claims it: another id still, so replayed as well
    assert verify(honest, anchors, people["demo"], replay=registry).reason_code == "replayed"


# -- revocation evidence ----------------------------------------------------------------------------


def test_revoked_card_is_rejected(federation: Any, people: dict[str, dict[str, Any]], tmp_path: Path) -> None:
    # a state dir of its own: revoking in the federation's would turn other tests' signatures "revoked"
    eid = SandboxEid(tmp_path)
    own_anchors = load_trust_anchors(eid.trust_dir)
    holder = federation.population.case("demo")
    before = sign_ticket(make_ticket(people["demo"]), local_signer(eid, holder))
    eid.revoke(holder)
    after = sign_ticket(make_ticket(people["demo"]), local_signer(eid, holder))
    result = verify(after, own_anchors, people["demo"])
    assert (result.status, result.reason_code, result.revocation) == (REJECTED, "revoked", "revoked")
    # a signature made before the card was revoked carries evidence that it was good then
    earlier = verify(before, own_anchors, people["demo"])
    assert (earlier.status, earlier.reason_code, earlier.revocation) == (VERIFIED, "signer_matches_subject", "good")


def test_level_b_signature_needs_manual_verification(
        control_url: str, anchors: list[x509.Certificate], people: dict[str, dict[str, Any]]) -> None:
    ticket = sign_ticket(make_ticket(people["demo"]), control_signer(control_url, "demo", level="B"))
    result = verify(ticket, anchors, people["demo"])
    assert (result.status, result.reason_code) == (MANUAL, "no_revocation_evidence")
    assert (result.revocation, result.signing_time_source) == ("no_evidence", "signing_time")


def test_corrupted_ocsp_response_needs_manual_verification(
        honest: dict[str, Any], anchors: list[x509.Certificate], people: dict[str, dict[str, Any]]) -> None:
    from cryptography.x509 import ocsp

    blob = container_of(honest)
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        xml = archive.read(SIGNATURE_FILE)
    match = re.search(rb"<xades:EncapsulatedOCSPValue>([^<]+)</xades:EncapsulatedOCSPValue>", xml)
    assert match is not None
    der = base64.b64decode(match.group(1))
    signature = ocsp.load_der_ocsp_response(der).signature
    broken = der.replace(signature, signature[:-1] + bytes([signature[-1] ^ 0x01]), 1)
    assert broken != der and ocsp.load_der_ocsp_response(broken).signature != signature
    altered_xml = xml.replace(match.group(1), base64.b64encode(broken))
    # the unsigned properties are outside the signature: only the revocation evidence is now bad
    ticket = with_container(honest, rebuilt(blob, {SIGNATURE_FILE: altered_xml}))
    result = verify(ticket, anchors, people["demo"])
    assert (result.status, result.reason_code, result.revocation) == (
        MANUAL, "revocation_unverifiable", "unverifiable")


# -- signed by somebody else ------------------------------------------------------------------------


def test_signed_by_another_person_needs_manual_verification(
        control_url: str, anchors: list[x509.Certificate], people: dict[str, dict[str, Any]]) -> None:
    ticket = sign_ticket(make_ticket(people["demo"]), control_signer(control_url, "household-a"))
    result = verify(ticket, anchors, people["demo"], people["household-a"])
    assert (result.status, result.reason_code) == (MANUAL, "signer_differs")
    assert result.revocation == "good"


# -- the ID-card certificate the package is encrypted to --------------------------------------------


def self_made_card_certificate(person: dict[str, Any]) -> x509.Certificate:
    """What anyone can make: a certificate naming the subject's code, with an encryption key usage."""
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([
        x509.NameAttribute(NameOID.COUNTRY_NAME, "EE"),
        x509.NameAttribute(NameOID.COMMON_NAME, "SELF,MADE,{}".format(person["personal_code"])),
        x509.NameAttribute(NameOID.SERIAL_NUMBER, "PNOEE-{}".format(person["personal_code"])),
    ])
    return (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now() - timedelta(days=1)).not_valid_after(now() + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=True, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .sign(key, hashes.SHA384())
    )


def test_self_made_id_card_certificate_is_untrusted(
        control_url: str, anchors: list[x509.Certificate], people: dict[str, dict[str, Any]]) -> None:
    certificate = self_made_card_certificate(people["demo"])
    ticket = sign_ticket(make_ticket(people["demo"], certificate=certificate), control_signer(control_url, "demo"))
    result = verify(ticket, anchors, people["demo"])
    assert (result.status, result.reason_code) == (REJECTED, "untrusted_id_card_certificate")


def test_sandbox_id_card_certificate_in_the_signed_document_is_verified(
        federation: Any, federation_eid: SandboxEid, control_url: str, anchors: list[x509.Certificate],
        people: dict[str, dict[str, Any]]) -> None:
    certificate = federation_eid.encryption_certificate_for(federation.population.case("demo"))
    ticket = sign_ticket(make_ticket(people["demo"], certificate=certificate), control_signer(control_url, "demo"))
    assert json.loads(read_document(container_of(ticket)))["id_card_certificate_sha256"] is not None
    result = verify(ticket, anchors, people["demo"])
    assert (result.status, result.reason_code) == (VERIFIED, "signer_matches_subject")


def test_id_card_certificate_added_after_signing_is_a_content_mismatch(
        federation: Any, federation_eid: SandboxEid, honest: dict[str, Any], anchors: list[x509.Certificate],
        people: dict[str, dict[str, Any]]) -> None:
    assert json.loads(read_document(container_of(honest)))["id_card_certificate_sha256"] is None
    certificate = federation_eid.encryption_certificate_for(federation.population.case("demo"))
    ticket = copy.deepcopy(honest)
    ticket["extensions"]["id_card_certificate"] = base64.b64encode(
        certificate.public_bytes(serialization.Encoding.DER)).decode()
    result = verify(ticket, anchors, people["demo"])
    assert (result.status, result.reason_code, result.mismatched_fields) == (
        REJECTED, "content_mismatch", ("id_card_certificate_sha256",))
