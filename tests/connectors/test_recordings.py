"""The recordings connector against the sandbox's S3 bucket: exactly the right calls, strengths, audio and failures.

Expected results are derived from the sandbox population (the ground truth: `population.calls`)
by the call centre's matching rule (exact E.164 caller number, billing customer id), never from the
connector's own answers. Audio is checked against the objects as a plain boto3 client reads them.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import subprocess
import sys
import textwrap
import time
import wave
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from connectors.contract import Attachment, Connector, Record
from connectors.errors import ConnectorError, PermanentError, TruncatedPage
from connectors.identity import Identifier, IdentityType, Strength
from connectors.recordings import CopyResult, RecordingsConnector
from connectors.recordings.index_cache import IndexCache
from connectors.recordings.matching import Wanted
from connectors.recordings.store import check_page, split_lines
from connectors.registry import systems
from connectors.retry import RetryPolicy
from sandbox import records as r
from sandbox.faults import parse_spec
from sandbox.population import CASES, Population
from sandbox.recordings.accounts import CALL_CENTRE
from sandbox.recordings.seed import client as sandbox_client

T = IdentityType
FAST = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05)
PATIENT = RetryPolicy(max_attempts=10, base_delay_s=0.01, max_delay_s=0.05)  # 0.3^10: never all fail
TEST_PREFIX = "dsar-tests/"
REPO = Path(__file__).resolve().parents[2]
Matchers = set[tuple[IdentityType, str]]


# -- ground truth ---------------------------------------------------------------------------------

def request_identifiers(pop: Population, case: str) -> list[Identifier]:
    """What resolution hands the recordings system for a named person: billing customer ids and the phone."""
    person = pop.case(case)
    found = [Identifier.of(T.CUSTOMER_ID, str(c.id), via=("request", "billing.customers"))
             for c in pop.customer_of(person.key)]
    found += [Identifier.of(T.PHONE, person.phone)] if person.phone else []
    return found


def call_matchers(call: r.Call, identifiers: list[Identifier]) -> Matchers:
    mine = {(T.PHONE, call.caller_number)}
    if call.customer_id is not None:
        mine.add((T.CUSTOMER_ID, str(call.customer_id)))
    return mine & {(i.type, i.value) for i in identifiers}


def truth(pop: Population, identifiers: list[Identifier]) -> dict[str, Matchers]:
    """Call id -> the identifiers that must have found it."""
    return {call.id: hits for call in pop.calls if (hits := call_matchers(call, identifiers))}


def keys(identifiers: Any) -> Matchers:
    return {(i.type, i.value) for i in identifiers}


def month_count(pop: Population) -> int:
    """How many month indexes the bucket holds (one per UTC month with a call)."""
    return len({c.started_at.astimezone(UTC).strftime("%Y-%m") for c in pop.calls})


def calls_of(pop: Population, case: str) -> list[r.Call]:
    return [c for c in pop.calls if c.person_key == pop.case(case).key]


def no_personal_values(message: str, pop: Population, case: str) -> bool:
    person = pop.case(case)
    values = [person.phone, person.personal_code, *(c.id for c in calls_of(pop, case))]
    return all(v not in message for v in values if v)


# -- fixtures -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pop(federation: Any) -> Population:
    return federation.population  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def s3(federation: Any) -> Any:
    """A plain boto3 client on the call centre's endpoint: the test's independent view of the bucket."""
    return sandbox_client("s3", federation.settings["DSAR_RECORDINGS_ENDPOINT_URL"],
                          federation.settings["DSAR_RECORDINGS_REGION"], account=CALL_CENTRE)


@pytest.fixture(scope="module")
def bucket(federation: Any) -> str:
    return federation.settings["DSAR_RECORDINGS_BUCKET"]  # type: ignore[no-any-return]


@pytest.fixture
def recordings(federation: Any) -> Iterator[RecordingsConnector]:
    with RecordingsConnector.from_settings(federation.settings, policy=FAST) as connector:
        yield connector


@pytest.fixture(scope="module")
def demo_records(federation: Any, pop: Population) -> list[Record]:
    with RecordingsConnector.from_settings(federation.settings, policy=FAST) as connector:
        return list(connector.collect(request_identifiers(pop, "demo")))


# -- every named person: exactly the calls the ground truth says --------------------------------

@pytest.mark.parametrize("case", list(CASES))
def test_each_named_person_gets_exactly_their_calls(recordings: RecordingsConnector, pop: Population,
                                                    case: str) -> None:
    identifiers = request_identifiers(pop, case)
    expected = truth(pop, identifiers)
    records = list(recordings.collect(identifiers))
    assert len(records) == len({rec.key for rec in records}), "a call was yielded twice"
    assert {rec.key for rec in records} == set(expected)
    strong = {(i.type, i.value) for i in identifiers if i.is_strong}
    by_id = {call.id: call for call in pop.calls}
    for record in records:
        call = by_id[record.key]
        assert (record.system, record.source, record.parent, record.reveals) == ("recordings", "calls", None, ())
        assert keys(record.matched_by) == expected[record.key]
        assert record.strength is (Strength.STRONG if expected[record.key] & strong else Strength.WEAK)
        assert set(record.fields) == set(RecordingsConnector.sources["calls"].fields)
        assert record.fields["call_id"] == call.id and record.fields["caller_number"] == call.caller_number
        assert record.fields["customer_id"] == call.customer_id
        assert (record.fields["agent_id"], record.fields["agent_name"]) == (call.agent_id, call.agent_name)
        assert record.fields["started_at"] == call.started_at.replace(microsecond=0)
        assert record.fields["duration_s"] == call.duration_s
        assert (record.fields["queue"], record.fields["channel"], record.fields["language"]) == (
            call.queue, call.channel, call.language)
        assert record.event_date == call.started_at.astimezone(UTC).date()
        assert (record.attachment is not None) == (call.channel == "voice")
        assert [(t["speaker"], t["text"]) for t in record.fields["transcript"]] == [
            (t["speaker"], t["text"]) for t in call.transcript]


def test_named_cases_cover_strong_weak_unmatched_and_nothing(pop: Population) -> None:
    """Guard for the test above: the cases include calls without a customer id, weak finds and empty people."""
    found = {case: truth(pop, request_identifiers(pop, case)) for case in CASES}
    assert len(found["demo"]) == 20 and all(c.customer_id is not None for c in calls_of(pop, "demo"))
    assert any(c.customer_id is None for c in calls_of(pop, "household-a"))
    assert all(c.customer_id is None for c in calls_of(pop, "household-b"))
    assert any(c.customer_id is None for c in calls_of(pop, "debtor"))
    assert {c.channel for c in calls_of(pop, "demo")} == {"voice", "chatbot"}
    for case in ("unknown", "portal-only", "volt-only", "two-contracts", "sole-trader"):
        assert found[case] == {}, case


def test_demo_calls_are_all_strong_found_by_customer_id_and_phone(demo_records: list[Record],
                                                                  pop: Population) -> None:
    demo = pop.case("demo")
    [customer] = pop.customer_of(demo.key)
    assert len(demo_records) == 20
    assert {rec.key for rec in demo_records} == {c.id for c in calls_of(pop, "demo")}
    assert all(rec.strength is Strength.STRONG for rec in demo_records)
    assert all(keys(rec.matched_by) == {(T.CUSTOMER_ID, str(customer.id)), (T.PHONE, demo.phone)}
               for rec in demo_records)
    [calls] = {RecordingsConnector.sources["calls"].retention_rule}
    assert calls == "call_recording"


def test_household_a_own_matched_calls_strong_phone_only_calls_weak(recordings: RecordingsConnector,
                                                                   pop: Population) -> None:
    a, b = pop.case("household-a"), pop.case("household-b")
    [customer] = pop.customer_of(a.key)
    records = {rec.key: rec for rec in recordings.collect(request_identifiers(pop, "household-a"))}
    own, theirs = calls_of(pop, "household-a"), calls_of(pop, "household-b")
    assert set(records) == {c.id for c in own + theirs}
    for call in own:
        want = Strength.STRONG if call.customer_id == customer.id else Strength.WEAK
        assert records[call.id].strength is want, call.customer_id
    for call in theirs:  # the other adult's calls, reached through the shared phone only
        assert call.caller_number == a.phone == b.phone and call.customer_id is None
        assert records[call.id].strength is Strength.WEAK
        assert keys(records[call.id].matched_by) == {(T.PHONE, a.phone)}


def test_a_call_on_another_customer_id_is_phone_matched_only(recordings: RecordingsConnector,
                                                              pop: Population) -> None:
    """household-b shares a's phone: a's calls carry a's customer id, not b's (b has none): weak for b."""
    a = pop.case("household-a")
    [customer_a] = pop.customer_of(a.key)
    [customer_demo] = pop.customer_of(pop.case("demo").key)
    identifiers = [Identifier.of(T.PHONE, a.phone or ""),
                   Identifier.of(T.CUSTOMER_ID, str(customer_demo.id), via=("request", "billing.customers"))]
    records = [rec for rec in recordings.collect(identifiers) if rec.fields["customer_id"] == customer_a.id]
    assert records and all(rec.strength is Strength.WEAK for rec in records)
    assert all(keys(rec.matched_by) == {(T.PHONE, a.phone)} for rec in records)


def test_a_customer_id_revealed_by_a_weak_match_does_not_make_calls_strong(recordings: RecordingsConnector,
                                                                          pop: Population) -> None:
    [customer] = pop.customer_of(pop.case("latvian").key)
    weak_id = Identifier.of(T.CUSTOMER_ID, str(customer.id), via=("request", "portal.users"),
                            source_strength=Strength.WEAK)
    records = list(recordings.collect([weak_id]))
    assert {rec.key for rec in records} == set(truth(pop, [weak_id])) != set()
    assert all(rec.strength is Strength.WEAK for rec in records)


def test_unknown_person_yields_an_explicit_empty_result(recordings: RecordingsConnector, pop: Population) -> None:
    identifiers = request_identifiers(pop, "unknown")
    assert identifiers, "the unknown person still has a phone to search by"
    assert list(recordings.collect(identifiers)) == []
    assert recordings.calls_made == 1 + month_count(pop), "one listing and every month index read"


def test_discover_reveals_nothing_and_asks_nothing(recordings: RecordingsConnector, pop: Population) -> None:
    assert RecordingsConnector.reveals == frozenset()
    assert list(recordings.discover(request_identifiers(pop, "demo"))) == []
    assert recordings.calls_made == 0


def test_identifiers_of_other_types_are_ignored_without_a_call(recordings: RecordingsConnector,
                                                               pop: Population) -> None:
    demo = pop.case("demo")
    assert list(recordings.collect([Identifier.of(T.PERSONAL_CODE, demo.personal_code),
                                    Identifier.of(T.EMAIL, demo.email or "")])) == []
    assert recordings.calls_made == 0


# -- fields ---------------------------------------------------------------------------------------

def test_agents_are_tagged_third_party_and_transcripts_say_who_spoke(demo_records: list[Record],
                                                                     pop: Population) -> None:
    by_id = {c.id: c for c in calls_of(pop, "demo")}
    chats = [rec for rec in demo_records if rec.fields["channel"] == "chatbot"]
    assert chats, "demo has chatbot sessions"
    for record in demo_records:
        assert record.categories["agent_id"] == record.categories["agent_name"] == "third_party.staff"
        assert record.categories["transcript"] == "user.content.chat_transcript"
        assert record.categories["caller_number"] == "user.contact.phone_number"
        assert record.categories["started_at"] == "user.content.call_metadata"
    for record in chats:
        call = by_id[record.key]
        turns = record.fields["transcript"]
        assert [t["role"] for t in turns] == ["customer", "bot", "customer", "agent"]
        [agent_turn] = [t for t in turns if t["role"] == "agent"]
        assert agent_turn["agent_name"] == call.agent_name and agent_turn["agent_id"] == call.agent_id
        assert call.agent_name in agent_turn["text"]  # why the redaction must know whose turn it is
        assert all("agent_name" not in t for t in turns if t["role"] != "agent")
        assert record.attachment is None
    assert all(rec.fields["transcript"] == [] for rec in demo_records if rec.fields["channel"] == "voice")


def test_datetimes_are_aware_utc(demo_records: list[Record]) -> None:
    for record in demo_records:
        started, ended = record.fields["started_at"], record.fields["ended_at"]
        assert started.tzinfo is UTC and ended.tzinfo is UTC
        assert (ended - started).total_seconds() == record.fields["duration_s"]


# -- audio ----------------------------------------------------------------------------------------

def test_audio_attachments_name_the_objects_with_their_sizes(demo_records: list[Record], pop: Population,
                                                             s3: Any, bucket: str) -> None:
    voice = {c.id: c for c in calls_of(pop, "demo") if c.channel == "voice"}
    attached = {rec.key: rec.attachment for rec in demo_records if rec.attachment}
    assert set(attached) == set(voice) and len(voice) >= 10
    for call_id, attachment in attached.items():
        assert attachment.uri == f"s3://{bucket}/{voice[call_id].audio_key}"
        assert attachment.media_type == "audio/wav"
        assert attachment.size == s3.head_object(Bucket=bucket, Key=voice[call_id].audio_key)["ContentLength"]


def test_copy_attachment_streams_the_demo_wavs_byte_exact(federation: Any, demo_records: list[Record],
                                                          s3: Any, bucket: str) -> None:
    attachments = [rec.attachment for rec in demo_records if rec.attachment]
    with RecordingsConnector.from_settings(federation.settings, policy=FAST) as connector:
        for attachment in attachments:
            sink = io.BytesIO()
            result = connector.copy_attachment(attachment, sink, chunk_size=4096)
            direct = s3.get_object(Bucket=bucket, Key=attachment.uri.split("/", 3)[3])["Body"].read()
            assert result == CopyResult(len(direct), hashlib.sha256(direct).hexdigest())
            assert sink.getvalue() == direct and result.bytes == attachment.size
            sink.seek(0)
            with wave.open(sink, "rb") as clip:
                assert (clip.getnchannels(), clip.getsampwidth(), clip.getframerate()) == (1, 2, 8000)
                assert clip.getnframes() > 8000  # at least a second
        assert connector.calls_made == len(attachments)


BIG_COPY = textwrap.dedent("""
    import json, sys, tracemalloc
    from connectors.contract import Attachment
    from connectors.recordings import RecordingsConnector

    class Discard:
        def __init__(self): self.size = 0
        def write(self, data): self.size += len(data); return len(data)
        def seekable(self): return True
        def tell(self): return self.size
        def seek(self, offset): self.size = offset
        def truncate(self): pass

    job = json.load(sys.stdin)
    with RecordingsConnector.from_settings(job["settings"]) as connector:
        connector.copy_attachment(Attachment(**job["warm_up"]), Discard())  # botocore loads its models once
        tracemalloc.start()
        result = connector.copy_attachment(Attachment(**job["big"]), Discard())
        peak = tracemalloc.get_traced_memory()[1]
    print(json.dumps({"bytes": result.bytes, "sha256": result.sha256, "peak": peak}))
