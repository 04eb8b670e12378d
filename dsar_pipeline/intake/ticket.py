"""The ticket model: an OpenDSR-shaped access/portability request plus this pipeline's extensions.

Shape (OpenDSR request fields, then ``extensions``)::

    {
      "subject_request_id": "helpdesk-2026-000123",
      "subject_request_type": "access" | "portability",
      "submitted_time": "2026-03-02T09:15:00Z",          # RFC 3339, offset required
      "api_version": "1.0",                              # "0.1" or "1.0"
      "subject_identities": [
        {"identity_type": "personal_code", "identity_value": "38001085718",
         "identity_format": "raw", "identity_country": "EE"},
        {"identity_type": "email", "identity_value": "mari@example.ee", "identity_format": "raw"},
        {"identity_type": "phone", "identity_value": "+372 5123 4567", "identity_format": "raw"},
        {"identity_type": "customer_number", "identity_value": "C-100234", "identity_format": "raw"}
      ],
      "status_callback_urls": ["https://helpdesk.example/opendsr/callbacks"],
      "property_ids": [],
      "extensions": {
        "controller": "enefit-ee",
        "language": "et",
        "delivery_contacts": {"email": "mari@example.ee", "phone": "+37251234567"},
        "verification_evidence": {"type": "signed_container", "container": "<base64 ASiC-E>",
                                  "file_name": "request.asice"},
        "id_card_certificate": "<base64 DER>"
      }
    }

Decisions, and why:

* Unknown fields are rejected at every level (``extra="forbid"``). A misspelt optional field
  (``"extension"``, ``"verification_evidance"``) would otherwise silently drop the signed
  container or the delivery phone. OpenDSR's own extension point is ``extensions``, and its
  content is defined here. The OpenDSR field ``property_ids`` is accepted and ignored.
* ``identity_format`` must be ``raw``: hashed identities cannot be searched for in the systems.
* ``identity_country`` (EE/LV/LT) is this pipeline's addition: Estonian and Lithuanian codes
  share one layout and check digit, so the country cannot be inferred. It defaults to the
  controller's country.
* Phones must be international (``+``); they are normalised to E.164, e-mails to their
  normalised form, personal codes to their canonical form.
* At most one personal code (one request, one person) and no duplicate identities.
* ``delivery_contacts.email`` is required (the download link goes there); ``phone`` (the
  passphrase SMS) is required unless an ID-card certificate is given (then the package can be
  a CDOC encrypted to the card and needs no passphrase).
* ``language`` defaults to the controller's first language.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from connectors.identity import Identifier
from connectors.identity import IdentityType as SearchType
from dsar_pipeline.identities import normalise as identities

from ..profiles import ControllerProfile, Language, ProfileError, is_valid_controller_id, load_profile
from .request_ids import check_subject_request_id, derive_request_id
from .strict_json import MAX_CONTAINER_BYTES

GDPR_APPLIES_FROM = datetime(2018, 5, 25, tzinfo=UTC)
MAX_CLOCK_SKEW = timedelta(minutes=10)
MAX_CERTIFICATE_BYTES = 16 * 1024
SUPPORTED_API_VERSIONS = ("0.1", "1.0")

_RFC3339 = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._ -]{0,95}\.(?:asice|sce|bdoc|edoc)$", re.IGNORECASE)
_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:#/-]{0,127}$")
_PROPERTY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class FieldProblem(ValueError):
    """Raised from model-level checks to report a problem at a precise path (used by the parser)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class RequestType(StrEnum):
    """GDPR Art. 15 (access) or Art. 20 (portability); erasure etc. are out of this pipeline's scope."""

    ACCESS = "access"
    PORTABILITY = "portability"


class IdentityType(StrEnum):
    """Identifiers the systems can be searched by (the personal code is the anchor, the rest are claims)."""

    PERSONAL_CODE = "personal_code"
    EMAIL = "email"
    PHONE = "phone"
    CUSTOMER_NUMBER = "customer_number"
    METERING_POINT_EIC = "metering_point_eic"
    CUSTOMER_EIC = "customer_eic"
    VOLT_ACCOUNT_ID = "volt_account_id"
    PORTAL_USERNAME = "portal_username"


SEARCH_TYPES: dict[IdentityType, SearchType] = {
    IdentityType.PERSONAL_CODE: SearchType.PERSONAL_CODE,
    IdentityType.EMAIL: SearchType.EMAIL,
    IdentityType.PHONE: SearchType.PHONE,
    IdentityType.CUSTOMER_NUMBER: SearchType.CUSTOMER_ID,
    IdentityType.METERING_POINT_EIC: SearchType.METERING_POINT_EIC,
    IdentityType.CUSTOMER_EIC: SearchType.CUSTOMER_EIC,
    IdentityType.VOLT_ACCOUNT_ID: SearchType.VOLT_ACCOUNT_ID,
    IdentityType.PORTAL_USERNAME: SearchType.PORTAL_USERNAME,
}
"""The ticket's identity types as the connectors' identifier types (one model from intake to the systems)."""


