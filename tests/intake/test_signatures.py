"""Verification of signed requests (ASiC-E / BDOC / .edoc) with containers signed in the tests."""

from __future__ import annotations

import base64
import io
import json
import os
import re
import subprocess
import sys
import zipfile
from datetime import timedelta

import pytest

from dsar_pipeline.intake import parse_ticket
from dsar_pipeline.signatures.certificates import TrustAnchorError, load_trust_anchors, personal_code_from_certificate
from dsar_pipeline.signatures.verification import VerificationStatus, verify_container, verify_ticket

from .asic_builder import (
    C14N10,
    EXC_C14N,
    NOW,
    SHA1,
    SignatureOptions,
    build_container,
    make_root,
    make_signer,
    manifest_xml,
    signature_xml,
    zip_container,
)
from .conftest import BASE_TICKET, EE_CODE

SUBJECT = ("EE", EE_CODE)
VERIFIED = VerificationStatus.VERIFIED
MANUAL = VerificationStatus.NEEDS_MANUAL_VERIFICATION
REJECTED = VerificationStatus.REJECTED


@pytest.fixture(scope="module")
def anchors(pki):
    return [pki["root"].cert, pki["issuing"].cert]


@pytest.fixture(scope="module")
def signer(pki):
    return make_signer(pki["issuing"], f"PNOEE-{EE_CODE}")


def check(blob: bytes, anchors, subject=SUBJECT):
    return verify_container(blob, subject=subject, trust_anchors=anchors, now=NOW)


def intact_baseline_b(result) -> bool:
    """Every check passed; only the revocation evidence a baseline-B signature lacks is missing, so the
    signer is right but not proved unrevoked: manual verification, never `verified` (the long-term
    signatures of the sandbox eID reach `verified`: tests/sandbox/test_eid.py, tests/intake/test_long_term.py)."""
    return result.status is MANUAL and result.reason_code == "no_revocation_evidence"


def test_correct_container_passes_every_check_but_needs_revocation_evidence(signer, anchors):
    result = check(build_container(signer), anchors)
    assert intact_baseline_b(result), result
    assert result.signer_country == "EE" and result.signatures == 1
    assert result.revocation == "no_evidence" and result.signing_time_source == "signing_time"
    assert EE_CODE not in json.dumps(result.to_dict())


@pytest.mark.parametrize(
    ("key_type", "options"),
    [
        ("ec384", SignatureOptions()),
        ("rsa", SignatureOptions()),
        ("rsa", SignatureOptions(signature_method="rsa-pss")),
        ("ec256", SignatureOptions(signed_info_c14n=EXC_C14N)),
        ("ec256", SignatureOptions(signed_info_c14n=C14N10)),
    ],
    ids=["ecdsa-p384", "rsa-pkcs1", "rsa-pss", "exclusive-c14n", "c14n-1.0"],
)
def test_algorithms(pki, anchors, key_type, options):
    signer = make_signer(pki["issuing"], f"PNOEE-{EE_CODE}", key_type=key_type)
    assert intact_baseline_b(check(build_container(signer, options=options), anchors))


def test_latvian_edoc_with_hyphenated_code_verifies(pki, anchors):
    signer = make_signer(pki["issuing"], "PNOLV-161175-19997", country="LV")
    blob = build_container(signer, {"iesniegums.pdf": b"%PDF-1.4 pieprasijums"})
    assert intact_baseline_b(check(blob, anchors, subject=("LV", "161175-19997")))


def test_several_data_files_and_non_ascii_names(signer, anchors):
    files = {"avaldus ä.txt": b"palun", "lisa/manus.pdf": b"%PDF-1.7"}
    assert intact_baseline_b(check(build_container(signer, files), anchors))


def test_intermediate_from_keyinfo_with_root_only_anchor(pki, signer):
    options = SignatureOptions(keyinfo_certificates=[signer.cert, pki["issuing"].cert])
    assert intact_baseline_b(check(build_container(signer, options=options), [pki["root"].cert]))


def test_altered_data_file_is_rejected(signer, anchors):
    blob = build_container(signer, alter={"request.txt": b"Palun saatke andmed hoopis teisele aadressile"})
    result = check(blob, anchors)
    assert (result.status, result.reason_code) == (REJECTED, "tampered_data_file")