""")


def test_a_big_object_copies_with_flat_memory(federation: Any, demo_records: list[Record], s3: Any,
                                              bucket: str) -> None:
    """30 MB copied by a separate process (the sandbox's moto holds objects in this one's memory)."""
    size = 30 * 1024 * 1024
    blob = hashlib.sha256(b"big").digest() * (size // 32)
    key = f"{TEST_PREFIX}big-{time.time_ns()}.wav"
    s3.put_object(Bucket=bucket, Key=key, Body=blob, ContentType="audio/wav")
    try:
        warm_up = next(rec.attachment for rec in demo_records if rec.attachment)
        job = {"settings": federation.settings, "warm_up": vars(warm_up),
               "big": {"uri": f"s3://{bucket}/{key}", "size": size, "media_type": "audio/wav"}}
        done = subprocess.run([sys.executable, "-c", BIG_COPY], input=json.dumps(job), capture_output=True,
                              text=True, timeout=60, check=True, cwd=REPO)
        result = json.loads(done.stdout)
    finally:
        s3.delete_object(Bucket=bucket, Key=key)
    assert result["bytes"] == size and result["sha256"] == hashlib.sha256(blob).hexdigest()
    print(f"tracemalloc peak {result['peak'] / 2**20:.2f} MiB copying 30 MiB")
    assert result["peak"] < size / 6, f"peak {result['peak'] / 2**20:.1f} MiB while copying 30 MiB"


def test_a_failed_copy_is_retried_whole_into_a_rewound_sink(clean_faults: Any, demo_records: list[Record],
                                                            s3: Any, bucket: str) -> None:
    attachment = next(rec.attachment for rec in demo_records if rec.attachment)
    direct = s3.get_object(Bucket=bucket, Key=attachment.uri.split("/", 3)[3])["Body"].read()
    clean_faults.board.replace(parse_spec("recordings=truncate:0.5"))
    with RecordingsConnector.from_settings(clean_faults.settings, policy=PATIENT) as connector:
        for copies in range(1, 31):  # until one copy needed a retry (0.5^30: never none)
            sink = io.BytesIO()
            sink.write(b"kept")  # the copy starts where the sink stands, and rewinds only to there
            result = connector.copy_attachment(attachment, sink, chunk_size=1024)
            assert sink.getvalue() == b"kept" + direct and result.sha256 == hashlib.sha256(direct).hexdigest()
            if connector.calls_made > copies:
                break
        assert connector.calls_made > copies, "some copy had to be retried"


class OneWay(io.RawIOBase):
    """A sink that cannot be rewound (a pipe, a socket)."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.data += data
        return len(data)


