"""Controller profiles: one YAML file of facts per controller, loaded into a typed model.

Why data and not code: the facts (legal name, registration number, deadlines, supervisory
authority, later purposes, retention and recipients) come from each controller's privacy notice
and change when the notice changes; a lawyer or the DPO should be able to review a diff of one
YAML file. The model types only the fields the intake needs (and ``systems``, which the collection
needs) and keeps every other key (``extra="allow"``), so other parts of the pipeline can extend the
same files without touching this loader: ``dsar_pipeline.letter.facts`` types the Art. 15 facts
(purposes, categories, recipients, sources, retention, automated decisions, transfers, contacts).
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

PROFILE_DIR = Path(__file__).resolve().parent
"""Directory holding the built-in ``<controller id>.yaml`` files."""
PROFILE_DIR_SETTING = "DSAR_PROFILE_DIR"
"""A deployment's own folder of profiles, used instead of the built-in ones when set."""

_ID_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")

Country = Literal["EE", "LV", "LT"]
Language = Literal["et", "lv", "ru", "en"]
SystemName = str
"""A system of the systems file (``connectors/systems.yaml`` or ``DSAR_SYSTEMS_FILE``); a profile lists
those its controller runs, and a name the file does not configure is refused when the profile loads."""


def configured_systems() -> tuple[SystemName, ...]:
    from connectors.registry import systems

    return tuple(systems())


def profile_dir() -> Path:
    """Where profiles are read: ``DSAR_PROFILE_DIR`` if set, else the built-in folder."""
    configured = os.environ.get(PROFILE_DIR_SETTING, "").strip()
    return Path(configured) if configured else PROFILE_DIR


class ProfileError(ValueError):
    """A profile is unknown or its file does not describe a usable controller."""


class SupervisoryAuthority(BaseModel):
    """The authority a data subject may complain to (GDPR Art. 15(1)(f), Art. 77)."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str | dict[Language, str] = Field(min_length=1, description="one name, or its name in each letter language")
    url: str = Field(min_length=1)
    email: str | None = None
    address: str | None = None
    phone: str | None = None

    def name_in(self, language: Language) -> str:
        """The authority's name as a letter in ``language`` gives it (its own name in that language)."""
        if isinstance(self.name, str):
            return self.name
        return self.name.get(language) or self.name.get("en") or next(iter(self.name.values()))


class PromisedExtension(BaseModel):
    """The notice's own rule for extending its answer period (it may only restate Art. 12(3))."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    months: int = Field(ge=1, le=2)
    notice: str = Field(min_length=1, description="the notice's section stating the rule")
    quote: str | None = None


class AnswerPromise(BaseModel):
    """What the notice promises about answering a request.

    Why it is typed here and not only in the letter: the promise shortens the deadline the intake
    computes. A notice that says "within 30 calendar days" binds the controller to answer before
    the statutory month ends for a request of 2 March (31 days); the earlier date is the due date.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    days: int | None = Field(default=None, ge=1, le=31, description="calendar days after the day of receipt")
    notice: str | None = Field(default=None, min_length=1)
    quote: str | None = None
    extension: PromisedExtension | None = None

    @model_validator(mode="after")
    def _sourced(self) -> AnswerPromise:
        if self.days is not None and not self.notice:
            raise ValueError("a promised answer period needs the notice section that promises it")
        return self


class ControllerProfile(BaseModel):
    """Facts about one controller; unknown keys are kept for the parts of the pipeline that add them."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: str
    legal_name: str = Field(min_length=1)
    registration_number: str | None = None
    country: Country
    time_zone: str
    languages: tuple[Language, ...] = Field(min_length=1)
    answer_deadline_months: int = Field(default=1, ge=1, le=1)
    extension_months: int = Field(default=2, ge=0, le=2)
    answer_promise: AnswerPromise = Field(default_factory=AnswerPromise)
    signed_requests_required: bool = False
    supervisory_authority: SupervisoryAuthority
    # Which of the configured systems this controller runs: only these are searched for its requests.
    # The rest of the Art. 15 facts (purposes, retention, ...) are typed by dsar_pipeline.letter.facts.
    systems: tuple[SystemName, ...] = Field(default_factory=configured_systems, min_length=1)

    @field_validator("id")
    @classmethod
    def _id_is_safe(cls, value: str) -> str:
        if not _ID_RE.fullmatch(value):
            raise ValueError("controller id must be lowercase letters, digits and hyphens")
        return value

    @field_validator("systems")
    @classmethod
    def _systems_are_configured(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        known = configured_systems()
        unknown = [name for name in value if name not in known]
        if unknown:
            raise ValueError(f"system {unknown[0]!r} is not in the systems file (configured: {', '.join(known)})")
        return value

    @field_validator("time_zone")
    @classmethod
    def _time_zone_exists(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("time_zone is not an IANA time zone") from exc
        return value

    @property
    def zone(self) -> ZoneInfo:
        """The controller's time zone, in which the date of receipt of a request is counted."""
        return ZoneInfo(self.time_zone)

    @property
    def default_language(self) -> Language:
        """The first listed language: used when a ticket does not say which language it wants."""
        return self.languages[0]


def is_valid_controller_id(controller_id: str) -> bool:
    """True when the id has the safe shape of a profile id (it may still be unknown)."""
    return bool(_ID_RE.fullmatch(controller_id))


def list_controllers() -> list[str]:
    """Ids of every controller that has a profile file, sorted."""
    return sorted(p.stem for p in profile_dir().glob("*.yaml") if _ID_RE.fullmatch(p.stem))


@lru_cache(maxsize=64)
def load_profile(controller_id: str) -> ControllerProfile:
    """Load and validate ``<controller_id>.yaml``.

    The id is checked against a strict pattern before it touches the file system, so a ticket's
    controller field can never name a path outside this directory.
    """
    if not isinstance(controller_id, str) or not _ID_RE.fullmatch(controller_id):
        raise ProfileError("controller id has an invalid format")
    path = profile_dir() / f"{controller_id}.yaml"
    if not path.is_file():
        raise ProfileError(f"unknown controller {controller_id!r} (known: {', '.join(list_controllers())})")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError(f"profile {controller_id!r} cannot be read: {type(exc).__name__}") from exc
    if not isinstance(data, dict):
        raise ProfileError(f"profile {controller_id!r} is not a mapping")
    try:
        profile = ControllerProfile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ProfileError(f"profile {controller_id!r}: {where}: {first['msg']}") from exc
    if profile.id != controller_id:
        raise ProfileError(f"profile file {controller_id!r} declares a different id")
    return profile


__all__ = [
    "PROFILE_DIR",
    "PROFILE_DIR_SETTING",
    "AnswerPromise",
    "ControllerProfile",
    "Country",
    "Language",
    "ProfileError",
    "PromisedExtension",
    "SupervisoryAuthority",
    "SystemName",
    "configured_systems",
    "is_valid_controller_id",
    "list_controllers",
    "load_profile",
    "profile_dir",
]
