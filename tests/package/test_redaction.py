"""Art. 15(4) redaction of call metadata, and the recordings written into the package.

Transcripts are built the way the recordings connector builds them (`structured_transcript`) from the
sandbox's shape (`agent <name>` speakers, the agent greeting by name).
"""

from __future__ import annotations

import hashlib
import io
import json
import wave
from pathlib import Path
from typing import BinaryIO

import pytest

from connectors.contract import Attachment, Record
from connectors.recordings.transcript import structured_transcript
from dsar_pipeline.export.redaction import (
    AGENT_LABEL,
    RecordingError,
    Withheld,
    redact_record,
    write_recordings,
)
from tests.package.test_export import DirStaging, rec

AGENT_ID, AGENT = "A-104", "Ilze Bērziņa"


def chat(call_id: str = "c-1", **extra: object) -> Record:
    turns = structured_transcript([
        {"speaker": "customer", "text": "Labdien, vai Ilze šodien strādā?"},
        {"speaker": "bot", "text": "Thank you. Let me check that for you."},
        {"speaker": f"agent {AGENT}", "text": f"Hello, this is {AGENT}. Ilzei ir laiks."},
        {"speaker": "Jānis", "text": "Jānis here, the neighbour"},
    ], AGENT_ID, AGENT)
    fields = {"call_id": call_id, "channel": "chatbot", "caller_number": "+37120000001", "customer_id": 12,
              "agent_id": AGENT_ID, "agent_name": AGENT, "queue": "billing", "language": "lv", "transcript": turns,
              **extra}
    return rec("recordings", "calls", call_id, fields)


def wav_bytes(seconds: float = 0.2) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(8000)
        out.writeframes(bytes(range(256)) * int(seconds * 8000 * 2 / 256))
    return buffer.getvalue()


def test_agent_identity_becomes_a_neutral_label_and_names_are_masked() -> None:
    withheld = Withheld()
    redacted = redact_record(chat(), withheld)
    assert redacted.fields["agent_id"] == AGENT_LABEL and redacted.fields["agent_name"] == AGENT_LABEL
    turns = redacted.fields["transcript"]
    assert [t["speaker"] for t in turns] == ["customer", "bot", "agent", "other person"]
    assert turns[0]["text"] == "Labdien, vai [agent] šodien strādā?"
    assert turns[2]["text"] == "Hello, this is [agent]. [agent] ir laiks."  # inflected form masked too
    assert turns[3]["text"] == "[other person] here, the neighbour"
    assert "agent_name" not in turns[2] and "agent_id" not in turns[2]
    text = json.dumps(redacted.fields, ensure_ascii=False)
    assert "Ilz" not in text and "Bērziņa" not in text and AGENT_ID not in text and "Jānis" not in text
    assert withheld.as_dict() == {"agent_identity": 4, "agent_name_in_text": 3, "agent_speaker_label": 1,
                                  "other_name_in_text": 1, "other_speaker_label": 1}
    assert redacted.fields["caller_number"] == "+37120000001" and redacted.fields["queue"] == "billing"


def test_third_party_fields_are_removed_and_counted_without_values() -> None:
    record = chat()
    record.fields["household_member"] = "Anna Liepa"
    record.categories["household_member"] = "third_party.person"
    withheld = Withheld()
    redacted = redact_record(record, withheld)
    assert "household_member" not in redacted.fields and "household_member" not in redacted.categories
    assert withheld.counts["third_party_data"] == 1
    assert "Anna" not in repr(withheld) and all(isinstance(v, int) for v in withheld.as_dict().values())
    assert record.fields["household_member"] == "Anna Liepa"  # the input is not altered


def test_records_without_other_people_pass_unchanged() -> None:
    record = rec("billing", "contacts", "1", {"id": 1, "email": "a@example.lv"})
    assert redact_record(record) is record


def test_speaker_labels_are_read_when_the_connector_gives_no_role() -> None:
    record = rec("recordings", "calls", "x", {"call_id": "x", "agent_id": "A-106", "agent_name": "Jānis Ozols",
                                               "transcript": [{"speaker": "customer", "text": "Paldies, Jāni!"},
                                                              {"speaker": "agent Jānis Ozols", "text": "Lūdzu."}]})
    turns = redact_record(record).fields["transcript"]
    assert [t["speaker"] for t in turns] == ["customer", "agent"]
    assert turns[0]["text"] == "Paldies, [agent]!"


