"""The call-recordings S3/KMS endpoint, over HTTP with boto3 and httpx, as a connector will use it."""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
import wave
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from sandbox.faults import FaultBoard, FaultInjector, parse_spec
from sandbox.hosting import ServiceHost
from sandbox.population import Population, generate
from sandbox.recordings import SeedInfo, create_s3_app, drop_ticket, s3_error_body, seed_recordings
from sandbox.recordings.audio import synth_wav
from sandbox.recordings.seed import client
from sandbox.records import Call

BUCKET = "call-recordings"
STRICT = {"retries": {"total_max_attempts": 1}, "connect_timeout": 1, "read_timeout": 2}


@pytest.fixture(scope="module")
def population() -> Population:
    return generate(size=60)


@pytest.fixture(scope="module")
def endpoint(population: Population) -> Iterator[tuple[ServiceHost, SeedInfo]]:
    host = ServiceHost("recordings", create_s3_app(), port=0)
    host.start()
    try:
        yield host, seed_recordings(population, host.url)
    finally:
        host.stop()


@pytest.fixture(scope="module")
def s3(endpoint: tuple[ServiceHost, SeedInfo]) -> Any:
    return client("s3", endpoint[0].url)


@pytest.fixture(scope="module")
def kms(endpoint: tuple[ServiceHost, SeedInfo]) -> Any:
    return client("kms", endpoint[0].url)


def xml_error(body: bytes) -> ET.Element:
    """Parse an S3 error document of the sandbox under test (our own output, not untrusted input)."""
    return ET.fromstring(body)  # noqa: S314


def calls_of(population: Population, case: str) -> list[Call]:
    person = population.case(case)
    return [c for c in population.calls if c.person_key == person.key]


def voice(population: Population) -> list[Call]:
    return [c for c in population.calls if c.channel == "voice"]


def all_keys(s3: Any, prefix: str, page_size: int = 1000) -> tuple[list[str], int]:
    """Every key under the prefix by following continuation tokens; returns (keys, pages)."""
    keys: list[str] = []
    pages = 0
    kwargs: dict[str, Any] = {"Bucket": BUCKET, "Prefix": prefix, "MaxKeys": page_size}
    while True:
        page = s3.list_objects_v2(**kwargs)
        pages += 1
        assert page["KeyCount"] <= page_size
        keys += [obj["Key"] for obj in page.get("Contents", [])]
        if not page["IsTruncated"]:
            return keys, pages
        kwargs["ContinuationToken"] = page["NextContinuationToken"]


def index_lines(s3: Any) -> list[dict[str, Any]]:
    """Stream every month index line by line, as a connector searching by number would."""
    lines = []
    for key in all_keys(s3, "index/")[0]:
        body = s3.get_object(Bucket=BUCKET, Key=key)["Body"]
        for raw in body.iter_lines():
            record = json.loads(raw)
            record["_index"] = key
            lines.append(record)
    return lines


# --- provisioning -----------------------------------------------------------------------------------


def test_seed_provisions_buckets_and_key(endpoint: tuple[ServiceHost, SeedInfo], s3: Any, kms: Any,
                                         population: Population) -> None:
    _, info = endpoint
    names = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {info.recordings_bucket, info.inbox_bucket, info.packages_bucket, info.work_bucket} <= names
    assert (info.recordings_bucket, info.inbox_prefix) == ("call-recordings", "tickets/")
    assert s3.get_bucket_location(Bucket=BUCKET)["LocationConstraint"] == "eu-north-1"
    meta = kms.describe_key(KeyId="alias/dsar-pipeline")["KeyMetadata"]
    assert (meta["KeyId"], meta["Arn"]) == (info.kms_key_id, info.kms_key_arn)
    assert info.calls == len(population.calls)
    assert info.audio_objects == len(voice(population))


def test_reseeding_empties_buckets_and_keeps_the_key(endpoint: tuple[ServiceHost, SeedInfo], s3: Any,
                                                     population: Population) -> None:
    host, info = endpoint
    s3.put_object(Bucket="dsar-work", Key="stray/leftover.bin", Body=b"x")
    s3.put_object(Bucket=BUCKET, Key="audio/1999/01/01/stray.wav", Body=b"x")
    again = seed_recordings(population, host.url)
    assert again.kms_key_arn == info.kms_key_arn
    assert s3.list_objects_v2(Bucket="dsar-work")["KeyCount"] == 0
    audio_keys, _ = all_keys(s3, "audio/")
    assert sorted(audio_keys) == sorted(c.audio_key for c in voice(population))


# --- listing, ranges, streaming -----------------------------------------------------------------------


