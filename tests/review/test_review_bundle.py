"""The DPO's review bundle: what it shows (every record under review with its cause and the chain of
identifiers that reached it, what would be released and held, the draft letter with its sources),
that it is sealed for the DPO only, and that a changed or moved bundle is refused, not shown."""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import lxml.html
import pytest
from markupsafe import escape

from connectors.classification import Disposition
from connectors.contract import Record
from connectors.identity import Identifier, IdentityType, Strength
from connectors.resolution import IdentityGraph
from dsar_pipeline.collection.collect import SystemResult, SystemStatus
from dsar_pipeline.intake.sealed_tickets import RequestFacts
from dsar_pipeline.letter import SECTION_IDS
from dsar_pipeline.profiles import ControllerProfile, load_profile
from dsar_pipeline.review.binding import sealed_digest
from dsar_pipeline.review.bundle import (
    REVIEW_BUNDLE,
    ReviewBundleChanged,
    ReviewBundleMissing,
    ReviewBundleUnreadable,
    build_review_bundle,
    bundle_context,
    bundle_summary,
    open_review_bundle,
    seal_review_bundle,
)
from dsar_pipeline.review.bundle_letter import draft_letter_context
from dsar_pipeline.review.bundle_view import identifier_chain
from dsar_pipeline.review.findings import ReviewOutcome, review
from dsar_pipeline.sealing.key_cache import RequestKeyCache
from dsar_pipeline.sealing.key_types import KeyUnwrapError
from dsar_pipeline.sealing.keys import LocalKeyProvider
from dsar_pipeline.sealing.objects import sealed_object_key
from dsar_pipeline.sealing.workstore import LocalWorkStore
from tests.identifiers import collect_everything, ticket_identifiers

REQUEST = "r-bundle-1"
TODAY = date(2026, 11, 20)
ANCHOR_CODE = "38001085718"
STRANGER_CODE = "49002020001"
EMAIL = "mari.maasikas@example.ee"
HOSTILE_NAME = "<script>alert('dpo')</script>"
HOSTILE_KEY = '"><img src=x onerror=alert(1)>'
BOUND = {"review_findings": "a" * 64, "billing_records": "b" * 64}
SYSTEMS = ("billing", "volt", "recordings", "portal", "avp")


# -- a request built by hand: one record of every kind the DPO must see -----------------------------------


def facts_of(identifiers: tuple[Identifier, ...], request_id: str = REQUEST, language: str = "en") -> RequestFacts:
    return RequestFacts(
        request_id=request_id, subject_request_id="t", controller="enefit-ee", language=language,
        request_type="access", identifiers=identifiers, delivery_email=None, delivery_phone=None,
        certificate_der=None, received_date=date(2026, 11, 1), due_date=date(2026, 12, 1), verification="verified",
        verification_reason=None, callback_urls=())


def make(system: str, source: str, key: str, fields: dict[str, tuple[str, Any]], matched_by: tuple[Identifier, ...],
         **extra: Any) -> Record:
    return Record(system=system, source=source, key=key, fields={k: v for k, (_, v) in fields.items()},
                  categories={k: c for k, (c, _) in fields.items()}, matched_by=matched_by,
                  retrieved_at=datetime(2026, 11, 2, tzinfo=UTC), **extra)