def test_a_sink_that_cannot_be_rewound_is_refused_a_retry_not_spliced(clean_faults: Any,
                                                                     demo_records: list[Record]) -> None:
    attachment = next(rec.attachment for rec in demo_records if rec.attachment)
    clean_faults.board.replace(parse_spec("recordings=truncate:1.0"))
    with RecordingsConnector.from_settings(clean_faults.settings, policy=FAST) as connector, \
            pytest.raises(ConnectorError) as failure:
        connector.copy_attachment(attachment, OneWay(), chunk_size=1024)  # type: ignore[arg-type]
    assert failure.value.system == "recordings" and "cannot be rewound" in failure.value.cause


def test_a_copy_of_an_object_of_another_size_or_bucket_is_refused(recordings: RecordingsConnector,
                                                                  demo_records: list[Record]) -> None:
    attachment = next(rec.attachment for rec in demo_records if rec.attachment)
    wrong_size = Attachment(attachment.uri, attachment.size + 1, attachment.media_type)
    with pytest.raises(ConnectorError, match="the record announced"):
        recordings.copy_attachment(wrong_size, io.BytesIO())
    for uri in ("s3://dsar-packages/x.wav", "https://example.org/x.wav", "s3://call-recordings"):
        with pytest.raises(ConnectorError, match="not an object of the recordings bucket"):
            recordings.copy_attachment(Attachment(uri, 1, "audio/wav"), io.BytesIO())


