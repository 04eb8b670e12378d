"""A corpus of malformed and hostile tickets: each is refused with one clear line, by the parser
and by the CLI run as a subprocess (exit status 2, no traceback, no personal value echoed)."""

from __future__ import annotations

import base64
import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from dsar_pipeline.intake import TicketError, parse_ticket
from dsar_pipeline.intake.strict_json import MAX_CONTAINER_BASE64_CHARS

from .conftest import BASE_TICKET, EE_CODE, EMAIL, FIXED_NOW, PERSONAL_VALUES


@dataclass(frozen=True)
class Case:
    """One hostile ticket and the words its refusal must contain."""

    name: str
    raw: bytes
    expect: str
    secrets: tuple[str, ...] = ()


def _ticket(change: Callable[[dict[str, Any]], object] | None = None) -> bytes:
    data = copy.deepcopy(BASE_TICKET)
    if change:
        change(data)
    return json.dumps(data, ensure_ascii=False).encode("utf-8")


def _identity(index: int, **values: Any) -> Callable[[dict[str, Any]], object]:
    return lambda d: d["subject_identities"][index].update(values)


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], object]:
    def change(data: dict[str, Any]) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return change


def _delete(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], object]:
    def change(data: dict[str, Any]) -> None:
        node = data
        for key in path[:-1]:
            node = node[key]
        del node[path[-1]]

    return change


VALID = _ticket()
EVIDENCE = ("extensions", "verification_evidence")
ZIP_B64 = base64.b64encode(b"PK\x03\x04" + b"\x00" * 40).decode()

