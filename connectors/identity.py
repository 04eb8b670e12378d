"""Identifiers of one person across systems, with how firmly each is tied to that person.

Strength is the safety rule of the whole pipeline, ranked:

- **strong**: bound to the anchor, the personal code the request's eID signature verified (or, for
  a request awaiting manual verification, the code it names, which the DPO must then confirm):
  the anchor itself, and every strong-typed identifier a record found through a strong path
  reveals (a customer number or an EIC from that customer's contract);
- **weak**: an e-mail address or a phone number reached from the anchor: it is the person's, but
  households share them, so what it finds goes to DPO review;
- **unbound**: an identifier the ticket merely *claims* (anyone can type a stranger's customer
  number into a form), and whatever a record reached only through such a claim reveals. It becomes
  strong only when the anchor's own path reaches it too, i.e. a record holds both.

Records reached only through weak or unbound identifiers go to DPO review; identifiers revealed by
anything but a strong path are never searched further (`expandable` is false), so a stranger's
identifier in a ticket cannot pull the stranger's other data in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
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
    UNBOUND = "unbound"

    @property
    def rank(self) -> int:
        return _RANK[self]

    @classmethod
    def weakest(cls, *strengths: Strength) -> Strength:
        return min(strengths, key=lambda s: _RANK[s])

    @classmethod
    def best(cls, identifiers: Iterable[Identifier]) -> Strength:
        """The strength of an object found through `identifiers`: that of its best path (unbound if none)."""
        return max((i.strength for i in identifiers), key=lambda s: _RANK[s], default=cls.UNBOUND)


_RANK = {Strength.UNBOUND: 0, Strength.WEAK: 1, Strength.STRONG: 2}

# A Google subject id names a Google account, not a person we know: like e-mail, it is weak.
WEAK_TYPES = frozenset({IdentityType.EMAIL, IdentityType.PHONE, IdentityType.GOOGLE_SUBJECT})


class InvalidIdentifier(ValueError):
    """An identifier that cannot be normalised; the message never repeats the value."""


@dataclass(frozen=True, slots=True)
class Identifier:
    """One normalised identifier, its strength, and the path of look-ups that reached it.

    Equality and hashing use type and value only, so the same identifier reached twice is one.
    `expandable` says whether it may be used to search further: true for what the request gave and
    for what a strong match revealed; false for what a weak or unbound match revealed (it may be
    someone else's: the portal account found by a shared phone carries the other adult's personal
    code, the customer found by a claimed customer number may be a stranger).
    `held_with` are the personal codes the revealing record (or a record it belongs to) holds: the
    identity graph, which knows the request's anchor, treats what another person's record reveals as
    theirs (a metering point's previous tenant reached through its EIC), never as the subject's.
    """

    type: IdentityType
    value: str
    strength: Strength = field(compare=False)
    via: tuple[str, ...] = field(default=("request",), compare=False)
    expandable: bool = field(default=True, compare=False)
    held_with: frozenset[str] = field(default=frozenset(), compare=False)

    @classmethod
    def of(cls, type_: IdentityType | str, value: str, via: tuple[str, ...] = ("request",),
           source_strength: Strength = Strength.STRONG) -> Identifier:
        """Normalise `value`; strength is the weakest of the type's own and the source's."""
        kind = IdentityType(type_)
        inherent = Strength.WEAK if kind in WEAK_TYPES else Strength.STRONG
        strength = Strength.weakest(inherent, Strength(source_strength))
        return cls(kind, normalise(kind, value), strength, via, source_strength is Strength.STRONG)

    @classmethod
    def anchor(cls, personal_code: str) -> Identifier:
        """The request's personal code: the one identifier every other one must be bound to."""
        return cls.of(IdentityType.PERSONAL_CODE, personal_code, via=("request", "anchor"))

    @classmethod
    def claimed(cls, type_: IdentityType | str, value: str) -> Identifier:
        """An identifier the ticket names besides the anchor: searched, but unbound until the anchor's
        path reaches it too. What its records reveal is not searched further."""
        kind = IdentityType(type_)
        return cls(kind, normalise(kind, value), Strength.UNBOUND, ("request", "claimed"), True)

    @property
    def is_anchor(self) -> bool:
        return self.type is IdentityType.PERSONAL_CODE and self.via == ("request", "anchor")

    def held_by_another(self, anchor: str | None) -> bool:
        """Revealed by a record that holds a personal code other than the anchor's."""
        return bool(self.held_with) and (anchor is None or bool(self.held_with - {anchor}))

    def as_someone_elses(self) -> Identifier:
        """This identifier as another person's: weak at best, and never searched further."""
        return Identifier(self.type, self.value, Strength.weakest(self.strength, Strength.WEAK), self.via, False,
                          self.held_with)

    @property
    def is_strong(self) -> bool:
        return self.strength is Strength.STRONG

    @property
    def is_bound(self) -> bool:
        """Reached from the anchor (strong or weak), not merely claimed."""
        return self.strength is not Strength.UNBOUND

    def outranks(self, other: Identifier) -> bool:
        """Same identifier reached by a better path: searchable where the other is not, or stronger.

        Searchability comes first so that a claim the ticket makes is still searched when a weak
        path reveals the same value without the right to search it.
        """
        return (self.expandable, self.strength.rank) > (other.expandable, other.strength.rank)

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