# -- listing and streaming ------------------------------------------------------------------------

def test_small_listing_pages_are_followed_to_the_end(federation: Any, pop: Population) -> None:
    identifiers = request_identifiers(pop, "latvian")
    with RecordingsConnector.from_settings(federation.settings, policy=FAST, page_size=5,
                                           index_cache=IndexCache()) as small, \
            RecordingsConnector.from_settings(federation.settings, policy=FAST, index_cache=IndexCache()) as large:
        got_small, got_large = list(small.collect(identifiers)), list(large.collect(identifiers))
    assert [rec.key for rec in got_small] == [rec.key for rec in got_large]
    assert {rec.key for rec in got_small} == set(truth(pop, identifiers))
    assert small.calls_made - large.calls_made == math.ceil(month_count(pop) / 5) - 1


def test_records_are_streamed_not_gathered(federation: Any, pop: Population) -> None:
    """With one worker, the first call arrives long before the last month index is read."""
    identifiers = request_identifiers(pop, "demo")
    with RecordingsConnector.from_settings(federation.settings, policy=FAST, workers=1) as connector:
        stream = connector.collect(identifiers)
        first = next(stream)
        calls_at_first = connector.calls_made
        rest = list(stream)
    assert len(rest) == 19 and first.event_date is not None
    assert calls_at_first < connector.calls_made / 3