CASES: list[Case] = [
    # --- bytes, encoding and JSON syntax -----------------------------------------------------
    Case("empty", b"", "ticket is empty"),
    Case("whitespace-only", b"  \n\t ", "ticket is empty"),
    Case("truncated-json", VALID[:-20], "not valid JSON"),
    Case("trailing-garbage", VALID + b" {}", "not valid JSON"),
    Case("single-quotes", b"{'subject_request_id': 'x'}", "not valid JSON"),
    Case("top-level-array", b"[1, 2, 3]", "must be a JSON object"),
    Case("top-level-string", b'"access"', "must be a JSON object"),
    Case("duplicate-top-level-key", VALID[:-1] + b', "subject_request_id": "other"}',
         "duplicate key 'subject_request_id'"),
    Case("duplicate-personal-key", b'{"38001085718": 1, "38001085718": 2}', "duplicate key '<key>'", (EE_CODE,)),
    Case("nul-byte", VALID.replace(b"helpdesk", b"help\x00desk"), "NUL bytes"),
    Case("utf16-with-bom", VALID.decode().encode("utf-16"), "UTF-16"),
    Case("utf16-without-bom", VALID.decode().encode("utf-16-le"), "NUL bytes"),
    Case("utf8-bom", b"\xef\xbb\xbf" + VALID, "byte order mark"),
    Case(
        "latin1-bytes",
        _ticket(_identity(1, identity_value="jüri.mägi@example.ee")).decode().encode("latin-1"),
        "not valid UTF-8",
    ),
    Case("nan", VALID.replace(b'"1.0"', b"NaN"), "NaN/Infinity"),
    Case("huge-number", VALID.replace(b'"1.0"', b"1" + b"0" * 40), "number is too long"),
    Case("deep-nesting-recursion", b"[" * 100_000 + b"]" * 100_000, "nesting deeper"),
    Case("deep-nesting-object", _ticket(_set(("extensions", "x"), {"a": {"b": {"c": {"d": {"e": {}}}}}})),
         "nesting deeper than 6"),
    Case("huge-string", _ticket(_set(("subject_request_id",), "A" * 100_000)), "string is too long"),
    Case("huge-raw", b'{"a": "' + b"A" * (9 * 1024 * 1024) + b'"}', "ticket is larger than"),
    Case("oversized-without-container", VALID[:-1] + b" " * (300 * 1024) + b"}", "larger than 256 KiB"),
    Case("too-many-array-items", _ticket(_set(("property_ids",), ["p"] * 40)), "more than 32 items"),
    Case("escaped-nul", _ticket(_identity(1, identity_value="mari\u0000@example.ee")), "control"),
    Case("bidi-override", _ticket(_set(("subject_request_id",), "ab\u202ecd")), "bidirectional"),
    Case("lone-surrogate", VALID.replace(b"helpdesk", b"help\\ud800desk"), "unpaired surrogate"),
    # --- structure and types -----------------------------------------------------------------
    Case("missing-identities", _ticket(_delete(("subject_identities",))), "subject_identities: is required"),
    Case("empty-identities", _ticket(_set(("subject_identities",), [])), "at least 1 item"),
    Case("identities-not-array", _ticket(_set(("subject_identities",), {"a": 1})), "must be an array"),
    Case("missing-extensions", _ticket(_delete(("extensions",))), "extensions: is required"),
    Case("extensions-is-list", _ticket(_set(("extensions",), [])), "extensions: must be an object"),
    Case("unknown-top-level-field", _ticket(_set(("extension",), {})), "extension: unknown field"),
    Case("unknown-field-named-like-data", _ticket(_identity(0, **{EE_CODE: "x"})), "<key>: unknown field", (EE_CODE,)),
    Case("identity-value-number", _ticket(_identity(0, identity_value=38001085718)), "must be a string", (EE_CODE,)),
    Case("identity-value-bool", _ticket(_identity(1, identity_value=True)), "must be a string"),
    Case("callbacks-not-array", _ticket(_set(("status_callback_urls",), "https://x.example")), "must be an array"),
    # --- enums ---------------------------------------------------------------------------------
    Case("request-type-erasure", _ticket(_set(("subject_request_type",), "erasure")), "'access' or 'portability'"),
    Case("identity-type-unknown", _ticket(_identity(0, identity_type="ssn")), "subject_identities[0].identity_type"),
    Case("identity-format-hashed", _ticket(_identity(1, identity_format="sha256")), "'raw'"),
    Case("api-version-unknown", _ticket(_set(("api_version",), "2.0")), "'0.1' or '1.0'"),
    Case("language-unknown", _ticket(_set(("extensions", "language"), "de")), "extensions.language"),
    Case("evidence-type-unknown", _ticket(_set(EVIDENCE, {"type": "selfie"})), "'signed_container' or 'reference'"),
    # --- dates ---------------------------------------------------------------------------------
    Case("time-without-offset", _ticket(_set(("submitted_time",), "2026-03-02T09:15:00")), "RFC 3339"),
    Case("time-as-number", _ticket(_set(("submitted_time",), 1767225600)), "RFC 3339"),
    Case("time-impossible-date", _ticket(_set(("submitted_time",), "2026-02-30T10:00:00Z")), "not a valid date"),
    Case("time-before-gdpr", _ticket(_set(("submitted_time",), "2017-01-01T00:00:00Z")), "before 25 May 2018"),
    Case("time-in-future", _ticket(_set(("submitted_time",), "2999-01-01T00:00:00Z")), "in the future"),
    # --- identities ----------------------------------------------------------------------------
    Case("ee-bad-checksum", _ticket(_identity(0, identity_value="38001085719")),
         "subject_identities[0].identity_value: not a valid Estonian personal code", ("38001085719",)),
    Case("ee-wrong-length", _ticket(_identity(0, identity_value="3800108571")), "must be 11 digits", ("3800108571",)),
    Case("ee-impossible-birth-date", _ticket(_identity(0, identity_value="38013325710")),
         "not a valid Estonian personal code", ("38013325710",)),
    Case("lv-company-number", _ticket(_identity(0, identity_value="40003521600", identity_country="LV")),
         "company registration number", ("40003521600",)),
    Case("lv-bad-checksum", _ticket(_identity(0, identity_value="161175-19998", identity_country="LV")),
         "not a valid Latvian personal code", ("161175-19998", "16117519998")),
    Case("lt-bad-checksum", _ticket(_identity(0, identity_value="33309240164", identity_country="LT")),
         "not a valid Lithuanian personal code", ("33309240164",)),
    Case("personal-code-unicode-digits", _ticket(_identity(0, identity_value="٣٨٠٠١٠٨٥٧١٨")), "must be 11 digits"),
    Case("two-personal-codes", _ticket(lambda d: d["subject_identities"].append(
        {"identity_type": "personal_code", "identity_value": "49403136526"})), "only one personal code",
         ("49403136526",)),
    Case("duplicate-identity", _ticket(lambda d: d["subject_identities"].append(
        {"identity_type": "email", "identity_value": "mari.maasikas@EXAMPLE.ee"})), "duplicate identity"),
    Case("country-on-email", _ticket(_identity(1, identity_country="EE")), "only allowed for personal_code"),
    Case("email-invalid", _ticket(_identity(1, identity_value="mari@@example.ee")), "not a valid e-mail address",
         ("mari@@example.ee",)),
    Case("email-script-injection", _ticket(_identity(1, identity_value="<script>alert(1)</script>@x.ee")),
         "not a valid e-mail address", ("<script>",)),
    Case("phone-local-format", _ticket(_identity(2, identity_value="5123 4567")), "international format"),
    Case("phone-too-short", _ticket(_identity(2, identity_value="+372 12")), "not a valid phone number", ("+372 12",)),
    Case("phone-letters", _ticket(_identity(2, identity_value="+1-800-FLOWERS")), "not a valid phone number"),
    Case("customer-number-sql-injection", _ticket(lambda d: d["subject_identities"].append(
        {"identity_type": "customer_number", "identity_value": "1; DROP TABLE customers;--"})),
         "not a valid customer number", ("DROP TABLE",)),
    # --- request id ----------------------------------------------------------------------------
    Case("id-path-traversal", _ticket(_set(("subject_request_id",), "../../etc/passwd")), "path separators"),
    Case("id-windows-traversal", _ticket(_set(("subject_request_id",), "..\\..\\boot.ini")), "path separators"),
    Case("id-dotdot", _ticket(_set(("subject_request_id",), "a..b")), "'..'"),
    Case("id-shell-injection", _ticket(_set(("subject_request_id",), "$(rm -rf ~)")), "only ASCII letters"),
    Case("id-sql-injection", _ticket(_set(("subject_request_id",), "1' OR '1'='1")), "only ASCII letters"),
    Case("id-empty", _ticket(_set(("subject_request_id",), "")), "must not be empty"),
    Case("id-non-ascii", _ticket(_set(("subject_request_id",), "tičket-1")), "only ASCII letters"),
    Case("id-too-long", _ticket(_set(("subject_request_id",), "a" * 65)), "longer than 64"),
    # --- extensions ----------------------------------------------------------------------------
    Case("controller-unknown", _ticket(_set(("extensions", "controller"), "acme-ee")), "unknown controller"),
    Case("controller-traversal", _ticket(_set(("extensions", "controller"), "../../etc/passwd")),
         "must be a controller id"),
    Case("delivery-phone-missing", _ticket(_delete(("extensions", "delivery_contacts", "phone"))),
         "delivery_contacts.phone: is required"),
    Case("delivery-email-missing", _ticket(_delete(("extensions", "delivery_contacts", "email"))),
         "delivery_contacts.email: is required"),
    Case("callback-plain-http", _ticket(_set(("status_callback_urls",), ["http://evil.example/cb"])), "https"),
    Case("callback-credentials", _ticket(_set(("status_callback_urls",), ["https://u:p@evil.example/"])),
         "no user name or password"),
    Case("callback-javascript", _ticket(_set(("status_callback_urls",), ["javascript:alert(1)"])), "https"),
    Case("evidence-not-base64", _ticket(_set(EVIDENCE, {"type": "signed_container", "container": "%%%"})),
         "not valid base64"),
    Case("evidence-not-zip", _ticket(_set(EVIDENCE, {"type": "signed_container", "container": "aGVsbG8="})),
         "not a ZIP-based"),
    Case("evidence-container-missing", _ticket(_set(EVIDENCE, {"type": "signed_container"})),
         "is required for a signed_container"),
    Case("evidence-file-name-traversal", _ticket(_set(EVIDENCE, {
        "type": "signed_container", "container": ZIP_B64, "file_name": "../../x.asice"})), "plain file name"),
    Case("evidence-container-too-large", _ticket(_set(EVIDENCE, {
        "type": "signed_container", "container": "A" * (MAX_CONTAINER_BASE64_CHARS + 4)})), "string is too long"),
    Case("id-card-certificate-garbage", _ticket(_set(("extensions", "id_card_certificate"), "aGVsbG8gd29ybGQ=")),
         "not a DER X.509 certificate"),
]

