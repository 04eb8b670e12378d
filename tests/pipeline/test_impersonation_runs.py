"""Impersonation through the whole Dagster job: the impostor signs their own request with their own
eID and names a stranger's identifier in it (or asks for delivery to another address).

The domain tests (tests/connectors/test_impersonation.py) cover every identity type; these runs
show that what the review decides is what the job does: the request waits for the DPO, nothing is
mailed or texted, and the package built meanwhile holds nothing of the stranger, byte for byte.
An honest request delivered to an address of the requester's choosing still goes out.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
import pyzipper

from assets.definitions import defs
from assets.environments import resource_now
from assets.io_manager import load_stored
from assets.status import request_status
from sandbox.gateways.outbox import read_outbox
from sandbox.people import named_people

from .conftest import decision, person_ticket, run_ticket, stored_package

pytestmark = pytest.mark.usefixtures("no_faults")


@pytest.fixture(scope="module")
def stranger(federation) -> dict[str, Any]:
    (person,) = [p for p in named_people(population=federation.population) if p["name"] == "stranger"]
    return person


def launch(federation, instance: dg.DagsterInstance, raw: bytes, suffix: str) -> str:
    return run_ticket(federation, instance, raw, suffix)


def outbox(federation, channel: str) -> list[dict[str, Any]]:
    return read_outbox(Path(federation.settings["SANDBOX_OUTBOX_DIR"]), channel)


def sealed_passphrase(instance: dg.DagsterInstance, request_id: str) -> str:
    """The package's passphrase as the job sealed it: readable here whether or not it was ever texted."""
    package = load_stored(instance, resource_now("work"), request_id, "response_package")
    assert package is not None, "the package is built even while the request waits for the DPO"
    return str(package.passphrase)


def texted_passphrase(federation, phone: str) -> str:
    """The passphrase last texted to `phone` (delivery removes the sealed copy once it is sent)."""
    texts = [s for s in outbox(federation, "sms") if s["to"] == phone]
    assert texts, "a delivered request texts its passphrase"
    return str(texts[-1]["text"]).split()[-1]


def package_files(instance: dg.DagsterInstance, request_id: str, passphrase: str) -> dict[str, bytes]:
    """Every file of the built package, opened with `passphrase` (a wrong one fails to read)."""
    with tempfile.TemporaryDirectory() as tmp:
        package, _, _ = stored_package(instance, request_id, Path(tmp))
        with pyzipper.AESZipFile(package) as archive:
            archive.setpassword(passphrase.encode())
            return {name: archive.read(name) for name in archive.namelist()}


def stranger_patterns(federation, person: dict[str, Any]) -> dict[str, re.Pattern[bytes]]:
    """The stranger's values by ground truth, as byte patterns; numbers only where no digit is next to
    them (a six-digit customer number may otherwise sit inside a meter reading or an invoice number)."""
    population = federation.population
    key = population.case(person["name"]).key
    texts = {"personal_code": person["personal_code"], "email": person["email"], "phone": person["phone"],
             "customer_eic": person["customer_eic"], "volt_account_id": person["volt_account_id"],
             "portal_username": person["portal_username"],
             "name": f"{person['first_name']} {person['last_name']}",
             **{f"metering_point_eic {eic}": eic for eic in person["metering_point_eics"]},
             **{f"call {c.id}": c.id for c in population.calls if c.person_key == key}}
    patterns = {label: re.compile(re.escape(str(value).encode()), re.IGNORECASE) for label, value in texts.items()}
    national = str(person["phone"]).removeprefix("+372")
    patterns["phone (national)"] = re.compile(rb"(?<!\d)" + re.escape(national.encode()) + rb"(?!\d)")
    patterns["customer_number"] = re.compile(rb"(?<!\d)" + str(person["customer_id"]).encode() + rb"(?!\d)")
    assert all(texts.values()) and any(label.startswith("call ") for label in texts)
    return patterns


def assert_nothing_of_the_stranger(federation, instance: dg.DagsterInstance, request_id: str, passphrase: str,
                                   person: dict[str, Any]) -> None:
    files = package_files(instance, request_id, passphrase)
    assert any(name.startswith("export/") for name in files), "an empty package would prove nothing"
    patterns = stranger_patterns(federation, person)
    found = sorted({(name, label) for name, data in files.items() for label, pattern in patterns.items()
                    if pattern.search(data)})
    assert not found, f"the package holds the stranger's data: {found}"


def assert_held_and_silent(federation, instance: dg.DagsterInstance, request_id: str) -> None:
    """Awaiting the DPO: no link mailed, no passphrase texted."""
    assert request_status(instance, request_id)["status"] == "awaiting_review"
    assert not [m for m in outbox(federation, "mail") if request_id in m["text"]]
    passphrase = sealed_passphrase(instance, request_id)
    assert not [s for s in outbox(federation, "sms") if passphrase in s["text"]]


@pytest.mark.parametrize(("kind", "suffix"), [("customer_number", "-imp-cust"), ("metering_point_eic", "-imp-eic")])
def test_a_strangers_identifier_holds_the_request_and_the_package_has_none_of_them(
        federation, instance, stranger, kind: str, suffix: str) -> None:
    value = str(stranger["customer_id"]) if kind == "customer_number" else str(stranger["metering_point_eics"][0])
    raw = person_ticket(federation, "impostor", identities=((kind, value),), suffix=suffix)
    request_id = launch(federation, instance, raw, suffix)
    assert_held_and_silent(federation, instance, request_id)
    assert_nothing_of_the_stranger(federation, instance, request_id, sealed_passphrase(instance, request_id), stranger)


def test_own_request_delivered_to_another_address_goes_there_with_nothing_of_the_stranger(
        federation, instance, stranger) -> None:
    """The request is the signer's own: where they want it delivered is their choice."""
    raw = person_ticket(federation, "impostor", email="attacker@example.com", suffix="-imp-mail")
    request_id = launch(federation, instance, raw, "-imp-mail")
    assert request_status(instance, request_id)["status"] == "delivered"
    mails = [m for m in outbox(federation, "mail") if request_id in m["text"]]
    assert mails and {m["to"] for m in mails} == {"attacker@example.com"}
    impostor = federation.population.case("impostor")
    assert_nothing_of_the_stranger(federation, instance, request_id, texted_passphrase(federation, impostor.phone),
                                   stranger)


def test_a_dpo_releasing_weak_matches_does_not_release_unbound_claims(federation, instance, stranger) -> None:
    """Including the records in review that came through the person's own shared contacts is not
    including what came only through a claimed identifier: that takes its own, deliberate choice."""
    raw = person_ticket(federation, "impostor", identities=(("customer_number", str(stranger["customer_id"])),),
                        suffix="-imp-scope")
    request_id = launch(federation, instance, raw, "-imp-scope")
    job = "release_with_reviewed_records"
    result = defs.resolve_job_def(job).execute_in_process(
        partition_key=request_id, instance=instance, run_config=decision(instance, request_id, job),
        raise_on_error=False)
    assert result.success
    assert request_status(instance, request_id)["status"] == "delivered"
    impostor = federation.population.case("impostor")
    assert_nothing_of_the_stranger(federation, instance, request_id, texted_passphrase(federation, impostor.phone),
                                   stranger)