def test_listing_pages_with_max_keys(s3: Any, population: Population) -> None:
    keys, pages = all_keys(s3, "audio/", page_size=7)
    expected = sorted(c.audio_key for c in voice(population))
    assert pages == -(-len(expected) // 7) and pages > 1
    assert sorted(keys) == expected
    metadata_keys, _ = all_keys(s3, "metadata/", page_size=25)
    assert sorted(metadata_keys) == sorted(c.metadata_key for c in population.calls)


def test_a_page_holds_at_most_1000_keys(s3: Any, population: Population) -> None:
    """As in S3, MaxKeys above 1000 is served as 1000 (a connector must follow the token)."""
    page = s3.list_objects_v2(Bucket=BUCKET, Prefix="metadata/", MaxKeys=5000)
    assert page["MaxKeys"] == 1000
    assert page["KeyCount"] == len(population.calls) and not page["IsTruncated"]
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="metadata/", MaxKeys=10)["MaxKeys"] == 10


def test_get_with_range(s3: Any, population: Population) -> None:
    call = voice(population)[0]
    whole = synth_wav(call.id).data
    head = s3.get_object(Bucket=BUCKET, Key=call.audio_key, Range="bytes=0-11")
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert head["ContentRange"] == f"bytes 0-11/{len(whole)}"
    assert head["Body"].read() == whole[:12]
    assert whole[:4] == b"RIFF" and whole[8:12] == b"WAVE"
    middle = s3.get_object(Bucket=BUCKET, Key=call.audio_key, Range="bytes=1000-1999")["Body"].read()
    assert middle == whole[1000:2000]
    with pytest.raises(ClientError) as err:
        s3.get_object(Bucket=BUCKET, Key=call.audio_key, Range=f"bytes={len(whole) + 10}-")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416