class FakeBucket:
    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects
        self.copied: list[str] = []

    def copy(self, attachment: Attachment, sink: BinaryIO) -> None:
        data = self.objects[attachment.uri]
        for start in range(0, len(data), 1000):  # in chunks, as the connector streams
            sink.write(data[start:start + 1000])
        self.copied.append(attachment.uri)


def voice_call(call_id: str, audio: bytes, media_type: str = "audio/wav") -> Record:
    return rec("recordings", "calls", call_id,
               {"call_id": call_id, "channel": "voice", "caller_number": "+37120000001", "customer_id": 12,
                "agent_id": "A-101", "agent_name": "Kadri Tamm", "duration_s": 65},
               attachment=Attachment(f"s3://call-recordings/audio/2025/01/02/{call_id}.wav", len(audio), media_type))


def test_recordings_are_streamed_byte_exact_with_redacted_metadata(tmp_path: Path) -> None:
    audio = wav_bytes()
    calls = [voice_call("v-1", audio), chat("c-1"), rec("billing", "contacts", "1", {"id": 1})]
    bucket = FakeBucket({calls[0].attachment.uri: audio})  # type: ignore[union-attr]
    staging = DirStaging(tmp_path)
    summary = write_recordings(calls, staging, bucket.copy)
    assert summary.calls == 2 and summary.audio_files == 1 and summary.audio_bytes == len(audio)
    assert [f.name for f in staging.files()] == ["recordings/v-1.wav", "recordings/v-1.json", "recordings/c-1.json"]
    stored = staging.read("recordings/v-1.wav")
    assert hashlib.sha256(stored).digest() == hashlib.sha256(audio).digest()
    with wave.open(io.BytesIO(stored)) as parsed:
        assert parsed.getframerate() == 8000
    metadata = json.loads(staging.read("recordings/v-1.json"))
    assert metadata["audio"] == {"file": "v-1.wav", "media_type": "audio/wav", "size_bytes": len(audio)}
    assert metadata["fields"]["agent_name"] == AGENT_LABEL and metadata["fields"]["duration_s"] == 65
    chat_metadata = staging.read("recordings/c-1.json").decode("utf-8")
    assert json.loads(chat_metadata)["audio"] is None
    for staged in staging.files():
        if staged.name.endswith(".json"):
            content = staging.read(staged.name).decode("utf-8")
            assert "Kadri" not in content and AGENT not in content and "A-101" not in content
    assert summary.withheld.counts["agent_identity"] >= 4


def test_a_short_copy_is_an_error_not_a_silent_truncation(tmp_path: Path) -> None:
    audio = wav_bytes()
    call = voice_call("v-2", audio)
    bucket = FakeBucket({call.attachment.uri: audio[:-10]})  # type: ignore[union-attr]
    with pytest.raises(RecordingError) as caught:
        write_recordings([call], DirStaging(tmp_path), bucket.copy)
    assert "recordings/v-2.wav" in str(caught.value) and "+3712" not in str(caught.value)


def test_original_format_and_safe_names(tmp_path: Path) -> None:
    mp3 = b"ID3" + bytes(500)
    odd = voice_call("../../etc/passwd", mp3, media_type="audio/mpeg")
    bucket = FakeBucket({odd.attachment.uri: mp3})  # type: ignore[union-attr]
    staging = DirStaging(tmp_path)
    write_recordings([odd], staging, bucket.copy)
    names = [f.name for f in staging.files()]
    assert len(names) == 2 and names[0].endswith(".mp3") and names[0].startswith("recordings/call-")
    assert all(".." not in n for n in names)


def test_a_copy_that_fails_midway_starts_again_in_a_fresh_file(tmp_path: Path) -> None:
    audio = wav_bytes()
    call = voice_call("v-3", audio)
    calls = {"n": 0}

    def flaky(attachment: Attachment, sink: BinaryIO) -> None:
        calls["n"] += 1
        sink.write(audio[:100])
        if calls["n"] == 1:
            raise ConnectionError("cut")
        sink.write(audio[100:])

    staging = DirStaging(tmp_path)  # a block that raised never completes its file
    summary = write_recordings([call], staging, flaky)
    assert calls["n"] == 2 and summary.audio_bytes == len(audio)
    assert staging.read("recordings/v-3.wav") == audio
    assert [f.name for f in staging.files()] == ["recordings/v-3.wav", "recordings/v-3.json"]
    calls["n"] = 0
    with pytest.raises(ConnectionError):
        write_recordings([voice_call("v-4", audio)], DirStaging(tmp_path / "b"), flaky, attempts=1)
