"""Random corruption of valid inputs: the parser and the verifier answer, they never crash."""

from __future__ import annotations

import random

import pytest

from dsar_pipeline.intake import TicketError, parse_ticket
from dsar_pipeline.signatures.verification import VerificationStatus, verify_container

from .asic_builder import NOW, build_container, make_signer, manifest_xml, signature_xml, zip_container
from .conftest import EE_CODE, FIXED_NOW, PERSONAL_VALUES
from .test_hostile_tickets import VALID

ROUNDS = 400


def _mutate(data: bytes, rng: random.Random) -> bytes:
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        position = rng.randrange(len(buffer))
        action = rng.random()
        if action < 0.5:
            buffer[position] = rng.randrange(256)
        elif action < 0.75:
            del buffer[position]
        else:
            buffer.insert(position, rng.choice(b'{}[]",:\\\x00\xff0a'))
    return bytes(buffer)


def test_mutated_tickets_parse_or_fail_cleanly():
    rng = random.Random(20260302)
    accepted = refused = 0
    for _ in range(ROUNDS):
        raw = _mutate(VALID, rng)
        try:
            parse_ticket(raw, now=FIXED_NOW)
            accepted += 1
        except TicketError as exc:
            message = str(exc)
            assert "\n" not in message
            assert not any(value in message for value in PERSONAL_VALUES), message
            refused += 1
    assert refused > ROUNDS // 2


@pytest.fixture(scope="module")
def container_and_anchors(pki):
    signer = make_signer(pki["issuing"], f"PNOEE-{EE_CODE}")
    return build_container(signer), [pki["root"].cert, pki["issuing"].cert]


def test_mutated_containers_always_get_a_verdict(container_and_anchors):
    blob, anchors = container_and_anchors
    rng = random.Random(20260303)
    verdicts: dict[str, int] = {}
    for _ in range(ROUNDS):
        result = verify_container(_mutate(blob, rng), subject=("EE", EE_CODE), trust_anchors=anchors, now=NOW)
        assert isinstance(result.status, VerificationStatus)
        assert "\n" not in result.reason and EE_CODE not in result.reason
        verdicts[result.status.value] = verdicts.get(result.status.value, 0) + 1
    assert verdicts.get("rejected", 0) > ROUNDS // 2


def test_mutated_signature_xml_always_gets_a_verdict(pki):
    signer = make_signer(pki["issuing"], f"PNOEE-{EE_CODE}")
    files = {"request.txt": b"palun"}
    document = signature_xml(signer, files)
    anchors = [pki["root"].cert, pki["issuing"].cert]
    rng = random.Random(20260304)
    unexpected = 0
    for _ in range(ROUNDS):
        blob = zip_container([
            ("request.txt", files["request.txt"]),
            ("META-INF/manifest.xml", manifest_xml(list(files))),
            ("META-INF/signatures0.xml", _mutate(document, rng)),
        ])
        result = verify_container(blob, subject=("EE", EE_CODE), trust_anchors=anchors, now=NOW)
        assert isinstance(result.status, VerificationStatus)
        unexpected += "internal check failed" in result.reason
    assert unexpected == 0, "a corrupted signature reached the catch-all instead of a specific reason"