def test_unsigned_extra_data_file_is_rejected(signer, anchors):
    blob = build_container(signer, extra_files={"smuggled.txt": b"not signed"})
    assert check(blob, anchors).reason_code == "unreferenced_data_file"


def test_altered_digest_breaks_the_signature_value(signer, anchors):
    blob = build_container(signer)
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        entries = {i.filename: archive.read(i) for i in archive.infolist()}
    xml = entries["META-INF/signatures0.xml"].decode()
    start = xml.index("<ds:DigestValue>") + len("<ds:DigestValue>")
    forged = xml[:start] + ("A" if xml[start] != "A" else "B") + xml[start + 1 :]
    entries["META-INF/signatures0.xml"] = forged.encode()
    rebuilt = zip_container([(n, d) for n, d in entries.items() if n != "mimetype"])
    result = check(rebuilt, anchors)
    assert result.status is REJECTED and result.reason_code in {"tampered_data_file", "bad_signature"}


def test_altered_signed_properties_are_rejected(signer, anchors):
    blob = build_container(signer)
    with zipfile.ZipFile(io.BytesIO(blob)) as archive:
        entries = {i.filename: archive.read(i) for i in archive.infolist()}
    xml = entries["META-INF/signatures0.xml"].decode()
    forged = re.sub(r"<xades:SigningTime>[^<]+<", "<xades:SigningTime>2019-01-01T00:00:00Z<", xml, count=1)
    assert forged != xml
    entries["META-INF/signatures0.xml"] = forged.encode()
    rebuilt = zip_container([(n, d) for n, d in entries.items() if n != "mimetype"])
    assert check(rebuilt, anchors).reason_code == "bad_signature"


def test_signer_other_than_subject_needs_manual_verification(pki, anchors):
    relative = make_signer(pki["issuing"], "PNOEE-49403136526")
    result = check(build_container(relative), anchors)
    assert (result.status, result.reason_code) == (MANUAL, "signer_differs")
    assert "49403136526" not in json.dumps(result.to_dict())


def test_request_without_personal_code_needs_manual_verification(signer, anchors):
    assert check(build_container(signer), anchors, subject=None).reason_code == "no_personal_code_in_request"


def test_expired_certificate_is_rejected(pki, anchors):
    expired = make_signer(
        pki["issuing"], f"PNOEE-{EE_CODE}",
        not_before=NOW - timedelta(days=800), not_after=NOW - timedelta(days=30),
    )
    result = check(build_container(expired), anchors)
    assert (result.status, result.reason_code) == (REJECTED, "certificate_expired")
    assert "signing time" in result.reason


def test_certificate_expired_since_signing_is_rejected(pki, anchors):
    short = make_signer(
        pki["issuing"], f"PNOEE-{EE_CODE}", not_before=NOW - timedelta(days=60), not_after=NOW - timedelta(days=1)
    )
    options = SignatureOptions(signing_time=NOW - timedelta(days=10))
    result = check(build_container(short, options=options), anchors)
    assert (result.status, result.reason_code) == (REJECTED, "certificate_expired")


def test_untrusted_chain_is_rejected(pki, anchors):
    forger = make_signer(pki["rogue"], f"PNOEE-{EE_CODE}")
    result = check(build_container(forger), anchors)
    assert (result.status, result.reason_code) == (REJECTED, "untrusted_chain")
    assert EE_CODE not in result.reason


def test_self_signed_signer_is_rejected(anchors):
    own = make_root("PNOEE self-made")
    signer = make_signer(own, f"PNOEE-{EE_CODE}")
    assert check(build_container(signer), anchors).reason_code == "untrusted_chain"


def test_authentication_certificate_is_not_a_signing_certificate(pki, anchors):
    auth = make_signer(pki["issuing"], f"PNOEE-{EE_CODE}", non_repudiation=False)
    assert check(build_container(auth), anchors).reason_code == "not_a_signing_certificate"


def test_swapped_keyinfo_certificate_is_rejected(pki, signer, anchors):
    other = make_signer(pki["issuing"], f"PNOEE-{EE_CODE}", key=signer.key)  # same key, new certificate
    options = SignatureOptions(keyinfo_certificates=[other.cert], signing_certificate=signer.cert)
    assert check(build_container(signer, options=options), anchors).reason_code == "certificate_mismatch"


