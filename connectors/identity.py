"""Identifiers of one person across systems, with how strongly each ties to that person.

Strength is the safety rule of the whole pipeline: a personal code, a customer number or an EIC
from the person's own contract names one person; an e-mail address or a phone number may be
shared (households share phones). Records reached only through weak identifiers go to DPO review.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum

import phonenumbers
from stdnum.eu import eic
from stdnum.exceptions import ValidationError


class IdentityType(StrEnum):
    PERSONAL_CODE = "personal_code"
    CUSTOMER_ID = "customer_id"  # billing customer number
    EMAIL = "email"
    PHONE = "phone"
    METERING_POINT_EIC = "metering_point_eic"
    CUSTOMER_EIC = "customer_eic"  # the data hub's party EIC for the person
    VOLT_ACCOUNT_ID = "volt_account_id"
    GOOGLE_SUBJECT = "google_subject"
    PORTAL_USERNAME = "portal_username"


class Strength(StrEnum):
    STRONG = "strong"
    WEAK = "weak"


# A Google subject id names a Google account, not a person we know: like e-mail, it is weak.
WEAK_TYPES = frozenset({IdentityType.EMAIL, IdentityType.PHONE, IdentityType.GOOGLE_SUBJECT})


class InvalidIdentifier(ValueError):
    """An identifier that cannot be normalised; the message never repeats the value."""


@dataclass(frozen=True, slots=True)
class Identifier:
    """One normalised identifier, its strength, and the path of look-ups that reached it.

    Equality and hashing use type and value only, so the same identifier reached twice is one.
    `expandable` says whether it may be used to search further: true for what the request gave and
    for what a strong match revealed; false for what a weak match revealed (it may be someone
    else's: the portal account found by a shared phone carries the other adult's personal code).
    """

    type: IdentityType
    value: str
    strength: Strength = field(compare=False)
    via: tuple[str, ...] = field(default=("request",), compare=False)
    expandable: bool = field(default=True, compare=False)

    @classmethod
    def of(cls, type_: IdentityType | str, value: str, via: tuple[str, ...] = ("request",),
           source_strength: Strength = Strength.STRONG) -> Identifier:
        """Normalise `value`; strength is the weaker of the type's own and the source's."""
        kind = IdentityType(type_)
        inherent = Strength.WEAK if kind in WEAK_TYPES else Strength.STRONG
        strength = Strength.WEAK if Strength.WEAK in (inherent, source_strength) else Strength.STRONG
        return cls(kind, normalise(kind, value), strength, via, source_strength is Strength.STRONG)

    @property
    def is_strong(self) -> bool:
        return self.strength is Strength.STRONG

    def outranks(self, other: Identifier) -> bool:
        """Same identifier reached by a better path: stronger, or newly expandable."""
        return (self.is_strong and not other.is_strong) or (self.expandable and not other.expandable)

    def label(self) -> str:
        """A description safe for logs and the DPO's overview: the type, never the value."""
        return f"{self.type.value} ({self.strength.value}, via {' > '.join(self.via)})"


def normalise(kind: IdentityType, value: str) -> str:
    value = value.strip()
    if not value or len(value) > 320 or "\x00" in value:
        raise InvalidIdentifier(f"{kind.value}: empty, too long or contains NUL")
    if kind is IdentityType.EMAIL:
        if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
            raise InvalidIdentifier("email: not an e-mail address")
        return value.lower()
    if kind is IdentityType.PHONE:
        try:
            number = phonenumbers.parse(value, "EE")
        except phonenumbers.NumberParseException:
            raise InvalidIdentifier("phone: not a phone number") from None
        if not phonenumbers.is_possible_number(number):
            raise InvalidIdentifier("phone: not a possible phone number")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    if kind in (IdentityType.METERING_POINT_EIC, IdentityType.CUSTOMER_EIC):
        try:
            return str(eic.validate(value))
        except ValidationError:
            raise InvalidIdentifier(f"{kind.value}: not a valid EIC") from None
    if kind is IdentityType.PERSONAL_CODE:
        # Canonical form without separators: Latvian codes are written DDMMYY-NNNNN, but the
        # hyphen is presentation; systems that store it get it back from `latvian_display`.
        return value.replace(" ", "").replace("-", "").upper()
    return value


def latvian_display(code: str) -> str:
    """The customary DDMMYY-NNNNN form of an 11-digit Latvian personal code (others unchanged)."""
    digits = code.replace("-", "")
    return f"{digits[:6]}-{digits[6:]}" if len(digits) == 11 and digits.isdigit() and digits[0] <= "3" else code
