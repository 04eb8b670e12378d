"""Art. 15(4): the copy must not disclose other people. Call metadata names our agents; redact it.

Rules, applied to every record before it reaches the package (export, report, recordings):
- a field categorised `third_party.staff` (the agent's id and name) keeps its place but its value
  becomes the neutral label `customer service agent`: the person learns an agent took the call,
  not who;
- any other field categorised `third_party.*` (another person's data) is removed;
- chatbot transcripts (`user.content.chat_transcript`, turns `{"speaker", "text", "role"?, ...}`)
  keep every turn's text; a turn spoken by an agent (the connector's `role: agent`, else a speaker
  label such as `agent Kadri Tamm` or naming the record's agent) gets the speaker `agent`, and its
  `agent_name`/`agent_id` keys are dropped; a turn by anyone who is neither the person, the bot nor
  an agent gets `other person`;
- the agent's names and ids are masked as `[agent]` in every text of the record (transcript text
  included), another speaker's name as `[other person]`: the full name, and each part of it of 3+
  letters (and its stem: a 5+ letter part without its final vowel or `s`) followed by at most 3
  more letters (Estonian and Latvian inflect names: `Kadrit`, `Jāni`, `Bērziņu`),
  case-insensitively and on word boundaries. This errs towards masking: a customer's own
  word that happens to start with an agent's first name is masked too.
What was withheld is counted per kind (`Withheld`), never with values, for the letter's `art15-4`.

Recordings: `write_recordings` streams each call's audio, in its original format, into
`recordings/<call-id>.<ext>` and writes the redacted metadata next to it as `recordings/<call-id>.json`
(chatbot sessions have metadata only). The audio itself is not altered: it is the person's own call.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from connectors.contract import Attachment, Record
from dsar_pipeline.export.values import json_value
from dsar_pipeline.package.staging import Staging

STAFF = "third_party.staff"
THIRD_PARTY = "third_party."
TRANSCRIPT = "user.content.chat_transcript"
AGENT_LABEL = "customer service agent"
# The neutral label in the languages of the package (the letter's and the report's), for the
# recordings' metadata files: the person reads them too.
AGENT_LABELS = {"en": AGENT_LABEL, "et": "klienditeenindaja", "lv": "klientu apkalpošanas speciālists",
                "ru": "специалист по обслуживанию клиентов"}
REDACTED_NOTES = {
    "en": "Art. 15(4): agent identity replaced by a neutral label, agent names masked, other people's data removed",
    "et": "IKÜM art 15 lg 4: teenindaja isik on asendatud üldise märkega, teenindajate nimed on varjatud, teiste "
          "isikute andmed on eemaldatud",
    "lv": "VDAR 15. panta 4. punkts: speciālista identitāte aizstāta ar vispārīgu apzīmējumu, speciālistu vārdi "
          "aizklāti, citu personu dati izņemti",
    "ru": "Ст. 15(4) GDPR: личность специалиста заменена нейтральным обозначением, имена специалистов скрыты, "
          "данные других лиц удалены",
}
AGENT_SPEAKER = "agent"
OTHER_SPEAKER = "other person"
MASK = "[agent]"
OTHER_MASK = "[other person]"
# Speakers that are the person or our software: their label is kept.
OWN_SPEAKERS = frozenset({"customer", "caller", "client", "user", "you", "bot", "chatbot", "assistant",
                          "virtual assistant", "system"})
ROLE_WORDS = ("agent", "operator", "staff", "support")
# The recordings connector's structured turns: `role` says who spoke; these keys name the agent.
TURN_ROLES = frozenset({"customer", "bot", "agent", "other"})
TURN_IDENTITY_KEYS = ("agent_name", "agent_id")
RECORDINGS_SYSTEM = "recordings"
RECORDINGS_DIR = "recordings"
AUDIO_EXTENSIONS = {"audio/wav": "wav", "audio/x-wav": "wav", "audio/wave": "wav", "audio/vnd.wave": "wav",
                    "audio/mpeg": "mp3", "audio/mp3": "mp3", "audio/ogg": "ogg", "audio/opus": "opus",
                    "audio/flac": "flac", "audio/x-flac": "flac", "audio/mp4": "m4a", "audio/aac": "aac",
                    "audio/webm": "webm", "audio/amr": "amr", "audio/basic": "au"}
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

# Kinds of withheld information (keys the letter localises).
AGENT_IDENTITY = "agent_identity"  # an agent id/name field replaced by the neutral label
AGENT_NAME_IN_TEXT = "agent_name_in_text"  # a mention of an agent's name or id masked in a text
AGENT_SPEAKER_LABEL = "agent_speaker_label"  # a transcript turn's speaker replaced by "agent"
OTHER_SPEAKER_LABEL = "other_speaker_label"  # a transcript turn's speaker replaced by "other person"
OTHER_NAME_IN_TEXT = "other_name_in_text"  # a mention of another speaker's name masked in a text
THIRD_PARTY_DATA = "third_party_data"  # a field with another person's data removed


@dataclass
class Withheld:
    """Counts of withheld items per kind; never the values."""

    counts: Counter[str] = field(default_factory=Counter)

    def add(self, kind: str, count: int = 1) -> None:
        if count:
            self.counts[kind] += count

    def merge(self, other: Withheld) -> None:
        self.counts.update(other.counts)

    def as_dict(self) -> dict[str, int]:
        return dict(sorted(self.counts.items()))

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def __bool__(self) -> bool:
        return self.total > 0


class _Masker:
    """Masks names and ids in texts, each group with its own mask; counts the mentions masked."""

    def __init__(self, groups: Iterable[tuple[Iterable[str], str]]) -> None:
        self.rules: list[tuple[re.Pattern[str], str]] = []
        self.masked: Counter[str] = Counter()
        for names, mask in groups:
            pattern = _pattern(names)
            if pattern is not None:
                self.rules.append((pattern, mask))

    def text(self, value: str) -> str:
        for pattern, mask in self.rules:
            value, count = pattern.subn(mask, value)
            self.masked[mask] += count
        return value

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value


def _pattern(names: Iterable[str]) -> re.Pattern[str] | None:
    """Whole names, and parts of 3+ letters with up to 3 letters of inflection, on word boundaries;
    a part of 5+ letters ending in a vowel or `s` also without that ending (its stem).

    Whole names come first in the alternation (longest first), so `Kadri Tamm` is one mention.
    """
    whole: set[str] = set()
    parts: set[str] = set()
    for raw in names:
        name = raw.strip()
        if len(name) < 2:
            continue
        whole.add(name)
        for part in re.split(r"[\s\-]+", name):
            if len(part) >= 3 and part.isalpha():
                parts.add(part)
                if len(part) >= 5 and part[-1].lower() in "aeious":  # Jānis -> Jāni, Jānim; Bērziņa -> Bērziņu
                    parts.add(part[:-1])
    if not whole:
        return None
    terms = [re.escape(n) for n in sorted(whole, key=len, reverse=True)]
    terms += [re.escape(p) + r"\w{0,3}" for p in sorted(parts, key=len, reverse=True)]
    return re.compile(r"(?<!\w)(?:" + "|".join(terms) + r")(?!\w)", re.IGNORECASE)


def _speaker_name(speaker: str) -> str | None:
    """The person named in a speaker label that is not the customer's or the bot's."""
    label = speaker.strip()
    if label.casefold() in OWN_SPEAKERS:
        return None
    for role in ROLE_WORDS:
        if label.casefold().startswith(role):
            label = label[len(role):].strip(" :-")
            break
    return label


def _is_agent(speaker: str, agent_terms: set[str]) -> bool:
    folded = speaker.strip().casefold()
    return folded.startswith(ROLE_WORDS) or any(term and term in folded for term in agent_terms)


def _base(language: str | None) -> str:
    base = (language or "en").split("-")[0].split("_")[0].lower()
    return base if base in AGENT_LABELS else "en"


def agent_label(language: str | None) -> str:
    """The neutral agent label in `language` (`et`, `et-EE` ...); English for any other."""
    return AGENT_LABELS[_base(language)]


def redact_record(record: Record, withheld: Withheld | None = None, *, label: str = AGENT_LABEL) -> Record:
    """A copy of `record` without other people's data (see the module docstring); counts into `withheld`.

    `label` replaces an agent's identity: the English `AGENT_LABEL` unless the caller writes for a
    reader of another language (`agent_label`).
    """
    tally = withheld if withheld is not None else Withheld()
    staff_values = [v for k, v in record.fields.items() if record.categories.get(k) == STAFF and isinstance(v, str)]
    transcripts = [k for k, c in record.categories.items() if c == TRANSCRIPT and k in record.fields]
    has_third_party = any(c.startswith(THIRD_PARTY) for c in record.categories.values())
    if not has_third_party and not transcripts:
        return record
    agent_terms = {v.strip().casefold() for v in staff_values if len(v.strip()) >= 2}
    agents, others = set(staff_values), set()
    for key in transcripts:
        for turn in _turns(record.fields[key]):
            speaker = turn.get("speaker")
            agent = _role(turn, agent_terms) == "agent"
            if isinstance(speaker, str) and (name := _speaker_name(speaker)):
                (agents if agent else others).add(name)
            agents.update(v for k in TURN_IDENTITY_KEYS if isinstance(v := turn.get(k), str))
    masker = _Masker([(agents, MASK), (others - agents, OTHER_MASK)])
    fields: dict[str, Any] = {}
    categories: dict[str, str] = {}
    for name, value in record.fields.items():
        category = record.categories.get(name, "")
        if category == STAFF:
            fields[name] = label if value is not None else None
            tally.add(AGENT_IDENTITY, int(value is not None))
        elif category.startswith(THIRD_PARTY):
            tally.add(THIRD_PARTY_DATA, int(value is not None))
            continue
        elif category == TRANSCRIPT:
            fields[name] = _redact_transcript(value, masker, agent_terms, tally)
        else:
            fields[name] = masker.value(value)
        categories[name] = category
    tally.add(AGENT_NAME_IN_TEXT, masker.masked[MASK])
    tally.add(OTHER_NAME_IN_TEXT, masker.masked[OTHER_MASK])
    return dataclasses.replace(record, fields=fields, categories=categories)


def _turns(value: Any) -> list[Mapping[str, Any]]:
    return [t for t in value if isinstance(t, Mapping)] if isinstance(value, list | tuple) else []


def _role(turn: Mapping[str, Any], agent_terms: set[str]) -> str | None:
    """customer | bot | agent | other | None (no speaker): the connector's `role` when it gives one,
    else read from the speaker label."""
    role = turn.get("role")
    if role in TURN_ROLES:
        return str(role)
    speaker = turn.get("speaker")
    if speaker is None:
        return None
    if isinstance(speaker, str) and speaker.strip().casefold() in OWN_SPEAKERS:
        return "customer"
    if isinstance(speaker, str) and _is_agent(speaker, agent_terms):
        return "agent"
    return "other"


def _redact_transcript(value: Any, masker: _Masker, agent_terms: set[str], tally: Withheld) -> Any:
    if not isinstance(value, list | tuple):
        return masker.value(value)
    turns: list[Any] = []
    for turn in value:
        if not isinstance(turn, Mapping):
            turns.append(masker.value(turn))
            continue
        out: dict[str, Any] = {}
        role = _role(turn, agent_terms)
        if "speaker" in turn:
            if role == "agent":
                out["speaker"] = AGENT_SPEAKER
                tally.add(AGENT_SPEAKER_LABEL)
            elif role == "other":
                out["speaker"] = OTHER_SPEAKER
                tally.add(OTHER_SPEAKER_LABEL)
            else:
                out["speaker"] = turn["speaker"]
        for key, item in turn.items():
            if key == "speaker":
                continue
            if key in TURN_IDENTITY_KEYS:
                tally.add(AGENT_IDENTITY, int(item is not None))
                continue
            out[key] = masker.value(item)
        turns.append(out)
    return turns


class RecordingError(RuntimeError):
    """A recording could not be copied faithfully; the message names the call's file, never data."""