class HandBuilt:
    """A request with released records, a weak match (and its child), an unbound claim, another person."""

    def __init__(self) -> None:
        anchor = Identifier.anchor(ANCHOR_CODE)
        email = Identifier.of(IdentityType.EMAIL, EMAIL, via=("request", "anchor", "billing.contacts"))
        claim = Identifier.claimed(IdentityType.CUSTOMER_ID, "100008")
        self.identifiers = (anchor, claim)
        self.graph = IdentityGraph()
        for identifier in (anchor, email, claim,
                           Identifier.of(IdentityType.CUSTOMER_ID, "100001", via=("request", "anchor",
                                                                                  "billing.customers"))):
            self.graph.add(identifier)
        code = "user.government_id.national_identification_number"
        self.records = {
            "billing": [
                make("billing", "customers", "100001", {"personal_code": (code, ANCHOR_CODE),
                                                         "name": ("user.name", "Mari Maasikas")}, (anchor,)),
                make("billing", "invoices", "inv-1", {"number": ("user.financial.invoice", "A-1"),
                                                      "total_eur": ("user.financial.invoice", 12.5)}, (anchor,),
                     parent=("customers", "100001"), event_date=date(2010, 1, 31)),
                make("billing", "customers", "100008", {"personal_code": (code, STRANGER_CODE),
                                                         "name": ("user.name", "Stranger Persona")}, (claim,)),
                make("billing", "invoices", "inv-9", {"number": ("user.financial.invoice", "S-9")}, (claim,),
                     parent=("customers", "100008")),
            ],
            "volt": [
                make("volt", "accounts", "acct-7", {"email": ("user.contact.email", EMAIL),
                                                 "display_name": ("user.name", HOSTILE_NAME)}, (email,)),
                make("volt", "charging_sessions", HOSTILE_KEY, {"energy_kwh": ("user.mobility.charging_session", 7.5)},
                     (email,), parent=("accounts", "acct-7")),
            ],
            "recordings": [
                make("recordings", "calls", "call-7", {"caller_number": ("user.contact.phone_number.caller",
                                                                         "+37255550007")}, (claim,)),
            ],
        }
        self.results = {name: SystemResult(name, SystemStatus.COMPLETE, self.records.get(name, []))
                        for name in SYSTEMS}
        self.facts = facts_of(self.identifiers)
        self.outcome = review(self.facts, self.graph, self.results, today=TODAY)

    def bundle(self) -> str:
        return build_review_bundle(self.facts, self.graph, self.results, self.outcome, bound_inputs=BOUND,
                                   today=TODAY).decode("utf-8")


@pytest.fixture(scope="module")
def built() -> HandBuilt:
    return HandBuilt()


@pytest.fixture
def store(tmp_path: Path) -> LocalWorkStore:
    return LocalWorkStore(tmp_path / "work")


@pytest.fixture
def keys(tmp_path: Path) -> LocalKeyProvider:
    return LocalKeyProvider(tmp_path / "keys" / "local.key")


