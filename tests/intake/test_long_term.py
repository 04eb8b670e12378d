"""Long-term (XAdES-LT) evidence: containers signed in process by the sandbox eID, judged by `check_long_term`.

The sandbox signs as DigiDoc does (time-stamp, certificate values, OCSP response); the tests
then alter one piece of evidence at a time in the signature XML and expect "unverifiable", never
an exception and never "good".
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import ocsp as asn1_ocsp
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from dsar_pipeline.signatures.asic_zip import read_asic_container
from dsar_pipeline.signatures.certificates import load_trust_anchors
from dsar_pipeline.signatures.long_term import LongTermResult, check_long_term
from dsar_pipeline.signatures.xades import SignatureCheck, verify_signature_file
from sandbox.eid import SandboxEid

from .asic_builder import _name, make_root

DOCUMENT = b'{"subject_request_id": "lt-1"}'
SIGNATURE_FILE = "META-INF/signatures0.xml"


@dataclass(frozen=True)
class Holder:
    first_name: str
    last_name: str
    personal_code: str
    country: str = "EE"


MARI = Holder("Mari", "Maasikas", "48001085711")
JAAN = Holder("Jaan", "Tamm", "38001085718")


@dataclass
class Signed:
    """The signature XML and data files of a container, so a test can alter the XML and verify again."""

    xml: bytes
    files: dict[str, bytes]

    def check(self, xml: bytes | None = None) -> SignatureCheck:
        (check,) = verify_signature_file(self.xml if xml is None else xml, self.files)
        return check


def sign(eid: SandboxEid, person: Holder = MARI, **options: object) -> Signed:
    container = read_asic_container(eid.sign_container([("request.json", DOCUMENT)], person, **options))  # type: ignore[arg-type]
    return Signed(container.signature_files[SIGNATURE_FILE], container.data_files)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def judge(eid: SandboxEid, check: SignatureCheck) -> LongTermResult:
    return check_long_term(check, load_trust_anchors(eid.trust_dir), now())


def element_text(xml: bytes, tag: str) -> str:
    match = re.search(rf"<xades:{tag}>([^<]*)</xades:{tag}>".encode(), xml)
    assert match, tag
    return match.group(1).decode()


def replace_text(xml: bytes, tag: str, value: str) -> bytes:
    altered, count = re.subn(rf"(<xades:{tag}>)[^<]*(</xades:{tag}>)".encode(),
                             lambda m: m.group(1) + value.encode() + m.group(2), xml)
    assert count == 1, tag
    return altered


@pytest.fixture
def eid(tmp_path: Path) -> SandboxEid:
    return SandboxEid(tmp_path / "sandbox")


# -- what holds -------------------------------------------------------------------------------------


def test_lt_signature_is_good_at_its_time_stamp(eid: SandboxEid) -> None:
    moment = now() - timedelta(seconds=30)
    signed = sign(eid, signing_time=moment)
    check = signed.check()
    assert (len(check.timestamps), len(check.ocsp_responses), len(check.embedded_certificates)) == (1, 1, 3)
    assert not check.unsigned_malformed
    result = judge(eid, check)
    assert (result.status, result.timestamp) == ("good", moment)
    assert MARI.personal_code not in result.detail


def test_container_signed_four_days_ago_is_good_then(eid: SandboxEid) -> None:
    moment = now() - timedelta(days=4)
    result = judge(eid, sign(eid, signing_time=moment).check())
    assert (result.status, result.timestamp) == ("good", moment)


def test_revoked_person_is_revoked(eid: SandboxEid, tmp_path: Path) -> None:
    eid.revoke(MARI)
    result = judge(eid, sign(eid).check())
    assert result.status == "revoked"
    assert result.timestamp is not None
    assert MARI.personal_code not in result.detail
    # another process on the same state dir (a CLI signing offline) embeds the revocation too
    other = SandboxEid(tmp_path / "sandbox")
    assert judge(other, sign(other).check()).status == "revoked"
    # somebody else is not affected
    assert judge(eid, sign(eid, JAAN).check()).status == "good"


def test_revocation_after_signing_leaves_an_earlier_signature_good(eid: SandboxEid) -> None:
    earlier = sign(eid, signing_time=now() - timedelta(days=4))
    eid.revoke(MARI)
    assert judge(eid, earlier.check()).status == "good"
    # a container dated after the revocation is not
    assert judge(eid, sign(eid, signing_time=now() + timedelta(seconds=1)).check()).status == "revoked"


def test_baseline_b_has_no_evidence(eid: SandboxEid) -> None:
    check = sign(eid, level="B").check()
    assert (check.timestamps, check.ocsp_responses, check.embedded_certificates) == ((), (), ())
    result = judge(eid, check)
    assert (result.status, result.timestamp) == ("no_evidence", None)


# -- what does not ------------------------------------------------------------------------------------


def test_flipped_byte_in_the_ocsp_signature_is_unverifiable(eid: SandboxEid) -> None:
    signed = sign(eid)
    der = bytearray(base64.b64decode(element_text(signed.xml, "EncapsulatedOCSPValue")))
    basic = asn1_ocsp.OCSPResponse.load(bytes(der))["response_bytes"]["response"].parsed
    signature = bytes(basic["signature"].native)
    at = bytes(der).index(signature) + len(signature) // 2
    der[at] ^= 0x01
    xml = replace_text(signed.xml, "EncapsulatedOCSPValue", base64.b64encode(bytes(der)).decode())
    result = judge(eid, signed.check(xml))
    assert (result.status, result.timestamp) == ("unverifiable", None)


def test_ocsp_response_on_another_persons_certificate_is_unverifiable(eid: SandboxEid) -> None:
    signed, other = sign(eid), sign(eid, JAAN)
    xml = replace_text(signed.xml, "EncapsulatedOCSPValue", element_text(other.xml, "EncapsulatedOCSPValue"))
    assert judge(eid, signed.check(xml)).status == "unverifiable"


def test_time_stamp_over_other_bytes_is_unverifiable(eid: SandboxEid) -> None:
    signed = sign(eid)
    token = eid.timestamp(hashlib.sha256(b"some other signature value").digest(), "sha256", now())
    xml = replace_text(signed.xml, "EncapsulatedTimeStamp", base64.b64encode(token).decode())
    assert judge(eid, signed.check(xml)).status == "unverifiable"
    # the token of another container by the same person covers another SignatureValue
    other = sign(eid)
    xml = replace_text(signed.xml, "EncapsulatedTimeStamp", element_text(other.xml, "EncapsulatedTimeStamp"))
    assert judge(eid, signed.check(xml)).status == "unverifiable"


def test_time_stamp_from_a_foreign_tsa_is_unverifiable(eid: SandboxEid, tmp_path: Path) -> None:
    signed = sign(eid)
    check = signed.check()
    foreign = SandboxEid(tmp_path / "foreign")
    # a correct token over the right bytes: only the TSA's CA is not trusted
    token = foreign.timestamp(hashlib.sha256(check.timestamps[0].covered).digest(), "sha256", now())
    xml = replace_text(signed.xml, "EncapsulatedTimeStamp", base64.b64encode(token).decode())
    assert judge(eid, signed.check(xml)).status == "unverifiable"
    trusting_both = [*load_trust_anchors(eid.trust_dir), foreign.ca_certificate]
    assert check_long_term(signed.check(xml), trusting_both, now()).status == "good"


def test_removed_certificate_values_are_unverifiable(eid: SandboxEid) -> None:
    """The OCSP response does not carry its responder's certificate: CertificateValues does."""
    signed = sign(eid)
    xml, count = re.subn(rb"<xades:CertificateValues>.*?</xades:CertificateValues>", b"", signed.xml)
    assert count == 1
    check = signed.check(xml)
    assert check.embedded_certificates == ()
    assert judge(eid, check).status == "unverifiable"