@dataclass
class RecordingsSummary:
    calls: int = 0
    audio_files: int = 0
    audio_bytes: int = 0
    files: list[str] = field(default_factory=list)
    withheld: Withheld = field(default_factory=Withheld)


def file_stem(record: Record) -> str:
    """The call id as a file name; an id unsafe as a name is replaced by a digest of it."""
    call_id = record.fields.get("call_id") or record.key
    text = str(call_id)
    if SAFE_NAME.fullmatch(text) and ".." not in text:
        return text
    return "call-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def audio_extension(attachment: Attachment) -> str:
    """The original format's extension: from the media type, else from the object's name."""
    media = attachment.media_type.split(";")[0].strip().lower()
    if media in AUDIO_EXTENSIONS:
        return AUDIO_EXTENSIONS[media]
    suffix = attachment.uri.rsplit("/", 1)[-1].rpartition(".")[2].lower()
    return suffix if suffix.isalnum() and 0 < len(suffix) <= 5 else "bin"


def write_recordings(records: Iterable[Record], staging: Staging,
                     copy_audio: Callable[[Attachment, BinaryIO], Any], *,
                     system: str = RECORDINGS_SYSTEM, attempts: int = 2,
                     language: str | None = None) -> RecordingsSummary:
    """Each call of `system`: its audio streamed by `copy_audio` into the staging, then its redacted metadata.

    `copy_audio(attachment, sink)` writes the object's bytes to `sink` (e.g.
    `RecordingsConnector.copy_attachment`); the staged size must equal `attachment.size`. The staged
    file cannot be rewound (it is encrypted as it is written), so a copy that fails midway is
    abandoned (the staging discards it) and the copy starts again in a new file, `attempts` times.
    `language`: the request's language; the agent's neutral label in the metadata files is written
    in it (`agent_label`). Without it the label stays English, as before.
    """
    label = agent_label(language)
    summary = RecordingsSummary()
    seen: set[str] = set()
    for record in records:
        if record.system != system:
            continue
        stem = file_stem(record)
        if stem in seen:
            continue
        seen.add(stem)
        redacted = redact_record(record, summary.withheld, label=label)
        audio: dict[str, Any] | None = None
        if record.attachment is not None:
            name = f"{RECORDINGS_DIR}/{stem}.{audio_extension(record.attachment)}"
            _copy(staging, name, record.attachment, copy_audio, attempts)
            staged = _staged_size(staging, name)
            if staged != record.attachment.size:
                raise RecordingError(f"{name}: copied {staged} bytes, the object has {record.attachment.size}")
            summary.audio_files += 1
            summary.audio_bytes += staged
            summary.files.append(name)
            audio = {"file": name.rsplit("/", 1)[1], "media_type": record.attachment.media_type, "size_bytes": staged}
        metadata = {"call_id": stem, "audio": audio, "redacted": REDACTED_NOTES[_base(language)],
                    "fields": {k: json_value(v) for k, v in redacted.fields.items()}}
        name = f"{RECORDINGS_DIR}/{stem}.json"
        with staging.create(name) as sink:
            sink.write(json.dumps(metadata, ensure_ascii=False, indent=2).encode("utf-8"))
        summary.files.append(name)
        summary.calls += 1
    return summary


def _copy(staging: Staging, name: str, attachment: Attachment, copy_audio: Callable[[Attachment, BinaryIO], Any],
          attempts: int) -> None:
    for attempt in range(1, max(attempts, 1) + 1):
        try:
            with staging.create(name) as sink:
                copy_audio(attachment, sink)
            return
        except Exception:
            if attempt >= attempts:
                raise


def _staged_size(staging: Staging, name: str) -> int | None:
    for staged in reversed(staging.files()):
        if staged.name == name:
            return staged.size
    return None