def test_stream_wav_in_chunks_parses_as_wav(s3: Any, population: Population) -> None:
    call = max(voice(population), key=lambda c: len(synth_wav(c.id).data))
    response = s3.get_object(Bucket=BUCKET, Key=call.audio_key)
    chunks = list(response["Body"].iter_chunks(chunk_size=4096))
    data = b"".join(chunks)
    assert len(chunks) > 3 and all(len(c) <= 4096 for c in chunks)
    assert len(data) == response["ContentLength"]
    assert response["ContentType"] == "audio/wav"
    with wave.open(io.BytesIO(data)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (8000, 1, 2)
        assert 1.0 <= wav.getnframes() / wav.getframerate() <= 3.0
        frames = wav.readframes(wav.getnframes())
    assert len(frames) == 2 * wav.getnframes() and len(set(frames)) > 50  # not silence


def test_every_recording_is_distinct(s3: Any, population: Population) -> None:
    etags = {}
    kwargs: dict[str, Any] = {"Bucket": BUCKET, "Prefix": "audio/"}
    for page in s3.get_paginator("list_objects_v2").paginate(**kwargs):
        etags.update({obj["Key"]: obj["ETag"] for obj in page["Contents"]})
    assert len(etags) == len(voice(population))
    assert len(set(etags.values())) == len(etags)
    call = voice(population)[3]
    assert etags[call.audio_key].strip('"') == hashlib.md5(synth_wav(call.id).data).hexdigest()


# --- metadata and the month indexes -------------------------------------------------------------------


def test_audio_object_metadata_matches_the_call(s3: Any, population: Population) -> None:
    unmatched = [c for c in calls_of(population, "household-b") if c.channel == "voice"]
    assert unmatched and all(c.customer_id is None for c in unmatched)
    for call in [c for c in calls_of(population, "demo") if c.channel == "voice"] + unmatched:
        head = s3.head_object(Bucket=BUCKET, Key=call.audio_key)
        expected = {"call-id": call.id, "caller-number": call.caller_number, "agent-id": call.agent_id,
                    "started-at": call.started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "duration-s": str(call.duration_s), "queue": call.queue, "channel": "voice",
                    "language": call.language}
        if call.customer_id is not None:
            expected["customer-id"] = str(call.customer_id)
        assert head["Metadata"] == expected
        assert head["ServerSideEncryption"] == "AES256"


def test_sidecars_carry_full_metadata_and_transcripts(s3: Any, population: Population) -> None:
    demo = calls_of(population, "demo")
    chatbot = [c for c in population.calls if c.channel == "chatbot"]
    assert chatbot, "the population has chatbot sessions"
    for call in demo + chatbot[:3]:
        doc = json.loads(s3.get_object(Bucket=BUCKET, Key=call.metadata_key)["Body"].read())
        assert doc["schema"] == "call-metadata/1"
        assert (doc["call_id"], doc["caller_number"], doc["customer_id"]) == (
            call.id, call.caller_number, call.customer_id)
        assert (doc["agent_id"], doc["agent_name"], doc["queue"], doc["duration_s"]) == (
            call.agent_id, call.agent_name, call.queue, call.duration_s)
        started = datetime.fromisoformat(doc["started_at"].replace("Z", "+00:00"))
        ended = datetime.fromisoformat(doc["ended_at"].replace("Z", "+00:00"))
        assert started == call.started_at.replace(microsecond=0)
        assert ended - started == timedelta(seconds=call.duration_s)
        if call.channel == "chatbot":
            assert doc["recording"] is None and doc["transcript"] == call.transcript
            assert len(doc["transcript"]) >= 2
        else:
            size = s3.head_object(Bucket=BUCKET, Key=call.audio_key)["ContentLength"]
            assert doc["recording"]["key"] == call.audio_key and doc["recording"]["size_bytes"] == size
            assert doc["transcript"] == []


def test_index_lists_every_call_once_in_its_month(s3: Any, population: Population) -> None:
    lines = index_lines(s3)
    by_id = {line["call_id"]: line for line in lines}
    assert len(lines) == len(by_id) == len(population.calls)
    metadata_keys = set(all_keys(s3, "metadata/")[0])
    for call in population.calls:
        line = by_id[call.id]
        assert line["_index"] == f"index/{call.started_at:%Y-%m}.jsonl"
        assert (line["caller_number"], line["customer_id"], line["channel"]) == (
            call.caller_number, call.customer_id, call.channel)
        assert (line["audio_key"], line["metadata_key"]) == (call.audio_key, call.metadata_key)
        assert line["metadata_key"] in metadata_keys
    for key in {line["_index"] for line in lines}:
        starts = [line["started_at"] for line in lines if line["_index"] == key]
        assert starts == sorted(starts)


def test_demo_calls_found_by_customer_id_and_number(s3: Any, population: Population) -> None:
    demo = population.case("demo")
    expected = {c.id for c in calls_of(population, "demo")}
    assert len(expected) == 20
    customer_ids = {c.id for c in population.customer_of(demo.key)}
    lines = index_lines(s3)
    by_customer = {line["call_id"] for line in lines if line["customer_id"] in customer_ids}
    by_number = {line["call_id"] for line in lines if line["caller_number"] == demo.phone}
    assert by_customer == expected
    assert by_number == expected


def test_household_phone_finds_both_adults(s3: Any, population: Population) -> None:
    a, b = population.case("household-a"), population.case("household-b")
    assert a.phone == b.phone
    found = {line["call_id"] for line in index_lines(s3) if line["caller_number"] == a.phone}
    callers = {c.person_key for c in population.calls if c.id in found}
    assert callers == {a.key, b.key}
    assert found == {c.id for c in calls_of(population, "household-a") + calls_of(population, "household-b")}


# --- KMS, SSE-KMS, presigned links, tickets ------------------------------------------------------------


def test_kms_data_key_round_trip(kms: Any, endpoint: tuple[ServiceHost, SeedInfo]) -> None:
    data_key = kms.generate_data_key(KeyId="alias/dsar-pipeline", KeySpec="AES_256")
    assert len(data_key["Plaintext"]) == 32
    assert data_key["KeyId"] == endpoint[1].kms_key_arn
    decrypted = kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])
    assert decrypted["Plaintext"] == data_key["Plaintext"]
    other = kms.generate_data_key(KeyId="alias/dsar-pipeline", KeySpec="AES_256")
    assert other["Plaintext"] != data_key["Plaintext"]


def test_packages_bucket_defaults_to_sse_kms(s3: Any, endpoint: tuple[ServiceHost, SeedInfo]) -> None:
    arn = endpoint[1].kms_key_arn
    rule = s3.get_bucket_encryption(Bucket="dsar-packages")["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": arn}
    put = s3.put_object(Bucket="dsar-packages", Key="req-1/package.zip", Body=b"PK\x03\x04 sealed")
    assert (put["ServerSideEncryption"], put["SSEKMSKeyId"]) == ("aws:kms", arn)
    head = s3.head_object(Bucket="dsar-packages", Key="req-1/package.zip")
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", arn)


def test_presigned_get_works_with_plain_http(s3: Any, population: Population) -> None:
    call = voice(population)[1]
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": call.audio_key},
                                    ExpiresIn=3600)
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.content == synth_wav(call.id).data
    assert response.headers["content-type"] == "audio/wav"