def test_sha1_is_refused(pki, signer, anchors):
    assert check(build_container(signer, options=SignatureOptions(digest_uri=SHA1)), anchors).reason_code == (
        "unsupported_algorithm"
    )
    rsa_signer = make_signer(pki["issuing"], f"PNOEE-{EE_CODE}", key_type="rsa")
    blob = build_container(rsa_signer, options=SignatureOptions(signature_method="rsa-sha1"))
    assert check(blob, anchors).reason_code == "unsupported_algorithm"


def test_signing_time_in_future_is_rejected(signer, anchors):
    options = SignatureOptions(signing_time=NOW + timedelta(days=2))
    assert check(build_container(signer, options=options), anchors).reason_code == "signing_time_in_future"


def test_duplicate_ids_signature_wrapping_is_rejected(signer, anchors):
    options = SignatureOptions(extra_signed_properties_id=True)
    assert check(build_container(signer, options=options), anchors).reason_code == "malformed_signature"


def test_doctype_in_signature_is_rejected(signer, anchors):
    assert check(build_container(signer, options=SignatureOptions(doctype=True)), anchors).reason_code == (
        "malformed_signature"
    )


def test_no_trust_anchors_means_manual_verification(signer):
    assert check(build_container(signer), []).reason_code == "no_trust_anchors"


def _lying_sizes(blob: bytes) -> bytes:
    """Patch the bomb entry's declared uncompressed size (local and central headers) to 100 bytes."""
    data = bytearray(blob)
    name = b"bomb.txt"
    for signature, size_offset, name_offset in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        start = 0
        while (start := data.find(signature, start)) != -1:
            if data[start + name_offset : start + name_offset + len(name)] == name:
                data[start + size_offset : start + size_offset + 4] = (100).to_bytes(4, "little")
            start += 4
    return bytes(data)


def _entries(signer) -> list[tuple[str, bytes]]:
    files = {"request.txt": b"palun"}
    return [
        ("request.txt", b"palun"),
        ("META-INF/manifest.xml", manifest_xml(list(files))),
        ("META-INF/signatures0.xml", signature_xml(signer, files)),
    ]


@pytest.mark.parametrize(
    ("blob_maker", "expect"),
    [
        (lambda s: b"not a zip at all", "not a readable ZIP"),
        (lambda s: zip_container(_entries(s), mimetype_first=False), "'mimetype' is not the first entry"),
        (lambda s: zip_container(_entries(s), mimetype_compressed=True), "compressed"),
        (lambda s: zip_container(_entries(s), mimetype=b"application/zip"), "application/vnd.etsi.asic-e+zip"),
        (lambda s: zip_container([e for e in _entries(s) if "manifest" not in e[0]]), "manifest.xml is missing"),
        (lambda s: zip_container([e for e in _entries(s) if "signatures" not in e[0]]), "no META-INF/signatures"),
        (lambda s: zip_container([*_entries(s), ("../../etc/cron.d/evil", b"x")]), "path traversal"),
        (lambda s: zip_container([*_entries(s), ("/etc/passwd", b"x")]), "absolute"),
        (lambda s: zip_container([*_entries(s), ("C:\\windows\\x", b"x")]), "forbidden characters"),
        (lambda s: zip_container([*_entries(s), ("big.txt", b"\0" * (45 * 1024 * 1024))]), "too large"),
        (lambda s: zip_container([*_entries(s), ("bomb.txt", b"\0" * (10 * 1024 * 1024))]), "zip bomb"),
        (lambda s: _lying_sizes(zip_container([*_entries(s), ("bomb.txt", b"\0" * (10 * 1024 * 1024))])),
         "corrupt"),
        (lambda s: zip_container([*_entries(s)[:1], ("META-INF/manifest.xml", manifest_xml(["other.txt"])),
                                  _entries(s)[2]]), "does not list exactly the data files"),
    ],
    ids=["not-zip", "mimetype-not-first", "mimetype-compressed", "wrong-mimetype", "no-manifest", "no-signature",
         "traversal", "absolute-path", "windows-path", "too-large", "zip-bomb-ratio", "zip-bomb-lying-header",
         "manifest-mismatch"],
)
def test_malformed_containers_are_rejected(signer, anchors, blob_maker, expect):
    result = check(blob_maker(signer), anchors)
    assert result.status is REJECTED
    assert result.reason_code == "malformed_container"
    assert expect in result.reason