def test_results_come_in_month_order_whatever_the_workers(federation: Any, pop: Population) -> None:
    identifiers = request_identifiers(pop, "demo")
    with RecordingsConnector.from_settings(federation.settings, policy=FAST, workers=6) as connector:
        records = list(connector.collect(identifiers))
    starts = [rec.fields["started_at"] for rec in records]
    assert starts == sorted(starts) and len(records) == 20


class FakeBody:
    """A streaming body that delivers fewer bytes than its Content-Length without raising."""

    def __init__(self, data: bytes, chunk: int = 7) -> None:
        self.parts = [data[i:i + chunk] for i in range(0, len(data), chunk)]
        self.closed = False

    def iter_chunks(self, size: int) -> Iterator[bytes]:
        yield from self.parts

    def close(self) -> None:
        self.closed = True


def test_a_body_cut_short_silently_is_caught_by_the_byte_count() -> None:
    data = b'{"a": 1}\n{"b": 2}\n{"c": 3'
    body = FakeBody(data)
    lines: list[bytes] = []
    with pytest.raises(TruncatedPage, match="cut short"):
        lines.extend(split_lines(body, len(data) + 10))
    assert lines == [b'{"a": 1}', b'{"b": 2}'] and body.closed  # the unterminated tail never counts
    assert list(split_lines(FakeBody(data), len(data))) == [b'{"a": 1}', b'{"b": 2}', b'{"c": 3']
    with pytest.raises(TruncatedPage, match="longer than"):
        list(split_lines(FakeBody(data), len(data) - 1))


def test_listing_pages_must_be_whole() -> None:
    check_page({"Contents": [{"Key": "a"}], "KeyCount": 1, "IsTruncated": True, "NextContinuationToken": "t"}, 5)
    check_page({"KeyCount": 0, "IsTruncated": False}, 5)
    with pytest.raises(TruncatedPage):
        check_page({"Contents": [{"Key": "a"}], "KeyCount": 2, "IsTruncated": False}, 5)
    with pytest.raises(TruncatedPage):
        check_page({"Contents": [{"Key": "a"}], "KeyCount": 1, "IsTruncated": True}, 5)
    with pytest.raises(PermanentError):
        check_page({"Contents": [{"Key": "a"}] * 6, "KeyCount": 6, "IsTruncated": False}, 5)


# -- an index that promises what the bucket does not hold -----------------------------------------

PLANTED = {  # phone -> what its planted index line points at
    "+37255500001": "missing-sidecar",
    "+37255500002": "another-calls-sidecar",
    "+37255500003": "sidecar-of-someone-else",
    "+37255500004": "missing-audio",
    "+37255500005": "customer-id-only-in-the-index",
}


@pytest.fixture
def planted(pop: Population, s3: Any, bucket: str) -> Iterator[dict[str, str]]:
    """A month index (year 2099) of bad lines, plus a file under index/ that is not a month index."""
    assert not {c.caller_number for c in pop.calls} & set(PLANTED)
    demo_call = calls_of(pop, "demo")[0]
    objects: dict[str, bytes] = {}
    lines = []
    for n, (phone, kind) in enumerate(PLANTED.items(), 1):
        call_id = f"planted-{n}"
        meta_key = f"metadata/2099/12/0{n}/{call_id}.json"
        audio_key = f"audio/2099/12/0{n}/{call_id}.wav" if kind == "missing-audio" else None
        index_customer = 999001 if kind == "customer-id-only-in-the-index" else None
        lines.append({"call_id": call_id, "caller_number": phone, "customer_id": index_customer,
                      "started_at": f"2099-12-0{n}T10:00:00Z", "channel": "voice" if audio_key else "chatbot",
                      "audio_key": audio_key,
                      "metadata_key": demo_call.metadata_key if kind == "another-calls-sidecar" else meta_key})
        sidecar = {"schema": "call-metadata/1", "call_id": call_id, "channel": lines[-1]["channel"],
                   "caller_number": "+37255599999" if kind == "sidecar-of-someone-else" else phone,
                   "customer_id": None, "agent_id": "A-101", "agent_name": "Kadri Tamm",
                   "started_at": f"2099-12-0{n}T10:00:00Z", "ended_at": f"2099-12-0{n}T10:01:00Z",
                   "duration_s": 60, "queue": "general", "language": "et",
                   "recording": {"key": audio_key} if audio_key else None, "transcript": []}
        if kind not in ("missing-sidecar", "another-calls-sidecar"):
            objects[meta_key] = json.dumps(sidecar).encode()
    objects["index/2099-12.jsonl"] = "".join(json.dumps(line) + "\n" for line in lines).encode()
    objects["index/README.txt"] = b"not an index\n"
    for key, body in objects.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    yield PLANTED
    for key in objects:
        s3.delete_object(Bucket=bucket, Key=key)