def test_presigned_lifetime_is_enforced(s3: Any, population: Population) -> None:
    key = voice(population)[1].audio_key
    too_long = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=604801)
    refused = httpx.get(too_long)
    assert refused.status_code == 400
    assert xml_error(refused.content).findtext("Code") == "AuthorizationQueryParametersError"
    url = s3.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=3600)
    two_hours_ago = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y%m%dT%H%M%SZ")
    expired = httpx.get(re.sub(r"X-Amz-Date=\d{8}T\d{6}Z", f"X-Amz-Date={two_hours_ago}", url))
    assert expired.status_code == 403
    error = xml_error(expired.content)
    assert (error.findtext("Code"), error.findtext("Message")) == ("AccessDenied", "Request has expired")


def test_drop_ticket_lands_in_the_inbox(endpoint: tuple[ServiceHost, SeedInfo], s3: Any) -> None:
    host, info = endpoint
    ticket = json.dumps({"subject_request_id": "a7c1", "subject_request_type": "access"}).encode()
    key = drop_ticket(host.url, ticket, "a7c1")
    assert key == "tickets/a7c1.json"
    assert drop_ticket(host.url, b"{not json", "broken.json") == "tickets/broken.json"
    listed = s3.list_objects_v2(Bucket=info.inbox_bucket, Prefix=info.inbox_prefix)
    assert {o["Key"] for o in listed["Contents"]} >= {"tickets/a7c1.json", "tickets/broken.json"}
    stored = s3.get_object(Bucket=info.inbox_bucket, Key=key)
    assert stored["Body"].read() == ticket and stored["ContentType"] == "application/json"
    for bad in ("../escape", "a/b", "", ".hidden"):
        with pytest.raises(ValueError):
            drop_ticket(host.url, ticket, bad)


def test_moto_control_api_is_not_exposed(endpoint: tuple[ServiceHost, SeedInfo]) -> None:
    response = httpx.post(f"{endpoint[0].url}/moto-api/reset")
    assert response.status_code == 404
    assert xml_error(response.content).findtext("Code") == "NoSuchBucket"


def test_s3_error_body_is_s3_xml() -> None:
    for status, code in (("429 Too Many Requests", "SlowDown"), ("503 Service Unavailable", "ServiceUnavailable"),
                         ("504 Gateway Timeout", "RequestTimeout"), ("500 Internal Server Error", "InternalError")):
        body, content_type = s3_error_body(status, "a <message> & more")
        root = xml_error(body)
        assert content_type == "application/xml" and root.tag == "Error"
        assert (root.findtext("Code"), root.findtext("Message")) == (code, "a <message> & more")
        assert root.findtext("RequestId")


# --- faults, through FaultInjector as the federation wraps the endpoint ----------------------------------


@pytest.fixture(scope="module")
def faulty_door(endpoint: tuple[ServiceHost, SeedInfo]) -> Iterator[tuple[FaultBoard, Any, Any]]:
    """A second front door onto the same (seeded) store, behind the fault injector."""
    board = FaultBoard()
    app = FaultInjector(create_s3_app(), "recordings", board, error_body=s3_error_body)
    host = ServiceHost("recordings", app, port=0, board=board)
    host.start()
    try:
        yield board, client("s3", host.url, **STRICT), client("kms", host.url, **STRICT)
    finally:
        board.replace([])
        host.stop()


@pytest.fixture()
def faulty(faulty_door: tuple[FaultBoard, Any, Any]) -> Iterator[tuple[FaultBoard, Any, Any]]:
    """The faulty door with no faults left over from the previous test."""
    faulty_door[0].replace([])
    yield faulty_door
    faulty_door[0].replace([])


def status_and_code(exc: ClientError) -> tuple[int, str]:
    return exc.response["ResponseMetadata"]["HTTPStatusCode"], exc.response["Error"]["Code"]


def test_fault_latency_delays_but_answers(faulty: tuple[FaultBoard, Any, Any], population: Population) -> None:
    board, s3, _ = faulty
    board.replace(parse_spec("recordings=latency:0.4"))
    started = time.perf_counter()
    head = s3.head_object(Bucket=BUCKET, Key=voice(population)[0].audio_key)
    assert time.perf_counter() - started >= 0.4
    assert head["ContentType"] == "audio/wav"


def test_fault_error_answers_503_service_unavailable(faulty: tuple[FaultBoard, Any, Any]) -> None:
    board, s3, kms = faulty
    board.replace(parse_spec("recordings=error:1"))
    with pytest.raises(ClientError) as err:
        s3.list_objects_v2(Bucket=BUCKET)
    assert status_and_code(err.value) == (503, "ServiceUnavailable")
    with pytest.raises(ClientError) as err:
        kms.generate_data_key(KeyId="alias/dsar-pipeline", KeySpec="AES_256")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503