def test_personal_code_from_certificate(pki):
    assert personal_code_from_certificate(make_signer(pki["issuing"], "PNOLV-161175-19997", country="LV").cert) == (
        "LV", "16117519997")
    assert personal_code_from_certificate(make_signer(pki["issuing"], EE_CODE).cert) == ("EE", EE_CODE)
    assert personal_code_from_certificate(make_signer(pki["issuing"], "IDCEE-AB123").cert) is None


def test_trust_anchor_directory(tmp_path, pki, signer):
    from cryptography.hazmat.primitives.serialization import Encoding

    (tmp_path / "root.pem").write_bytes(pki["root"].cert.public_bytes(Encoding.PEM))
    (tmp_path / "issuing.crt").write_bytes(pki["issuing"].cert.public_bytes(Encoding.PEM))
    (tmp_path / "README.txt").write_text("ignored")
    assert len(load_trust_anchors(tmp_path)) == 2
    (tmp_path / "leaf.pem").write_bytes(signer.cert.public_bytes(Encoding.PEM))
    with pytest.raises(TrustAnchorError, match="not a CA"):
        load_trust_anchors(tmp_path)
    with pytest.raises(TrustAnchorError):
        load_trust_anchors(tmp_path / "missing")


def _unsigned_ticket() -> dict:
    data = json.loads(json.dumps(BASE_TICKET))
    data["submitted_time"] = (NOW - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return data


def _request_file(data: dict) -> dict[str, bytes]:
    """The ticket's signed request document, as the container's one data file."""
    from dsar_pipeline.signatures.signed_request import DOCUMENT_NAME, document_bytes, request_document

    return {DOCUMENT_NAME: document_bytes(request_document(parse_ticket(json.dumps(data).encode(), now=NOW)))}


def _signed_ticket(blob: bytes, data: dict | None = None) -> dict:
    data = data or _unsigned_ticket()
    data["extensions"]["verification_evidence"] = {
        "type": "signed_container",
        "container": base64.b64encode(blob).decode(),
        "file_name": "avaldus.asice",
    }
    return data


def test_verify_ticket_end_to_end(signer, anchors):
    data = _unsigned_ticket()
    ticket = parse_ticket(json.dumps(_signed_ticket(build_container(signer, _request_file(data)), data)).encode(),
                          now=NOW)
    assert intact_baseline_b(verify_ticket(ticket, trust_anchors=anchors, now=NOW))
    other = parse_ticket(json.dumps(_signed_ticket(build_container(signer))).encode(), now=NOW)
    result = verify_ticket(other, trust_anchors=anchors, now=NOW)
    assert (result.status, result.reason_code, result.mismatched_fields) == (REJECTED, "content_mismatch",
                                                                             ("data_files",))
    reference = json.loads(json.dumps(BASE_TICKET))
    reference["extensions"]["verification_evidence"] = {"type": "reference", "reference": "helpdesk:4711"}
    ticket = parse_ticket(json.dumps(reference).encode(), now=NOW)
    assert verify_ticket(ticket, trust_anchors=anchors).reason_code == "evidence_reference"


def test_cli_check_json_reports_verification(tmp_path, pki, signer):
    from cryptography.hazmat.primitives.serialization import Encoding

    anchor_dir = tmp_path / "anchors"
    anchor_dir.mkdir()
    for name in ("root", "issuing"):
        (anchor_dir / f"{name}.pem").write_bytes(pki[name].cert.public_bytes(Encoding.PEM))
    good = tmp_path / "good.json"
    data = _unsigned_ticket()
    good.write_text(json.dumps(_signed_ticket(build_container(signer, _request_file(data)), data)))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_signed_ticket(build_container(signer, alter={"request.txt": b"changed"}))))
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSAR_")}
    env["DSAR_TRUST_ANCHORS_DIR"] = str(anchor_dir)
    outputs = {}
    for path in (good, bad):
        result = subprocess.run(
            [sys.executable, "-m", "dsar_pipeline.intake.commands", "check", str(path), "--json"],
            capture_output=True, text=True, env=env, timeout=60, check=False,
        )
        assert result.returncode == 0, result.stderr
        outputs[path.name] = json.loads(result.stdout)
    assert outputs["good.json"]["verification"]["reason_code"] == "no_revocation_evidence"
    assert outputs["bad.json"]["verification"]["status"] == "rejected"
    assert outputs["bad.json"]["verification"]["reason_code"] == "tampered_data_file"
    assert outputs["good.json"]["ticket"]["extensions"]["verification_evidence"]["container"]["sha256"]