@pytest.mark.parametrize(("phone", "cause"), [
    ("+37255500001", "GetObject metadata/{date}/{call-id}.json: HTTP 404 NoSuchKey"),
    ("+37255500002", "the sidecar is of another call"),
    ("+37255500003", "carries neither the caller number nor the customer id"),
    ("+37255500004", "HeadObject audio/{date}/{call-id}.wav: HTTP 404"),
])
def test_an_index_naming_what_is_not_there_is_a_failure_not_silence(
        recordings: RecordingsConnector, planted: dict[str, str], phone: str, cause: str) -> None:
    with pytest.raises(ConnectorError) as failure:
        list(recordings.collect([Identifier.of(T.PHONE, phone)]))
    assert failure.value.system == "recordings" and cause in failure.value.cause
    assert phone not in str(failure.value) and "planted" not in str(failure.value)


def test_a_customer_id_the_sidecar_does_not_confirm_is_not_counted(recordings: RecordingsConnector,
                                                                   planted: dict[str, str]) -> None:
    phone = Identifier.of(T.PHONE, "+37255500005")
    customer = Identifier.of(T.CUSTOMER_ID, "999001", via=("request", "billing.customers"))
    [record] = list(recordings.collect([phone, customer]))
    assert record.key == "planted-5" and record.strength is Strength.WEAK
    assert keys(record.matched_by) == {(T.PHONE, "+37255500005")}


# -- faults ---------------------------------------------------------------------------------------

def test_latency_is_slower_but_complete(clean_faults: Any, pop: Population) -> None:
    identifiers = request_identifiers(pop, "latvian")
    clean_faults.board.replace(parse_spec("recordings=latency:0.05"))
    started = time.monotonic()
    with RecordingsConnector.from_settings(clean_faults.settings, policy=FAST) as connector:
        records = list(connector.collect(identifiers))
    assert {rec.key for rec in records} == set(truth(pop, identifiers))
    assert time.monotonic() - started >= 0.05 * connector.calls_made / connector.workers


def test_errors_every_time_fail_after_bounded_retries_naming_the_cause(clean_faults: Any, pop: Population) -> None:
    clean_faults.board.replace(parse_spec("recordings=error:1.0"))
    with RecordingsConnector.from_settings(clean_faults.settings, policy=FAST) as connector, \
            pytest.raises(ConnectorError) as failure:
        list(connector.collect(request_identifiers(pop, "demo")))
    assert failure.value.system == "recordings"
    assert failure.value.cause.startswith("ListObjectsV2 index/: gave up after 3 attempts")
    assert "HTTP 503 ServiceUnavailable" in failure.value.cause  # the S3 XML error was read
    assert connector.calls_made == 3, "botocore must not retry on its own"
    assert no_personal_values(str(failure.value), pop, "demo")


def test_some_errors_are_retried_to_a_complete_result(clean_faults: Any, pop: Population) -> None:
    identifiers = request_identifiers(pop, "demo")
    clean_faults.board.replace(parse_spec("recordings=error:0.3"))
    with RecordingsConnector.from_settings(clean_faults.settings, policy=PATIENT) as connector:
        records = list(connector.collect(identifiers))
    assert {rec.key for rec in records} == set(truth(pop, identifiers))
    assert all(rec.attachment for rec in records if rec.fields["channel"] == "voice")


def test_rate_limit_slowdown_retry_after_is_honoured(clean_faults: Any, pop: Population) -> None:
    identifiers = request_identifiers(pop, "latvian")
    clean_faults.board.replace(parse_spec("recordings=ratelimit:2"))  # 2 refused in every 12
    started = time.monotonic()
    with RecordingsConnector.from_settings(clean_faults.settings, policy=RetryPolicy(4, 0.01, 0.05),
                                           workers=2) as connector:
        records = list(connector.collect(identifiers))
    assert {rec.key for rec in records} == set(truth(pop, identifiers))
    calls = calls_of(pop, "latvian")
    answered = 1 + month_count(pop) + len(calls) + sum(c.channel == "voice" for c in calls)
    assert connector.calls_made - answered >= 6, "bursts of 429 were met"
    assert time.monotonic() - started >= 3.0  # each burst's Retry-After: 1 waited out, not backed off