class Sections(HTMLParser):
    """The text of each `<section id=…>` and of each record entry, unescaped (what the DPO reads)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: dict[str, list[str]] = {}
        self._open: list[tuple[str, str | None]] = []
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs.extend(attrs)
        ident = dict(attrs).get("id") if tag in ("section", "div") else None
        self._open.append((tag, ident))
        if ident:
            self.text.setdefault(ident, [])

    def handle_endtag(self, tag: str) -> None:
        while self._open:
            if self._open.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        for _, ident in self._open:
            if ident:
                self.text[ident].append(data)

    def __getitem__(self, ident: str) -> str:
        return " ".join(" ".join(self.text[ident]).split())


def parse(document: str) -> Sections:
    parser = Sections()
    parser.feed(document)
    return parser


def entry_of(parsed: Sections, key: str, system: str | None = None, source: str | None = None) -> str:
    """The text of the under-review entry of record `key` (of `system`.`source` when given): exactly one."""
    where = f"System / source {system} / {source} " if system else ""
    (found,) = [parsed[i] for i in parsed.text
                if i.startswith("rec-") and f"{where}Record id {key} " in parsed[i]]
    return found


# -- what the bundle shows ------------------------------------------------------------------------------------


def test_every_record_under_review_is_shown_with_its_cause_and_identifier_chain(built: HandBuilt) -> None:
    dispositions = built.outcome.dispositions
    assert dispositions[("volt", "accounts", "acct-7")] is Disposition.REVIEW
    assert dispositions[("billing", "customers", "100008")] is Disposition.OTHER_PERSON
    parsed = parse(built.bundle())
    held = [r for res in built.results.values() for r in res.records
            if dispositions[r.ref] in (Disposition.REVIEW, Disposition.OTHER_PERSON)]
    assert len(held) == 5
    assert len([i for i in parsed.text if i.startswith("rec-")]) == len(held)
    for record in held:
        entry = entry_of(parsed, record.key)
        assert f"System / source {record.system} / {record.source}" in entry
        cause = "other_person" if dispositions[record.ref] is Disposition.OTHER_PERSON \
            else built.outcome.causes[record.ref].value
        assert f"Cause {cause} —" in entry

    weak = entry_of(parsed, "acct-7")
    # anchor (from the request) → billing.contacts revealed the e-mail → it matched the Volt account
    assert re.search(r"the request's personal code \(anchor[^)]*\): personal_code 38001085718 \(strong\) "
                     r"revealed by billing\.contacts: email mari\.maasikas@example\.ee \(weak\) "
                     r"→ matched this record \(email, weak\)", weak), weak
    assert f"display_name user.name {HOSTILE_NAME}" in weak  # shown as text, escaped in the markup
    child = entry_of(parsed, HOSTILE_KEY)
    assert "belongs to volt.accounts acct-7" in child and "Cause weak_match" in child

    unbound = entry_of(parsed, "call-7")
    assert "Cause unbound_identifier" in unbound
    assert "claimed in the ticket (not bound to the anchor): customer_id 100008 (unbound)" in unbound

    stranger = entry_of(parsed, "100008")
    assert "holds a personal code other than the request's" in stranger and STRANGER_CODE in stranger
    assert "belongs to billing.customers 100008, another person's record" in entry_of(parsed, "inv-9")


def test_header_release_and_held_sections_count_right(built: HandBuilt) -> None:
    parsed = parse(built.bundle())
    summary = bundle_summary(built.outcome)
    assert summary == {"under_review": 3, "other_person": 2, "released": 2, "held": 5, "retention_findings": 1}
    top = " ".join(" ".join(parsed.text.get(i, [])) for i in parsed.text)
    assert REQUEST in top
    document = built.bundle()
    for value in (REQUEST, "enefit-ee", "2026-12-01", "a" * 64, "b" * 64, "review_findings", "billing_records"):
        assert value in document
    for reason in built.outcome.reasons:
        assert reason in document
    assert {"unbound_identifier", "other_person", "weak_matches"} <= set(built.outcome.reasons)

    released = parsed["would-be-released"]
    assert "(2 in all)" in released
    assert "customers 1 1 ids 100001" in released and "invoices 1 1 ids inv-1" in released
    assert "acct-7" not in released and "100008" not in released and "call-7" not in released

    held = parsed["would-be-held"]
    assert "records under review (3) and other people's records (2, never released)" in held
    assert "accounts 1 weak_match: 1" in held
    assert "charging_sessions 1 weak_match: 1" in held
    assert "customers 1 other_person: 1" in held and "invoices 1 other_person: 1" in held
    assert "calls 1 unbound_identifier: 1" in held
    # the old invoice is the requester's and past the 7-year accounting period: found, and it goes out
    assert "Retention findings (1)" in held
    assert "billing invoices inv-1 accounting 2010-01-31 2017-01-31 release" in held


def test_draft_letter_is_the_review_copy_with_each_statement_s_source(built: HandBuilt) -> None:
    document = built.bundle()
    parsed = parse(document)
    letter = parsed["draft-letter"]
    # the letter itself, as render_letter writes it, every Art. 15 section present
    for section in SECTION_IDS:
        assert f'id="{section}"' in document
    assert "Enefit AS" in letter and REQUEST in letter
    # each purpose the letter prints stands beside the notice section it comes from
    context = draft_letter_context(built.facts, built.results, built.outcome, TODAY)
    printed = context.purposes()
    assert printed
    for key, purpose in printed:
        assert purpose.text.en in letter
        assert f"notice: {purpose.notice} — profile enefit-ee purposes.{key}" in letter
    assert "GDPR Art. 16 (the letter's standard wording)" in letter
    assert "Profile written from the notice enefit-as-ee.txt (ru, in force from 2025-09-19)" in letter
    # a source beside every paragraph and list item of the review copy (list items inside tables aside)
    doc = lxml.html.document_fromstring(document)
    (copy,) = doc.xpath('//section[@id="draft-letter"]//div[@class="letter"]')
    blocks = copy.xpath('.//section//p | .//section//li[not(ancestor::table)]')
    assert len(blocks) > 20
    for block in blocks:
        if block.xpath('ancestor-or-self::span[contains(@class, "src")]'):
            continue
        assert block.xpath('./span[contains(concat(" ", @class, " "), " src ")]'), \
            f"no source beside: {block.text_content()[:80]!r}"


def _profile_with(change) -> ControllerProfile:
    data = load_profile("enefit-ee").model_dump()
    change(data)
    return ControllerProfile.model_validate(data)


GUESS = {"en": "To guess what you might like (test purpose).", "et": "Et arvata, mis teile meeldib (testeesmärk).",
         "lv": "Lai uzminētu, kas jums patīk (testa nolūks).", "ru": "Чтобы угадать, что вам нравится (тестовая цель)."}


def _add_guess(confirmed: bool):
    def change(data: dict[str, Any]) -> None:
        extra = {"confirmed_by": "Mari Kask (DPO)", "confirmed_on": date(2026, 11, 30)} if confirmed else {}
        data["purposes"]["guess"] = {"basis": ["f"], "text": GUESS, "from_notice": False,
                                     "why": "Our reading of the invoices' use; the notice ties no purpose to them.",
                                     **extra}
        data["categories"]["user.financial.invoice"] = [*data["categories"]["user.financial.invoice"], "guess"]
    return change


@pytest.mark.parametrize("confirmed", [False, True])
def test_our_reading_is_to_confirm_until_confirmed_then_printed_with_who_confirmed_it(
        built: HandBuilt, monkeypatch, confirmed: bool) -> None:
    from dsar_pipeline.letter import request_context

    monkeypatch.setattr(request_context, "load_profile", lambda _id: _profile_with(_add_guess(confirmed)))
    parsed = parse(built.bundle())
    letter = parsed["draft-letter"]
    (copy,) = [parsed[i] for i in parsed.text if i == "art15-1a"]
    if confirmed:
        assert GUESS["en"] in copy
        assert "confirmed by Mari Kask (DPO) on 2026-11-30 — profile enefit-ee purposes.guess" in copy
        to_confirm = letter[letter.index("To confirm"):letter.index("The letter (review copy)")]
        assert "purposes.guess" not in to_confirm
    else:
        assert GUESS["en"] not in copy  # not in the letter ...
        assert "purposes.guess" in letter and GUESS["en"] in letter  # ... but in "To confirm", with its sentence
        assert "Our reading of the invoices' use; the notice ties no purpose to them." in letter
        assert letter.index("To confirm") < letter.index(GUESS["en"]) < letter.index("The letter (review copy)")


def test_a_letter_in_another_language_shows_both_wordings(built: HandBuilt) -> None:
    facts = facts_of(built.identifiers, language="lv")
    document = build_review_bundle(facts, built.graph, built.results, built.outcome, bound_inputs={},
                                   today=TODAY).decode()
    assert '<div class="letter" lang="lv">' in document and '<html lang="en">' in document
    context = draft_letter_context(facts, built.results, built.outcome, TODAY)
    (_key, purpose), *_ = context.purposes()
    # the letter's own Latvian wording, with the English beside it for the DPO
    assert str(escape(purpose.text.lv)) in document and f"EN: {escape(purpose.text.en)}" in document
    assert "none given" in document  # no input digests passed: the header says so


def test_a_letter_that_cannot_be_built_is_shown_as_such_not_a_lost_bundle(built: HandBuilt, monkeypatch) -> None:
    import dsar_pipeline.review.bundle as bundle

    def broken(*_: Any, **__: Any) -> None:
        raise ValueError("profile 'enefit-ee': retention: no period <b>")

    monkeypatch.setattr(bundle, "draft_letter", broken)
    parsed = parse(built.bundle())
    assert "The draft letter could not be built, so the package could not be built either: ValueError: profile " \
        "'enefit-ee': retention: no period <b>" in parsed["draft-letter"]
    assert len([i for i in parsed.text if i.startswith("rec-")]) == 5


def test_no_value_from_a_record_can_become_markup(built: HandBuilt) -> None:
    document = built.bundle()
    assert "<script" not in document.lower()
    assert "<img" not in document.lower()
    assert str(escape(HOSTILE_NAME)) in document and "&lt;script&gt;alert(" in document
    assert str(escape(HOSTILE_KEY)) in document and "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;" in document
    assert "default-src 'none'" in document  # and the browser would refuse scripts and fetches anyway
    parsed = parse(document)
    assert set(parsed.tags) <= {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "table",
                                "tr", "th", "td", "section", "div", "span", "ol", "ul", "li", "strong", "a",
                                "details", "summary", "br", "footer", "header", "em", "code", "thead", "tbody"}
    names = {name for name, _ in parsed.attrs}
    assert names <= {"lang", "charset", "name", "content", "http-equiv", "class", "id", "href", "scope", "colspan"}
    assert all(value and value.startswith("#") for name, value in parsed.attrs if name == "href"), \
        "links stay inside the document: no external resource"
    assert not any(name.startswith("on") for name in names)


def test_chain_steps_between_request_and_record_are_derived_from_the_graph() -> None:
    anchor = Identifier.anchor(ANCHOR_CODE)
    revealed = ("request", "anchor", "billing.contacts")
    email = Identifier.of(IdentityType.EMAIL, EMAIL, via=revealed)
    phone = Identifier.of(IdentityType.PHONE, "+37255550001", via=revealed)
    number = Identifier.of(IdentityType.METERING_POINT_EIC, "38ZEE-00007016-E", via=revealed)
    account = Identifier.of(IdentityType.VOLT_ACCOUNT_ID, "acc-1", via=(*revealed, "volt.accounts"),
                            source_strength=Strength.WEAK)
    chain = identifier_chain(account, [anchor, email, phone, number, account])
    root, middle, last = chain.steps
    assert root.identifiers == (anchor,) and root.derived
    # Volt could have been asked with the e-mail or the phone (not with an EIC): the path does not say which
    assert middle.step == "revealed by billing.contacts" and middle.derived
    assert set(middle.identifiers) == {email, phone}
    assert last.step == "revealed by volt.accounts" and last.identifiers == (account,) and not last.derived


# -- sealed for the DPO ------------------------------------------------------------------------------------------


def test_sealed_bundle_opens_for_the_dpo_and_holds_no_plaintext(built: HandBuilt, store, keys) -> None:
    document = built.bundle().encode()
    digest = seal_review_bundle(store, keys, REQUEST, document)
    sealed = store.get(sealed_object_key(REQUEST, REVIEW_BUNDLE))
    assert digest == hashlib.sha256(sealed).hexdigest() == sealed_digest(store, REQUEST, REVIEW_BUNDLE)
    assert open_review_bundle(store, keys, REQUEST, expected_sha256=digest) == document
    assert open_review_bundle(store, keys, REQUEST) == document
    personal = [ANCHOR_CODE, STRANGER_CODE, EMAIL, "Mari Maasikas", "Stranger Persona", "alert('dpo')",
                "+37255550007", "100008", "100001", "acct-7", "call-7", "S-9"]
    for value in personal:
        assert value.encode() not in sealed, value
        assert html.escape(value).encode() not in sealed, value
    assert b'"audience":"dpo"' in sealed and REQUEST.encode() in sealed  # the context: opaque ids only


def test_a_changed_bundle_is_refused_not_shown(built: HandBuilt, store, keys) -> None:
    digest = seal_review_bundle(store, keys, REQUEST, built.bundle().encode())
    with pytest.raises(ReviewBundleChanged):
        open_review_bundle(store, keys, REQUEST, expected_sha256="0" * 64)
    key = sealed_object_key(REQUEST, REVIEW_BUNDLE)
    sealed = bytearray(store.get(key))
    sealed[-40] ^= 0x01  # one bit of the ciphertext
    store.put(key, bytes(sealed))
    with pytest.raises(ReviewBundleChanged):
        open_review_bundle(store, keys, REQUEST, expected_sha256=digest)
    with pytest.raises(ReviewBundleChanged):
        open_review_bundle(store, keys, REQUEST)  # without the hash: authentication fails all the same
    store.put(key, bytes(sealed[:-100]))  # cut short
    with pytest.raises(ReviewBundleChanged):
        open_review_bundle(store, keys, REQUEST)


def test_a_bundle_moved_to_another_request_is_refused(built: HandBuilt, store, keys) -> None:
    seal_review_bundle(store, keys, REQUEST, built.bundle().encode())
    store.put(sealed_object_key("r-other", REVIEW_BUNDLE), store.get(sealed_object_key(REQUEST, REVIEW_BUNDLE)))
    with pytest.raises(ReviewBundleChanged):
        open_review_bundle(store, keys, "r-other")


def test_a_missing_bundle_and_another_key_are_told_apart(built: HandBuilt, store, keys, tmp_path: Path) -> None:
    with pytest.raises(ReviewBundleMissing):
        open_review_bundle(store, keys, REQUEST)
    seal_review_bundle(store, keys, REQUEST, built.bundle().encode())
    with pytest.raises(ReviewBundleUnreadable):
        open_review_bundle(store, LocalKeyProvider(tmp_path / "someone-else.key"), REQUEST)


class PolicyKms:
    """Stands in for KMS under a key policy: records every context, and refuses `Decrypt` under
    `audience=dpo` unless it is the DPO's role (the pipeline's role may only encrypt)."""

    def __init__(self, inner: LocalKeyProvider, role: str, log: list[tuple[str, str, dict[str, str]]]) -> None:
        self.inner, self.role, self.log = inner, role, log

    @property
    def provider_id(self) -> str:
        return "kms:" + self.inner.provider_id.split(":", 1)[1]

    def new_data_key(self, context: Mapping[str, str]) -> tuple[bytes, bytes]:
        self.log.append((self.role, "GenerateDataKey", dict(context)))
        return self.inner.new_data_key(context)

    def unwrap(self, wrapped_key: bytes, context: Mapping[str, str]) -> bytes:
        self.log.append((self.role, "Decrypt", dict(context)))
        if context.get("audience") == "dpo" and self.role != "dpo":
            raise KeyUnwrapError("AccessDeniedException")
        return self.inner.unwrap(wrapped_key, context)


def test_with_kms_the_key_policy_decides_who_opens_it(built: HandBuilt, store, keys) -> None:
    """Behind the request-key cache too, the bundle's data key comes from KMS under audience=dpo, so
    the pipeline's role (which seals it) cannot open it, and every opening is a logged KMS Decrypt."""
    log: list[tuple[str, str, dict[str, str]]] = []
    pipeline = RequestKeyCache(PolicyKms(keys, "pipeline", log))
    dpo = RequestKeyCache(PolicyKms(keys, "dpo", log))
    document = built.bundle().encode()
    digest = seal_review_bundle(store, pipeline, REQUEST, document)
    assert log == [("pipeline", "GenerateDataKey", bundle_context(REQUEST))]
    assert bundle_context(REQUEST) == {"asset": "review_bundle", "audience": "dpo", "request_ref": REQUEST}
    with pytest.raises(ReviewBundleUnreadable):
        open_review_bundle(store, pipeline, REQUEST, expected_sha256=digest)
    assert open_review_bundle(store, dpo, REQUEST, expected_sha256=digest) == document
    assert log[1:] == [("pipeline", "Decrypt", bundle_context(REQUEST)), ("dpo", "Decrypt", bundle_context(REQUEST))]


