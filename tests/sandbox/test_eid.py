"""The simulated eID: containers the sandbox signs must pass the pipeline's own verification.

Signing happens on the sandbox side only (over the control API, or `SandboxEid` for a foreign CA);
the checks use the pipeline's verifier with the trust anchors the sandbox hands out, exactly the
way the pipeline is configured against the sandbox.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import stat
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from asn1crypto import cms as asn1_cms
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID
from lxml import etree

from dsar_pipeline.intake import parse_ticket
from dsar_pipeline.signatures.asic_zip import read_asic_container
from dsar_pipeline.signatures.certificates import load_trust_anchors, personal_code_from_certificate
from dsar_pipeline.signatures.signed_request import DOCUMENT_NAME, document_bytes, request_document
from dsar_pipeline.signatures.verification import VerificationStatus, verify_container, verify_ticket
from dsar_pipeline.signatures.xades import canonicalize, verify_signature_file
from sandbox.eid import CA_COMMON_NAME, EidError, SandboxEid

VERIFIED = VerificationStatus.VERIFIED
MANUAL = VerificationStatus.NEEDS_MANUAL_VERIFICATION
REJECTED = VerificationStatus.REJECTED
ASICE = "application/vnd.etsi.asic-e+zip"
REQUEST_TEXT = "Palun väljastage minu isikuandmed (IKÜM art 15).\n".encode()


def control(federation: Any) -> str:
    return federation.settings["SANDBOX_CONTROL_URL"]


def trust_dir(federation: Any) -> Path:
    return Path(federation.settings["DSAR_TRUST_ANCHORS_DIR"])


def anchors(federation: Any) -> list[x509.Certificate]:
    return load_trust_anchors(trust_dir(federation))


def sign(federation: Any, person: str, file_name: str, data: bytes) -> httpx.Response:
    return httpx.post(f"{control(federation)}/eid/sign", params={"person": person, "file_name": file_name},
                      content=data, timeout=10)


def signed(federation: Any, person: str, file_name: str = "request.txt", data: bytes = REQUEST_TEXT) -> bytes:
    response = sign(federation, person, file_name, data)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == ASICE
    return response.content


def subject_of(federation: Any, name: str) -> tuple[str, str]:
    person = federation.population.case(name)
    return person.country, person.personal_code


def signer_certificate(blob: bytes) -> x509.Certificate:
    container = read_asic_container(blob)
    (checks,) = [verify_signature_file(doc, container.data_files) for doc in container.signature_files.values()]
    return checks[0].signer_certificate


# -- configuration --------------------------------------------------------------------------------


def test_settings_name_the_eid_trust_anchor(federation: Any) -> None:
    state = Path(federation.options.state_dir).resolve()
    assert trust_dir(federation) == state / "eid" / "trust"
    assert sorted(p.name for p in trust_dir(federation).iterdir()) == ["ca.pem"]
    (ca,) = anchors(federation)
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == CA_COMMON_NAME
    key_file = state / "eid" / "ca.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert not (trust_dir(federation) / "ca.key").exists()


# -- signed over the control API, verified by the pipeline ----------------------------------------


def test_demo_container_verifies_for_the_demo_person(federation: Any) -> None:
    blob = signed(federation, "demo")
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        first = archive.infolist()[0]
        assert (first.filename, first.compress_type) == ("mimetype", zipfile.ZIP_STORED)
        assert archive.read("request.txt") == REQUEST_TEXT
        assert {"META-INF/manifest.xml", "META-INF/signatures0.xml"} <= set(archive.namelist())
    subject = subject_of(federation, "demo")
    result = verify_container(blob, subject=subject, trust_anchors=anchors(federation))
    assert result.status is VERIFIED, result
    assert (result.reason_code, result.signer_country, result.signatures) == ("signer_matches_subject", "EE", 1)
    assert subject[1] not in json.dumps(result.to_dict())


def test_demo_container_does_not_verify_another_subject(federation: Any) -> None:
    blob = signed(federation, "demo")
    result = verify_container(blob, subject=subject_of(federation, "household-a"), trust_anchors=anchors(federation))
    assert (result.status, result.reason_code) == (MANUAL, "signer_differs")


def test_estonian_certificate_looks_like_an_id_card_signing_certificate(federation: Any) -> None:
    demo = federation.population.case("demo")
    cert = signer_certificate(signed(federation, "demo"))
    assert cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == f"PNOEE-{demo.personal_code}"
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == (
        f"{demo.last_name.upper()},{demo.first_name.upper()},{demo.personal_code}")
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.content_commitment and not usage.digital_signature
    assert personal_code_from_certificate(cert) == ("EE", demo.personal_code)


def test_latvian_container_verifies_with_either_code_form(federation: Any) -> None:
    country, code = subject_of(federation, "latvian")
    assert country == "LV" and "-" in code
    blob = signed(federation, "latvian", "pieprasījums.txt", "Lūdzu izsniegt manus datus.\n".encode())
    for form in (code, code.replace("-", "")):
        result = verify_container(blob, subject=("LV", form), trust_anchors=anchors(federation))
        assert result.status is VERIFIED, result
        assert result.signer_country == "LV"
    cert = signer_certificate(blob)
    assert cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == f"PNOLV-{code}"
    # an Estonian subject with the same digits is somebody else
    wrong = verify_container(blob, subject=("EE", code.replace("-", "")), trust_anchors=anchors(federation))
    assert wrong.status is MANUAL


def test_container_from_another_ca_is_rejected(federation: Any, tmp_path: Path) -> None:
    foreign = SandboxEid(tmp_path)
    blob = foreign.sign_container([("request.txt", REQUEST_TEXT)], federation.population.case("demo"))
    result = verify_container(blob, subject=subject_of(federation, "demo"), trust_anchors=anchors(federation))
    assert (result.status, result.reason_code) == (REJECTED, "untrusted_chain")
    # and the foreign CA does verify its own container: only the trust anchor made the difference
    own = verify_container(blob, subject=subject_of(federation, "demo"), trust_anchors=load_trust_anchors(
        foreign.trust_dir))
    assert own.status is VERIFIED


def test_altered_document_is_rejected(federation: Any) -> None:
    blob = signed(federation, "demo")
    altered = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(blob)) as source, zipfile.ZipFile(altered, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            target.writestr(info, data.replace(b"15", b"20") if info.filename == "request.txt" else data)
    result = verify_container(altered.getvalue(), subject=subject_of(federation, "demo"),
                              trust_anchors=anchors(federation))
    assert (result.status, result.reason_code) == (REJECTED, "tampered_data_file")


def test_control_api_refuses_what_it_cannot_sign(federation: Any) -> None:
    assert sign(federation, "nobody-such", "request.txt", b"x").status_code == 404
    missing = httpx.post(f"{control(federation)}/eid/sign", params={"person": "demo"}, content=b"x", timeout=10)
    assert missing.status_code == 400
    for bad_name in ("../request.txt", "META-INF/signatures1.xml", "mimetype", "a\x01b.txt"):
        response = sign(federation, "demo", bad_name, b"x")
        assert response.status_code == 400, (bad_name, response.text)
    assert sign(federation, "demo", "request.txt", b"").status_code == 400


# -- a whole signed ticket ------------------------------------------------------------------------


def signed_ticket(federation: Any, name: str, controller: str) -> bytes:
    """A ticket whose evidence is a container signing this very request (its canonical document)."""
    person = federation.population.case(name)
    document: dict[str, Any] = {
        "subject_request_id": f"sandbox-eid-{name}-1",
        "subject_request_type": "access",
        "submitted_time": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "api_version": "1.0",
        "subject_identities": [
            {"identity_type": "personal_code", "identity_value": person.personal_code, "identity_format": "raw",
             "identity_country": person.country},
            {"identity_type": "email", "identity_value": person.email, "identity_format": "raw"},
        ],
        "status_callback_urls": [],
        "extensions": {
            "controller": controller,
            "language": person.language,
            "delivery_contacts": {"email": person.email, "phone": person.phone},
        },
    }
    request = document_bytes(request_document(parse_ticket(json.dumps(document, ensure_ascii=False).encode())))
    container = signed(federation, name, DOCUMENT_NAME, request)
    document["extensions"]["verification_evidence"] = {
        "type": "signed_container", "container": base64.b64encode(container).decode(), "file_name": "taotlus.asice"}
    return json.dumps(document, ensure_ascii=False).encode()


@pytest.mark.parametrize(("name", "controller"), [("demo", "enefit-ee"), ("latvian", "enefit-lv")])
def test_signed_ticket_verifies(federation: Any, name: str, controller: str,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    ticket = parse_ticket(signed_ticket(federation, name, controller))
    result = verify_ticket(ticket, trust_anchors=load_trust_anchors(trust_dir(federation)))
    assert result.status is VERIFIED, result
    # the same through the setting the sandbox hands out, as the pipeline reads it
    monkeypatch.setenv("DSAR_TRUST_ANCHORS_DIR", federation.settings["DSAR_TRUST_ANCHORS_DIR"])
    assert verify_ticket(ticket).status is VERIFIED


# -- SandboxEid on its own --------------------------------------------------------------------------


def test_ca_is_kept_per_state_dir(federation: Any, tmp_path: Path) -> None:
    demo = federation.population.case("demo")
    first = SandboxEid(tmp_path / "a")
    blob = first.sign_container([("request.txt", REQUEST_TEXT)], demo)
    (tmp_path / "a" / "eid" / "ca.key").chmod(0o644)
    restarted = SandboxEid(tmp_path / "a")
    assert restarted.ca_certificate == first.ca_certificate
    assert stat.S_IMODE((tmp_path / "a" / "eid" / "ca.key").stat().st_mode) == 0o600
    result = verify_container(blob, subject=(demo.country, demo.personal_code),
                              trust_anchors=load_trust_anchors(restarted.trust_dir))
    assert result.status is VERIFIED
    assert SandboxEid(tmp_path / "b").ca_certificate != first.ca_certificate


def test_several_files_in_one_container(federation: Any, tmp_path: Path) -> None:
    eid = SandboxEid(tmp_path)
    demo = federation.population.case("demo")
    files = [("taotlus.txt", REQUEST_TEXT), ("volikiri.pdf", b"%PDF-1.7\n"), ("lisa ä.txt", b"lisa")]
    blob = eid.sign_container(files, demo)
    result = verify_container(blob, subject=(demo.country, demo.personal_code),
                              trust_anchors=load_trust_anchors(eid.trust_dir))
    assert result.status is VERIFIED, result
    assert read_asic_container(blob).manifest_media_types["volikiri.pdf"] == "application/pdf"
    with pytest.raises(EidError):
        eid.sign_container([("a.txt", b"1"), ("a.txt", b"2")], demo)
    with pytest.raises(EidError):
        eid.sign_container([], demo)


# -- long-term signatures (XAdES-LT): time-stamp, certificate values, OCSP --------------------------

SIGNED_AT = datetime(2026, 11, 2, 8, 30, tzinfo=UTC)


def signature_xml(blob: bytes) -> bytes:
    return read_asic_container(blob).signature_files["META-INF/signatures0.xml"]


def unsigned_values(xml: bytes, tag: str) -> list[bytes]:
    return [base64.b64decode(v) for v in re.findall(rf"<xades:{tag}>([^<]*)</xades:{tag}>".encode(), xml)]


def test_lt_signature_embeds_time_stamp_certificates_and_ocsp(federation: Any, tmp_path: Path) -> None:
    eid = SandboxEid(tmp_path)
    demo = federation.population.case("demo")
    xml = signature_xml(eid.sign_container([("request.txt", REQUEST_TEXT)], demo, signing_time=SIGNED_AT))
    assert b"<xades:SigningTime>2026-11-02T08:30:00Z</xades:SigningTime>" in xml
    assert b'<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2006/12/xml-c14n11">' in xml.split(
        b"<xades:SignatureTimeStamp")[1]

    (token,) = unsigned_values(xml, "EncapsulatedTimeStamp")
    signed_data = asn1_cms.ContentInfo.load(token)["content"]
    tst_info = signed_data["encap_content_info"]["content"].parsed
    assert tst_info["gen_time"].native == SIGNED_AT
    # the imprint covers the canonical ds:SignatureValue element, as the pipeline reproduces it
    root = etree.fromstring(xml)
    value = root.find(".//{http://www.w3.org/2000/09/xmldsig#}SignatureValue")
    assert tst_info["message_imprint"]["hashed_message"].native == hashlib.sha256(canonicalize(
        value, "http://www.w3.org/2006/12/xml-c14n11")).digest()
    attributes = {a["type"].native for a in signed_data["signer_infos"][0]["signed_attrs"]}
    assert attributes == {"content_type", "message_digest", "signing_certificate_v2"}

    ca, responder, tsa = (x509.load_der_x509_certificate(d) for d in unsigned_values(
        xml, "EncapsulatedX509Certificate"))
    assert ca == eid.ca_certificate
    responder_eku = responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert list(responder_eku.value) == [ExtendedKeyUsageOID.OCSP_SIGNING]
    assert responder.extensions.get_extension_for_class(x509.OCSPNoCheck)
    tsa_eku = tsa.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert (list(tsa_eku.value), tsa_eku.critical) == ([ExtendedKeyUsageOID.TIME_STAMPING], True)
    assert tsa.public_bytes(serialization.Encoding.DER) == bytes(signed_data["certificates"][0].chosen.dump())

    (ocsp_der,) = unsigned_values(xml, "EncapsulatedOCSPValue")
    response = ocsp.load_der_ocsp_response(ocsp_der)
    assert response.certificate_status is ocsp.OCSPCertStatus.GOOD
    assert response.produced_at_utc - SIGNED_AT == timedelta(seconds=3)
    assert response.this_update_utc == response.produced_at_utc
    response_key = responder.public_key()
    assert isinstance(response_key, ec.EllipticCurvePublicKey)
    response_key.verify(response.signature, response.tbs_response_bytes, ec.ECDSA(response.signature_hash_algorithm))
    signer = eid.certificate_for(demo)
    assert response.serial_number == signer.serial_number
    (access,) = signer.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert access.access_method == AuthorityInformationAccessOID.OCSP


def test_level_b_is_the_lt_signature_without_its_unsigned_properties(federation: Any, tmp_path: Path) -> None:
    eid = SandboxEid(tmp_path)
    demo = federation.population.case("demo")
    b = signature_xml(eid.sign_container([("request.txt", REQUEST_TEXT)], demo, signing_time=SIGNED_AT, level="B"))
    lt = signature_xml(eid.sign_container([("request.txt", REQUEST_TEXT)], demo, signing_time=SIGNED_AT))
    assert b"UnsignedProperties" not in b

    def without_value(xml: bytes) -> bytes:  # ECDSA values differ from one signature to the next
        xml = re.sub(rb"<xades:UnsignedProperties .*</xades:UnsignedProperties>", b"", xml)
        return re.sub(rb"(<ds:SignatureValue [^>]*>)[^<]*", rb"\1", xml)

    assert without_value(lt) == without_value(b)
    with pytest.raises(EidError):
        eid.sign_container([("request.txt", REQUEST_TEXT)], demo, level="LTA")  # type: ignore[arg-type]


def test_status_services_are_kept_per_state_dir(tmp_path: Path) -> None:
    first = SandboxEid(tmp_path)
    again = SandboxEid(tmp_path)
    assert again.status.ocsp.certificate == first.status.ocsp.certificate
    assert again.status.tsa.certificate == first.status.tsa.certificate
    for name in ("ocsp.key", "tsa.key"):
        assert stat.S_IMODE((tmp_path / "eid" / name).stat().st_mode) == 0o600
    assert sorted(p.name for p in first.trust_dir.iterdir()) == ["ca.pem"]  # the pipeline trusts the CA only
    for service in (first.status.ocsp.certificate, first.status.tsa.certificate):
        service.verify_directly_issued_by(first.ca_certificate)
    # a damaged responder key is replaced, by a certificate of the same CA
    (tmp_path / "eid" / "ocsp.key").write_bytes(b"not a key")
    repaired = SandboxEid(tmp_path)
    assert repaired.status.ocsp.certificate != first.status.ocsp.certificate
    repaired.status.ocsp.certificate.verify_directly_issued_by(first.ca_certificate)


def test_revocation_is_shared_through_the_state_dir(federation: Any, tmp_path: Path) -> None:
    demo = federation.population.case("demo")
    eid = SandboxEid(tmp_path)
    cert = eid.certificate_for(demo)
    before = datetime.now(UTC) - timedelta(minutes=1)
    assert ocsp.load_der_ocsp_response(eid.ocsp_response(cert, before)).certificate_status is ocsp.OCSPCertStatus.GOOD
    revoked_at = eid.revoke(demo)
    assert eid.revoke(demo) == revoked_at  # the first revocation stands
    stored = json.loads((tmp_path / "eid" / "revoked.json").read_text())
    assert stored == {f"PNOEE-{demo.personal_code}": revoked_at.isoformat().replace("+00:00", "Z")}
    other_process = SandboxEid(tmp_path)  # reads the state dir, has issued nothing itself
    response = ocsp.load_der_ocsp_response(other_process.ocsp_response(cert, revoked_at + timedelta(seconds=3)))
    assert response.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert response.revocation_time_utc == revoked_at
    # a response produced before the revocation could not have known about it
    assert ocsp.load_der_ocsp_response(other_process.ocsp_response(cert, before)).certificate_status is (
        ocsp.OCSPCertStatus.GOOD)
    # the stolen card keeps signing; its embedded OCSP response says revoked
    xml = signature_xml(other_process.sign_container([("request.txt", REQUEST_TEXT)], demo))
    (ocsp_der,) = unsigned_values(xml, "EncapsulatedOCSPValue")
    assert ocsp.load_der_ocsp_response(ocsp_der).certificate_status is ocsp.OCSPCertStatus.REVOKED


def test_control_api_signs_at_a_level_and_time(federation: Any) -> None:
    url = f"{control(federation)}/eid/sign"
    params = {"person": "demo", "file_name": "request.txt", "signing_time": "2026-11-02T10:30:00+02:00"}
    lt = httpx.post(url, params=params, content=REQUEST_TEXT, timeout=10)
    assert lt.status_code == 200, lt.text
    xml = signature_xml(lt.content)
    assert b"<xades:SigningTime>2026-11-02T08:30:00Z</xades:SigningTime>" in xml
    assert b"<xades:EncapsulatedOCSPValue>" in xml
    b = httpx.post(url, params={**params, "level": "B"}, content=REQUEST_TEXT, timeout=10)
    assert b.status_code == 200 and b"UnsignedProperties" not in signature_xml(b.content)
    for bad in ({"level": "LTA"}, {"signing_time": "yesterday"}, {"signing_time": "2026-11-02T10:30:00"}):
        response = httpx.post(url, params={**params, **bad}, content=REQUEST_TEXT, timeout=10)
        assert response.status_code == 400, bad


def test_control_api_revokes_a_named_person(federation: Any) -> None:
    # "sole-trader": no other test signs for this person, so the revocation disturbs nobody
    response = httpx.post(f"{control(federation)}/eid/revoke", params={"person": "sole-trader"}, timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["person"] == "sole-trader"
    revoked_at = datetime.fromisoformat(body["revoked_at"].replace("Z", "+00:00"))
    assert abs(datetime.now(UTC) - revoked_at) < timedelta(minutes=1)
    (ocsp_der,) = unsigned_values(signature_xml(signed(federation, "sole-trader")), "EncapsulatedOCSPValue")
    assert ocsp.load_der_ocsp_response(ocsp_der).certificate_status is ocsp.OCSPCertStatus.REVOKED
    unknown = httpx.post(f"{control(federation)}/eid/revoke", params={"person": "nobody-such"}, timeout=10)
    assert unknown.status_code == 404
    assert httpx.post(f"{control(federation)}/eid/revoke", timeout=10).status_code == 400


# -- the ID-card's authentication/encryption certificate (CDOC recipient) ---------------------------


def test_encryption_certificate_is_an_id_card_authentication_certificate(federation: Any, tmp_path: Path) -> None:
    eid = SandboxEid(tmp_path)
    demo, latvian = federation.population.case("demo"), federation.population.case("latvian")
    cert = eid.encryption_certificate_for(demo)
    cert.verify_directly_issued_by(eid.ca_certificate)
    assert cert.subject == eid.certificate_for(demo).subject  # the same person, as on a real card
    assert cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == f"PNOEE-{demo.personal_code}"
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_agreement and usage.value.digital_signature
    assert not usage.value.content_commitment  # it must never pass for a signing certificate
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    key = cert.public_key()
    assert isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp384r1"
    # kept per process, distinct from the signing key, and its private key is the one certified
    identity = eid.encryption_identity_for(demo)
    assert identity.certificate == cert and eid.encryption_certificate_for(demo) == cert
    assert identity.key.public_key() == key
    assert eid.certificate_for(demo).public_key() != key
    lv = eid.encryption_certificate_for(latvian)
    lv_key = lv.public_key()
    assert isinstance(lv_key, ec.EllipticCurvePublicKey) and lv_key.curve.name == "secp256r1"
    assert lv.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == f"PNOLV-{latvian.personal_code}"
    # the pipeline accepts it as the CDOC recipient of this subject, and not of another one
    from dsar_pipeline.signatures.certificates import verify_chain
    from dsar_pipeline.signatures.id_card import check_recipient_certificate

    der = cert.public_bytes(serialization.Encoding.DER)
    now = datetime.now(UTC)
    assert verify_chain(cert, load_trust_anchors(eid.trust_dir), now).trusted
    assert check_recipient_certificate(der, ("EE", demo.personal_code), now) is None
    assert check_recipient_certificate(der, subject_of(federation, "household-a"), now) is not None


def test_control_api_hands_out_certificates(federation: Any, tmp_path: Path) -> None:
    from sandbox.control import create_control_app
    from sandbox.faults import FaultBoard

    eid = SandboxEid(tmp_path)
    population = federation.population
    app = create_control_app(FaultBoard(), {}, list, lambda body, name: name, lambda faults: None,
                             certificate=lambda name, usage: eid.certificate_der(population.case(name), usage))
    client = app.test_client()
    response = client.get("/eid/certificate", query_string={"person": "demo", "usage": "encryption"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/pkix-cert"
    demo = population.case("demo")
    assert x509.load_der_x509_certificate(response.get_data()) == eid.encryption_certificate_for(demo)
    signing = client.get("/eid/certificate", query_string={"person": "demo", "usage": "signing"})
    assert x509.load_der_x509_certificate(signing.get_data()) == eid.certificate_for(demo)
    unknown = client.get("/eid/certificate", query_string={"person": "nobody-such", "usage": "encryption"})
    assert unknown.status_code == 404
    assert client.get("/eid/certificate", query_string={"person": "demo", "usage": "tls"}).status_code == 400
    assert client.get("/eid/certificate", query_string={"usage": "encryption"}).status_code == 400
    # a control app without the eID says so instead of pretending the person is unknown
    bare = create_control_app(FaultBoard(), {}, list, lambda body, name: name, lambda faults: None)
    answer = bare.test_client().get("/eid/certificate", query_string={"person": "demo", "usage": "encryption"})
    assert answer.status_code == 404 and "does not simulate" in answer.get_json()["error"]