def test_timeout_fails_within_the_client_bounds(clean_faults: Any, pop: Population) -> None:
    clean_faults.board.replace(parse_spec("recordings=timeout:30"))
    started = time.monotonic()
    with RecordingsConnector.from_settings(clean_faults.settings, policy=RetryPolicy(2, 0.01, 0.05),
                                           timeout=0.3) as connector, pytest.raises(ConnectorError) as failure:
        list(connector.collect(request_identifiers(pop, "demo")))
    assert time.monotonic() - started < 3
    assert failure.value.system == "recordings" and "timeout (read" in failure.value.cause


def test_truncated_answers_every_time_fail_never_partial(clean_faults: Any, pop: Population) -> None:
    clean_faults.board.replace(parse_spec("recordings=truncate:1.0"))
    with RecordingsConnector.from_settings(clean_faults.settings, policy=FAST) as connector, \
            pytest.raises(ConnectorError) as failure:
        list(connector.collect(request_identifiers(pop, "demo")))
    # botocore reports a listing cut short as HTTP 500 (an unparsable 200), as the sandbox documents
    assert failure.value.system == "recordings" and "gave up after 3 attempts" in failure.value.cause


def test_truncated_index_objects_are_detected_and_read_again(clean_faults: Any, pop: Population) -> None:
    """The listing passes; every month index is cut short: no month may count as read."""
    identifiers = request_identifiers(pop, "demo")
    with RecordingsConnector.from_settings(clean_faults.settings, policy=FAST, workers=1) as connector:
        month = next(connector.bucket.objects("index/", "ListObjectsV2 index/"))
        clean_faults.board.replace(parse_spec("recordings=truncate:1.0"))
        with pytest.raises(ConnectorError) as failure:
            connector._scan(month, Wanted(identifiers))
    assert failure.value.cause.startswith("GetObject index/{month}.jsonl: gave up after 3 attempts")
    assert "answer cut short" in failure.value.cause


def test_some_truncated_answers_are_retried_to_a_complete_result(clean_faults: Any, pop: Population) -> None:
    identifiers = request_identifiers(pop, "demo")
    clean_faults.board.replace(parse_spec("recordings=truncate:0.3"))
    with RecordingsConnector.from_settings(clean_faults.settings, policy=PATIENT) as connector:
        records = list(connector.collect(identifiers))
    assert {rec.key for rec in records} == set(truth(pop, identifiers))


def test_down_fails_naming_the_connection(clean_faults: Any, pop: Population) -> None:
    clean_faults.board.replace(parse_spec("recordings=down"))
    with RecordingsConnector.from_settings(clean_faults.settings, policy=FAST) as connector, \
            pytest.raises(ConnectorError) as failure:
        list(connector.collect(request_identifiers(pop, "demo")))
    assert failure.value.system == "recordings" and "connection failed (EndpointConnectionError)" in failure.value.cause
    assert "127.0.0.1" not in str(failure.value)


def test_a_missing_bucket_is_a_permanent_failure_without_retries(federation: Any, pop: Population) -> None:
    settings = {**federation.settings, "DSAR_RECORDINGS_BUCKET": "no-such-recordings"}
    with RecordingsConnector.from_settings(settings, policy=FAST) as connector, \
            pytest.raises(ConnectorError) as failure:
        list(connector.collect(request_identifiers(pop, "demo")))
    assert failure.value.cause == "ListObjectsV2 index/: HTTP 404 NoSuchBucket"
    assert connector.calls_made == 1


# -- hostile identifiers --------------------------------------------------------------------------

NASTY = ["' OR '1'='1", "x%27--", "../../etc/passwd", "a@b.c?x=1&y=2#", "%00", "ünï©ødé", "١٠٠٠٠١", "*", "%",
         "+", "1", "null", "None", "\"", "\\", "100001 ", "+3725*", "index/", "../metadata", "😀", "\n"]


def test_identifiers_with_metacharacters_are_harmless(recordings: RecordingsConnector, pop: Population) -> None:
    identifiers = [Identifier(kind, value, Strength.STRONG) for kind in (T.PHONE, T.CUSTOMER_ID) for value in NASTY]
    assert not set(truth(pop, identifiers)), "none of them names anyone"
    assert list(recordings.collect(identifiers)) == []
    assert list(recordings.discover(identifiers)) == []


# -- wiring ---------------------------------------------------------------------------------------

def test_registry_builds_the_connector_from_settings(federation: Any) -> None:
    connector = systems()["recordings"].build(federation.settings)
    try:
        assert isinstance(connector, Connector) and isinstance(connector, RecordingsConnector)
        assert connector.accepts == {T.PHONE, T.CUSTOMER_ID} and connector.reveals == frozenset()
        assert {s.retention_rule for s in connector.sources.values()} == {"call_recording"}
        config = connector.bucket.client.meta.config
        assert config.retries["total_max_attempts"] == 1 and config.s3["addressing_style"] == "path"
        assert (config.connect_timeout, config.read_timeout) == (3.0, 15.0)
    finally:
        connector.close()
    without_bucket = {k: v for k, v in federation.settings.items() if k != "DSAR_RECORDINGS_BUCKET"}
    with pytest.raises(ValueError, match="DSAR_RECORDINGS_BUCKET"):
        RecordingsConnector.from_settings(without_bucket)
    with pytest.raises(ValueError, match="DSAR_RECORDINGS_SECRET_ACCESS_KEY"):
        RecordingsConnector.from_settings({**federation.settings, "DSAR_RECORDINGS_SECRET_ACCESS_KEY": ""})