# -- end to end against the sandbox: real weak matches, a real stranger ------------------------------------------


@pytest.fixture
def _no_faults(clean_faults, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("DSAR_RELEASE_POLICY", raising=False)
    return clean_faults


def sandbox_request(federation, identities: list[tuple[str, str]], request_id: str):
    identifiers = ticket_identifiers(identities)
    graph, results = collect_everything(federation.settings, identifiers)
    assert all(r.status is SystemStatus.COMPLETE for r in results.values())
    facts = facts_of(identifiers, request_id=request_id)
    return facts, graph, results, review(facts, graph, results, today=federation.population.as_of)


def check_bundle(facts: RequestFacts, graph: IdentityGraph, results: Mapping[str, SystemResult],
                 outcome: ReviewOutcome, store: LocalWorkStore, keys: LocalKeyProvider,
                 secrets: list[str]) -> Sections:
    document = build_review_bundle(facts, graph, results, outcome, bound_inputs=BOUND, today=TODAY)
    digest = seal_review_bundle(store, keys, facts.request_id, document)
    sealed = store.get(sealed_object_key(facts.request_id, REVIEW_BUNDLE))
    for value in secrets:
        assert value.encode() not in sealed
    opened = open_review_bundle(store, keys, facts.request_id, expected_sha256=digest).decode()
    parsed = parse(opened)
    held = [r for res in results.values() for r in res.records
            if outcome.dispositions[r.ref] in (Disposition.REVIEW, Disposition.OTHER_PERSON)]
    entries = [i for i in parsed.text if i.startswith("rec-")]
    assert len(entries) == len(held) > 0
    for record in held:
        entry = entry_of(parsed, record.key, record.system, record.source)
        cause = "other_person" if outcome.dispositions[record.ref] is Disposition.OTHER_PERSON \
            else outcome.causes[record.ref].value
        assert f"Cause {cause} —" in entry
        for matched in record.matched_by:
            assert f"→ matched this record ({matched.type.value}, {matched.strength.value})" in entry
            assert matched.value in entry
    summary = bundle_summary(outcome)
    assert f"({summary['released']} in all)" in parsed["would-be-released"]
    assert (f"records under review ({summary['under_review']}) and other people's records "
            f"({summary['other_person']}, never released)") in parsed["would-be-held"]
    assert '<section id="art15-4">' in opened and "Art. 15(4)" in parsed["draft-letter"]
    return parsed


def test_a_households_shared_phone_bundle(federation, _no_faults, store, keys) -> None:
    person = federation.population.case("household-a")
    facts, graph, results, outcome = sandbox_request(
        federation, [("personal_code", person.personal_code), ("email", person.email), ("phone", person.phone)],
        "r-bundle-household")
    assert outcome.counts["weak_match"] > 0 and outcome.counts["other_person"] > 0
    other = federation.population.case("household-b")
    parsed = check_bundle(facts, graph, results, outcome, store, keys,
                          [person.personal_code, person.email, person.phone, other.personal_code])
    # the phone the anchor's billing contacts revealed is what reached the other adult's records
    weak = next(parsed[i] for i in parsed.text if i.startswith("rec-") and "Cause weak_match" in parsed[i])
    assert f"personal_code {person.personal_code} (strong) revealed by billing.contacts:" in weak


def test_a_strangers_customer_number_bundle(federation, _no_faults, store, keys) -> None:
    from sandbox.people import named_people

    named = {p["name"]: p for p in named_people(population=federation.population)}
    own, stranger = named["impostor"], named["stranger"]
    facts, graph, results, outcome = sandbox_request(
        federation, [("personal_code", str(own["personal_code"])), ("customer_number", str(stranger["customer_id"]))],
        "r-bundle-impostor")
    assert outcome.counts["other_person"] > 0
    parsed = check_bundle(facts, graph, results, outcome, store, keys,
                          [str(own["personal_code"]), str(stranger["personal_code"]), str(stranger["email"])])
    claimed = [parsed[i] for i in parsed.text if i.startswith("rec-")
               and f"claimed in the ticket (not bound to the anchor): customer_id {stranger['customer_id']}"
               in parsed[i]]
    assert claimed