CASE_IDS = [case.name for case in CASES]


def test_corpus_is_large_and_names_are_unique():
    assert len(CASES) >= 40
    assert len(set(CASE_IDS)) == len(CASE_IDS)


def test_base_ticket_is_valid():
    assert parse_ticket(VALID, now=FIXED_NOW).controller_id == "enefit-ee"


def _assert_safe_line(message: str, case: Case) -> None:
    assert "\n" not in message.strip(), message
    assert "Traceback" not in message
    assert case.expect in message, f"{case.name}: {message!r}"
    for secret in (*case.secrets, *PERSONAL_VALUES, EMAIL):
        assert secret not in message, f"{case.name} echoes a personal value: {message!r}"
    assert len(message) < 400


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_parse_ticket_refuses(case: Case):
    with pytest.raises(TicketError) as info:
        parse_ticket(case.raw, now=FIXED_NOW)
    _assert_safe_line(str(info.value), case)


REAL_SUBPROCESS_CASES = (
    "truncated-json", "utf16-with-bom", "latin1-bytes", "deep-nesting-recursion", "unknown-top-level-field",
    "ee-bad-checksum", "id-path-traversal", "controller-traversal",
)
"""Also run as separate ``python -m`` interpreters, the way a user runs the command."""


def _run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120, check=False)