def test_fault_ratelimit_bursts_429_slowdown(faulty: tuple[FaultBoard, Any, Any]) -> None:
    board, s3, _ = faulty
    board.replace(parse_spec("recordings=ratelimit:2"))
    for _ in range(2):
        with pytest.raises(ClientError) as err:
            s3.list_objects_v2(Bucket=BUCKET, MaxKeys=1)
        assert status_and_code(err.value) == (429, "SlowDown")
        assert err.value.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "1"
    assert s3.list_objects_v2(Bucket=BUCKET, MaxKeys=1)["KeyCount"] == 1


def test_fault_timeout_hangs_until_the_client_gives_up(faulty: tuple[FaultBoard, Any, Any]) -> None:
    board, s3, _ = faulty
    board.replace(parse_spec("recordings=timeout:60"))
    started = time.perf_counter()
    with pytest.raises(ReadTimeoutError):
        s3.list_objects_v2(Bucket=BUCKET, MaxKeys=1)
    assert 1.9 <= time.perf_counter() - started < 10
    board.replace(parse_spec("recordings=timeout:0.2"))  # a short hang ends in the gateway's 504
    with pytest.raises(ClientError) as err:
        s3.list_objects_v2(Bucket=BUCKET, MaxKeys=1)
    assert status_and_code(err.value) == (504, "RequestTimeout")


def test_fault_truncate_cuts_bodies_short(faulty: tuple[FaultBoard, Any, Any], population: Population) -> None:
    board, s3, kms = faulty
    board.replace(parse_spec("recordings=truncate:1"))
    response = s3.get_object(Bucket=BUCKET, Key=voice(population)[0].audio_key)
    with pytest.raises(ResponseStreamingError):
        response["Body"].read()
    with pytest.raises(ClientError) as err:
        s3.list_objects_v2(Bucket=BUCKET, MaxKeys=5)
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    data_key = kms.generate_data_key(KeyId="alias/dsar-pipeline", KeySpec="AES_256")
    assert "Plaintext" not in data_key and data_key["ResponseMetadata"]["MaxAttemptsReached"]


def test_fault_down_refuses_connections_then_recovers(faulty: tuple[FaultBoard, Any, Any]) -> None:
    board, s3, _ = faulty
    assert s3.list_objects_v2(Bucket=BUCKET, MaxKeys=1)["KeyCount"] == 1  # a pooled keep-alive connection
    board.replace(parse_spec("recordings=down"))
    # The pooled connection is cut: the client sees it closed (a reset, if its request raced the cut) or,
    # having noticed, reconnects and is refused. Either way no answer comes; after that, only refusals.
    with pytest.raises((ConnectionClosedError, EndpointConnectionError)):
        s3.list_objects_v2(Bucket=BUCKET, MaxKeys=1)
    with pytest.raises(EndpointConnectionError):
        s3.list_objects_v2(Bucket=BUCKET, MaxKeys=1)
    board.replace([])
    assert s3.list_objects_v2(Bucket=BUCKET, MaxKeys=1)["KeyCount"] == 1


def test_deleted_object_versions_leave_the_sandboxs_memory(s3: Any) -> None:
    """The work bucket is versioned (Object Lock): purging a request deletes every version. moto kept each
    object it ever made in a class-wide list, so the cluster's put-and-purge traffic grew the sandbox past
    20 GB; now an object no bucket holds is freed."""
    import gc

    from moto.s3.models import FakeKey

    def live(prefix: str) -> int:
        gc.collect()
        return sum(1 for key in FakeKey.instances_tracked
                   if key.bucket_name == "dsar-work" and key.name.startswith(prefix))

    body = bytes(256 * 1024)
    for cycle in range(3):
        prefix = f"leak-check/{cycle}/"
        for index in range(20):
            s3.put_object(Bucket="dsar-work", Key=f"{prefix}{index}", Body=body)
            s3.put_object(Bucket="dsar-work", Key=f"{prefix}{index}", Body=body)  # a second version
        assert live(prefix) == 40
        listed = s3.list_object_versions(Bucket="dsar-work", Prefix=prefix)
        doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in listed["Versions"]]
        s3.delete_objects(Bucket="dsar-work", Delete={"Objects": doomed, "Quiet": True})
        assert live(prefix) == 0, "deleted versions are still held in memory"
    assert s3.list_object_versions(Bucket="dsar-work", Prefix="leak-check/").get("Versions", []) == []