def test_an_empty_endpoint_means_aws_itself(federation: Any) -> None:
    settings = {**federation.settings, "DSAR_RECORDINGS_ENDPOINT_URL": "", "DSAR_RECORDINGS_REGION": "",
                "DSAR_AWS_REGION": "eu-north-1"}
    with RecordingsConnector.from_settings(settings) as connector:
        assert connector.bucket.client.meta.endpoint_url == "https://s3.eu-north-1.amazonaws.com"
        assert connector.bucket.client.meta.config.s3["addressing_style"] == "auto"


def test_the_recordings_are_read_in_the_call_centres_account_not_the_controllers(federation: Any) -> None:
    """The call centre's endpoint and credentials are the connector's own: the controller's S3 settings
    (inbox, work store, packages) do not reach the recordings, and the controller's key is refused there."""
    settings = federation.settings
    with RecordingsConnector.from_settings(settings) as connector:
        assert connector.bucket.client.meta.endpoint_url == settings["DSAR_RECORDINGS_ENDPOINT_URL"]
        assert settings["DSAR_RECORDINGS_ENDPOINT_URL"] != settings["DSAR_S3_ENDPOINT_URL"]
    controllers_key = {**settings, "DSAR_RECORDINGS_ACCESS_KEY_ID": settings["DSAR_AWS_ACCESS_KEY_ID"],
                       "DSAR_RECORDINGS_SECRET_ACCESS_KEY": settings["DSAR_AWS_SECRET_ACCESS_KEY"]}
    with RecordingsConnector.from_settings(controllers_key, policy=FAST) as connector, \
            pytest.raises(ConnectorError) as refused:
        list(connector.collect([Identifier.of("phone", "+37255500001")]))
    assert refused.value.cause == "ListObjectsV2 index/: HTTP 403 InvalidAccessKeyId"
    assert connector.calls_made == 1  # permanent: not retried


def test_a_second_request_reads_only_the_listing_until_an_index_changes(federation: Any, pop: Population,
                                                                         s3: Any, bucket: str) -> None:
    cache = IndexCache()
    identifiers = request_identifiers(pop, "demo")
    with RecordingsConnector.from_settings(federation.settings, policy=FAST, index_cache=cache) as first:
        found = sorted(r.key for r in first.collect(identifiers))
    assert first.calls_made > 1 + month_count(pop) and cache.misses == month_count(pop)
    with RecordingsConnector.from_settings(federation.settings, policy=FAST, index_cache=cache) as second:
        assert sorted(r.key for r in second.collect(request_identifiers(pop, "unknown"))) == []
        assert second.calls_made == 1, "one listing; every index unchanged, so none read again"
    month = sorted(k for k in (o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="index/")["Contents"])
                   if k.endswith(".jsonl"))[0]
    original = s3.get_object(Bucket=bucket, Key=month)["Body"].read()
    try:
        s3.put_object(Bucket=bucket, Key=month, Body=original + b"\n")  # same lines, new ETag
        with RecordingsConnector.from_settings(federation.settings, policy=FAST, index_cache=cache) as third:
            assert sorted(r.key for r in third.collect(identifiers)) == found
            assert third.calls_made == 1 + 1 + (first.calls_made - 1 - month_count(pop)), \
                "the listing, the changed index, and the matched calls' sidecars and heads"
    finally:
        s3.put_object(Bucket=bucket, Key=month, Body=original)


def test_the_index_cache_is_bounded_and_keyed_by_etag() -> None:
    cache = IndexCache(max_bytes=4000)
    reads: list[str] = []

    def reader(etag: str, lines: int) -> Any:
        return lambda: (reads.append(etag), (etag, [b"x" * 100] * lines))[1]

    assert cache.lines("b", "k", '"1"', reader('"1"', 3)) == [b"x" * 100] * 3
    cache.lines("b", "k", '"1"', reader('"1"', 3))
    cache.lines("b", "k", '"2"', reader('"2"', 3))
    assert reads == ['"1"', '"2"']
    cache.lines("b", "big", '"3"', reader('"3"', 20))  # over a quarter of the bound: read, not kept
    cache.lines("b", "big", '"3"', reader('"3"', 20))
    assert reads[-2:] == ['"3"', '"3"']
    for number in range(10):
        cache.lines("b", f"k{number}", '"1"', reader('"1"', 5))
    assert cache._bytes <= cache.max_bytes