@pytest.fixture(scope="module")
def cli_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every case through the CLI: all in one batch subprocess (forked child per case, see
    ``cli_batch_driver.py``), and a representative subset as real ``python -m`` interpreters."""
    folder: Path = tmp_path_factory.mktemp("hostile")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSAR_")}
    jobs: dict[str, list[str]] = {}
    for case in [*CASES, Case("valid-control", VALID, "")]:
        path = folder / f"{case.name}.json"
        path.write_bytes(case.raw)
        jobs[case.name] = ["check", str(path)]
    jobs["missing-file"] = ["check", str(folder / "nope.json")]
    jobs["directory"] = ["check", str(folder)]
    (folder / "jobs.json").write_text(json.dumps(jobs))
    driver = Path(__file__).with_name("cli_batch_driver.py")

    def batch() -> subprocess.CompletedProcess[str]:
        return _run([sys.executable, str(driver), str(folder / "jobs.json"), str(folder / "results.json")], env)

    def real(name: str) -> subprocess.CompletedProcess[str]:
        return _run([sys.executable, "-m", "dsar_pipeline.intake.commands", *jobs[name]], env)

    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        batch_future = pool.submit(batch)
        real_results = dict(zip(REAL_SUBPROCESS_CASES, pool.map(real, REAL_SUBPROCESS_CASES), strict=True))
        finished = batch_future.result()
    assert finished.returncode == 0, finished.stderr
    results: dict[str, dict[str, Any]] = json.loads((folder / "results.json").read_text())
    for name, result in real_results.items():
        results[f"real:{name}"] = {"returncode": result.returncode, "stdout": result.stdout, "stderr": result.stderr}
    return results


def _check_refusal(result: dict[str, Any], case: Case) -> None:
    assert result["returncode"] == 2, result["stderr"]
    assert result["stdout"] == ""
    assert result["stderr"].count("\n") == 1
    assert result["stderr"].startswith("invalid ticket: ")
    _assert_safe_line(result["stderr"], case)


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_cli_refuses_with_one_line_and_exit_2(case: Case, cli_results):
    _check_refusal(cli_results[case.name], case)


@pytest.mark.parametrize("name", REAL_SUBPROCESS_CASES)
def test_cli_refuses_in_a_fresh_interpreter(name: str, cli_results):
    case = next(c for c in CASES if c.name == name)
    _check_refusal(cli_results[f"real:{name}"], case)
    assert cli_results[f"real:{name}"]["stderr"] == cli_results[name]["stderr"]


def test_cli_accepts_the_valid_control(cli_results):
    result = cli_results["valid-control"]
    assert result["returncode"] == 0, result["stderr"]
    assert "ticket OK" in result["stdout"]


@pytest.mark.parametrize("name", ["missing-file", "directory"])
def test_cli_unreadable_file_is_one_line(name, cli_results):
    result = cli_results[name]
    assert result["returncode"] == 2
    assert result["stderr"].count("\n") == 1 and "Traceback" not in result["stderr"]
    assert result["stderr"].startswith("cannot read ticket file")