@pytest.mark.parametrize("tag", ["EncapsulatedOCSPValue", "EncapsulatedTimeStamp", "EncapsulatedX509Certificate"])
def test_garbage_base64_is_flagged_and_unverifiable(eid: SandboxEid, tag: str) -> None:
    signed = sign(eid)
    xml = re.sub(rf"(<xades:{tag}>)[^<]*".encode(), rb"\1!!not base64!!", signed.xml, count=1)
    check = signed.check(xml)  # the signature itself stays valid: unsigned material cannot break it
    assert check.unsigned_malformed
    assert judge(eid, check).status == "unverifiable"


@pytest.mark.parametrize("tag", ["EncapsulatedOCSPValue", "EncapsulatedTimeStamp"])
@pytest.mark.parametrize("junk", [b"\x30\x03\x02\x01\x00", b"\x30\x82\xff\xff", bytes(range(256)) * 4])
def test_junk_der_is_unverifiable_without_raising(eid: SandboxEid, tag: str, junk: bytes) -> None:
    signed = sign(eid)
    xml = replace_text(signed.xml, tag, base64.b64encode(junk).decode())
    result = judge(eid, signed.check(xml))
    assert (result.status, result.timestamp) == ("unverifiable", None)


def test_time_stamp_without_ocsp_is_unverifiable(eid: SandboxEid) -> None:
    signed = sign(eid)
    xml, count = re.subn(rb"<xades:RevocationValues>.*?</xades:RevocationValues>", b"", signed.xml)
    assert count == 1
    assert judge(eid, signed.check(xml)).status == "unverifiable"


def test_ocsp_without_time_stamp_is_judged_at_the_signing_time(eid: SandboxEid) -> None:
    moment = now() - timedelta(days=2)
    signed = sign(eid, signing_time=moment)
    xml, count = re.subn(rb"<xades:SignatureTimeStamp .*?</xades:SignatureTimeStamp>", b"", signed.xml)
    assert count == 1
    result = judge(eid, signed.check(xml))
    assert (result.status, result.timestamp) == ("good", None)


def test_certificate_without_ocsp_url_needs_its_own_ocsp_response(eid: SandboxEid) -> None:
    """pyhanko's legacy "hard-fail" only checks certificates that name a responder; ours must not pass this."""
    root = make_root("TEST root without OCSP")
    key = ec.generate_private_key(ec.SECP256R1())
    signer = root.issue(_name("TAMM,JAAN,38001085718", "PNOEE-38001085718"), key.public_key())
    assert not any(isinstance(e.value, x509.AuthorityInformationAccess) for e in signer.extensions)
    somebody_else = sign(eid).check()
    check = SignatureCheck("S0", signer, (), now(), ocsp_responses=somebody_else.ocsp_responses,
                           embedded_certificates=somebody_else.embedded_certificates)
    anchors = [root.cert, *load_trust_anchors(eid.trust_dir)]
    assert check_long_term(check, anchors, now()).status == "unverifiable"


def test_no_trust_anchors_is_unverifiable(eid: SandboxEid) -> None:
    assert check_long_term(sign(eid).check(), [], now()).status == "unverifiable"