class IdentityFormat(StrEnum):
    """Only raw values can be searched for."""

    RAW = "raw"


class EvidenceType(StrEnum):
    """How the requester's identity can be checked."""

    SIGNED_CONTAINER = "signed_container"
    REFERENCE = "reference"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True, validate_default=True)


class SubjectIdentity(_Strict):
    """One identifier of the data subject (OpenDSR ``subject_identities[]`` item)."""

    identity_type: IdentityType
    identity_value: StrictStr = Field(min_length=1, max_length=320)
    identity_format: IdentityFormat = IdentityFormat.RAW
    identity_country: Literal["EE", "LV", "LT"] | None = None


class DeliveryContacts(_Strict):
    """Where the package goes: the link by e-mail, the passphrase by SMS."""

    email: StrictStr = Field(min_length=3, max_length=identities.MAX_EMAIL_CHARS)
    phone: StrictStr | None = Field(default=None, max_length=32)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return identities.normalise_email(value)

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None) -> str | None:
        return None if value is None else identities.normalise_phone(value)


class VerificationEvidence(_Strict):
    """Proof of identity: a signed container (ASiC-E/BDOC/.edoc, base64) or a reference to one."""

    type: EvidenceType
    container: StrictStr | None = None
    file_name: StrictStr | None = None
    reference: StrictStr | None = None

    @field_validator("container")
    @classmethod
    def _container(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            decoded = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("not valid base64") from None
        if len(decoded) > MAX_CONTAINER_BYTES:
            raise ValueError(f"container is larger than {MAX_CONTAINER_BYTES // (1024 * 1024)} MiB")
        if not decoded.startswith(b"PK\x03\x04"):
            raise ValueError("not a ZIP-based signed container (ASiC-E/BDOC/.edoc)")
        return value

    @field_validator("file_name")
    @classmethod
    def _file_name(cls, value: str | None) -> str | None:
        if value is not None and (not _FILE_NAME.fullmatch(value) or ".." in value):
            raise ValueError("must be a plain file name ending in .asice, .sce, .bdoc or .edoc")
        return value

    @field_validator("reference")
    @classmethod
    def _reference(cls, value: str | None) -> str | None:
        if value is not None and not _REFERENCE.fullmatch(value):
            raise ValueError("must be 1-128 letters, digits or . _ : # / -")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> VerificationEvidence:
        if self.type is EvidenceType.SIGNED_CONTAINER:
            if self.container is None:
                raise FieldProblem("extensions.verification_evidence.container", "is required for a signed_container")
            if self.reference is not None:
                raise FieldProblem("extensions.verification_evidence.reference", "not allowed with a signed_container")
        else:
            if self.reference is None:
                raise FieldProblem("extensions.verification_evidence.reference", "is required for type reference")
            if self.container is not None or self.file_name is not None:
                raise FieldProblem("extensions.verification_evidence.container", "not allowed with type reference")
        return self

    def container_bytes(self) -> bytes | None:
        """The decoded container (already checked to be valid base64 within the size limit)."""
        return None if self.container is None else base64.b64decode(self.container, validate=True)


class TicketExtensions(_Strict):
    """This pipeline's part of the ticket."""

    controller: StrictStr = Field(min_length=1, max_length=40)
    language: Language | None = None
    delivery_contacts: DeliveryContacts
    verification_evidence: VerificationEvidence | None = None
    id_card_certificate: StrictStr | None = Field(default=None, max_length=(MAX_CERTIFICATE_BYTES * 4) // 3 + 4)

    @field_validator("controller")
    @classmethod
    def _controller(cls, value: str) -> str:
        if not is_valid_controller_id(value):
            raise ValueError("must be a controller id such as 'enefit-ee'")
        return value

    @field_validator("id_card_certificate")
    @classmethod
    def _certificate_base64(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            decoded = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("not valid base64") from None
        if not decoded or len(decoded) > MAX_CERTIFICATE_BYTES:
            raise ValueError("certificate is empty or too large")
        return value

    def certificate_der(self) -> bytes | None:
        """The ID-card certificate as DER bytes, if the ticket has one."""
        return None if self.id_card_certificate is None else base64.b64decode(self.id_card_certificate)


def _now(info: ValidationInfo) -> datetime:
    context = info.context if isinstance(info.context, dict) else {}
    now = context.get("now")
    return now if isinstance(now, datetime) else datetime.now(UTC)


class Ticket(_Strict):
    """A validated, normalised access or portability request."""

    subject_request_id: StrictStr
    subject_request_type: RequestType
    submitted_time: datetime
    api_version: Literal["0.1", "1.0"]
    subject_identities: list[SubjectIdentity] = Field(min_length=1, max_length=16)
    status_callback_urls: list[StrictStr] = Field(default_factory=list, max_length=5)
    property_ids: list[StrictStr] = Field(default_factory=list, max_length=16)
    extensions: TicketExtensions

    _request_id: str | None = PrivateAttr(default=None)
    _identifiers: tuple[Identifier, ...] = PrivateAttr(default=())

    @field_validator("subject_request_id")
    @classmethod
    def _subject_request_id(cls, value: str) -> str:
        return check_subject_request_id(value)

    @field_validator("submitted_time", mode="before")
    @classmethod
    def _submitted_time(cls, value: Any, info: ValidationInfo) -> datetime:
        if isinstance(value, datetime):
            parsed = value
        elif isinstance(value, str) and _RFC3339.fullmatch(value):
            try:
                parsed = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
            except ValueError:
                raise ValueError("not a valid date and time") from None
        else:
            raise ValueError("must be an RFC 3339 date-time with a UTC offset (YYYY-MM-DDThh:mm:ssZ)")
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            raise ValueError("must include a UTC offset")
        if parsed < GDPR_APPLIES_FROM:
            raise ValueError("is before 25 May 2018")
        if parsed > _now(info) + MAX_CLOCK_SKEW:
            raise ValueError("is in the future")
        return parsed

    @field_validator("status_callback_urls")
    @classmethod
    def _callbacks(cls, urls: list[str]) -> list[str]:
        from urllib.parse import urlsplit

        for index, url in enumerate(urls):
            where = f"status_callback_urls[{index}]"
            if len(url) > 2048:
                raise FieldProblem(where, "URL is too long")
            try:
                parts = urlsplit(url)
                host = parts.hostname or ""
                _ = parts.port
            except ValueError:
                raise FieldProblem(where, "not a valid URL") from None
            local = host in {"localhost", "127.0.0.1", "::1"}
            if parts.scheme != "https" and not (parts.scheme == "http" and local):
                raise FieldProblem(where, "must be an https URL (http only for localhost)")
            if not host or parts.username is not None or parts.password is not None:
                raise FieldProblem(where, "must have a host and no user name or password")
            if any(c.isspace() for c in url) or not url.isascii():
                raise FieldProblem(where, "must be an ASCII URL without spaces")
        return urls

    @field_validator("property_ids")
    @classmethod
    def _property_ids(cls, values: list[str]) -> list[str]:
        for index, value in enumerate(values):
            if not _PROPERTY_ID.fullmatch(value):
                raise FieldProblem(f"property_ids[{index}]", "only letters, digits, '.', '_' and '-' are allowed")
        return values

    @model_validator(mode="after")
    def _normalise(self, info: ValidationInfo) -> Ticket:
        try:
            profile = load_profile(self.extensions.controller)
        except ProfileError:
            from ..profiles import list_controllers

            known = ", ".join(list_controllers())
            raise FieldProblem("extensions.controller", f"unknown controller (known: {known})") from None
        if self.extensions.language is None:
            self.extensions.language = profile.default_language
        self.subject_identities = _normalise_identities(self.subject_identities, profile)
        self._identifiers = tuple(_identifier(i) for i in self.subject_identities)
        if self.extensions.delivery_contacts.phone is None and self.extensions.id_card_certificate is None:
            raise FieldProblem(
                "extensions.delivery_contacts.phone",
                "is required (the passphrase goes by SMS) unless an id_card_certificate is given",
            )
        if self.extensions.id_card_certificate is not None:
            from dsar_pipeline.signatures.id_card import check_recipient_certificate

            code = self.personal_code
            problem = check_recipient_certificate(
                self.extensions.certificate_der() or b"", code, _now(info)
            )
            if problem:
                raise FieldProblem("extensions.id_card_certificate", problem)
        return self

    # -- derived values ---------------------------------------------------------------------

    @property
    def controller_id(self) -> str:
        """The controller this request is addressed to."""
        return self.extensions.controller

    @property
    def profile(self) -> ControllerProfile:
        """The controller's profile (validated to exist when the ticket was parsed)."""
        return load_profile(self.extensions.controller)

    @property
    def language(self) -> Language:
        """The language of the letter (defaulted from the profile when the ticket gave none)."""
        return self.extensions.language or self.profile.default_language

    @property
    def received_at(self) -> datetime:
        """The moment of receipt from which the deadline runs (the ticket's submitted_time)."""
        return self.submitted_time

    @property
    def personal_code(self) -> tuple[str, str] | None:
        """(country, canonical code) of the subject, or None when the ticket names no personal code."""
        for identity in self.subject_identities:
            if identity.identity_type is IdentityType.PERSONAL_CODE:
                return (identity.identity_country or self.profile.country, identity.identity_value)
        return None

    @property
    def identifiers(self) -> tuple[Identifier, ...]:
        """The identities as the systems are searched with them, built once here: the personal code is
        the anchor, every other identity a claim that stays unbound until a record binds it to the anchor."""
        return self._identifiers

    def identities_of(self, identity_type: IdentityType) -> list[str]:
        """All normalised values of one identity type."""
        return [i.identity_value for i in self.subject_identities if i.identity_type is identity_type]

    @property
    def request_id(self) -> str:
        """Opaque internal id (``r-`` + 26 chars): partition key and file name, no personal data."""
        if self._request_id is None:
            from dsar_pipeline.settings import request_id_key

            self._request_id = derive_request_id(self.controller_id, self.subject_request_id, request_id_key())
        return self._request_id

    def bind_request_id_key(self, key: bytes) -> None:
        """Derive the request id with an explicit key (instead of ``DSAR_REQUEST_ID_KEY``)."""
        self._request_id = derive_request_id(self.controller_id, self.subject_request_id, key)

    def public_summary(self) -> dict[str, Any]:
        """What may go to logs, Dagster tags and metadata: ids, types and counts, no personal values."""
        evidence = self.extensions.verification_evidence
        return {
            "request_id": self.request_id,
            "controller": self.controller_id,
            "request_type": self.subject_request_type.value,
            "language": self.language,
            "identity_types": sorted({i.identity_type.value for i in self.subject_identities}),
            "evidence": evidence.type.value if evidence else None,
            "id_card_certificate": self.extensions.id_card_certificate is not None,
        }


def _identifier(identity: SubjectIdentity) -> Identifier:
    """The connectors' identifier for a validated ticket identity."""
    kind = SEARCH_TYPES[identity.identity_type]
    if identity.identity_type is IdentityType.PERSONAL_CODE:
        return Identifier.anchor(identity.identity_value)
    return Identifier.claimed(kind, identity.identity_value)


def _normalise_identities(items: list[SubjectIdentity], profile: ControllerProfile) -> list[SubjectIdentity]:
    """Validate each identity in the controller's context and return canonical copies."""
    seen: set[tuple[str, str]] = set()
    personal_codes = 0
    result: list[SubjectIdentity] = []
    for index, identity in enumerate(items):
        where = f"subject_identities[{index}]"
        kind = identity.identity_type
        country = identity.identity_country
        if country is not None and kind is not IdentityType.PERSONAL_CODE:
            raise FieldProblem(f"{where}.identity_country", "only allowed for personal_code identities")
        try:
            if kind is IdentityType.PERSONAL_CODE:
                country = country or profile.country
                value = identities.normalise_personal_code(identity.identity_value, country)
                personal_codes += 1
                if personal_codes > 1:
                    raise FieldProblem(f"{where}.identity_value", "a request may name only one personal code")
            elif kind is IdentityType.EMAIL:
                value = identities.normalise_email(identity.identity_value)
            elif kind is IdentityType.PHONE:
                value = identities.normalise_phone(identity.identity_value)
            elif kind is IdentityType.CUSTOMER_NUMBER:
                value = identities.normalise_customer_number(identity.identity_value)
            elif kind in (IdentityType.METERING_POINT_EIC, IdentityType.CUSTOMER_EIC):
                value = identities.normalise_eic(identity.identity_value)
            else:
                value = identities.normalise_account_name(identity.identity_value)
        except identities.IdentityError as exc:
            raise FieldProblem(f"{where}.identity_value", str(exc)) from None
        key = (kind.value, value.lower() if kind is IdentityType.EMAIL else value)
        if key in seen:
            raise FieldProblem(f"{where}", "duplicate identity")
        seen.add(key)
        result.append(identity.model_copy(update={"identity_value": value, "identity_country": country}))
    return result


__all__ = [
    "SEARCH_TYPES",
    "DeliveryContacts",
    "EvidenceType",
    "FieldProblem",
    "IdentityFormat",
    "IdentityType",
    "RequestType",
    "SubjectIdentity",
    "Ticket",
    "TicketExtensions",
    "VerificationEvidence",
]
