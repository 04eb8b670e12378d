"""Validation and normalisation of the identifiers a request names the person by.

Why normalise at intake: every connector later searches its system with these values, so they
must be in one canonical form (compact personal code, lowercase-domain e-mail, E.164 phone).
Why strict: a personal code with a wrong check digit is far more often a typo than a person, and
searching five systems for a typo either finds nobody or, worse, somebody else.

Every error message names the kind of value and the problem, never the value itself.
"""

from __future__ import annotations

import re
from typing import Literal

from stdnum import exceptions as stdnum_exc

PersonalCodeCountry = Literal["EE", "LV", "LT"]

COUNTRY_ADJECTIVE: dict[str, str] = {"EE": "Estonian", "LV": "Latvian", "LT": "Lithuanian"}

_EE_LT_RE = re.compile(r"^[0-9]{11}$")
_LV_RE = re.compile(r"^[0-9]{6}-?[0-9]{5}$")
_PHONE_RE = re.compile(r"^\+[0-9][0-9 ()./-]{4,23}$")
_CUSTOMER_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$")
_ACCOUNT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
MAX_EMAIL_CHARS = 254


class IdentityError(ValueError):
    """An identifier is not valid; the message never contains the identifier."""


def _stdnum_reason(exc: Exception) -> str:
    if isinstance(exc, stdnum_exc.InvalidChecksum):
        return "check digit does not match"
    if isinstance(exc, stdnum_exc.InvalidLength):
        return "wrong length"
    if isinstance(exc, stdnum_exc.InvalidComponent):
        return "birth date or century digit is impossible"
    return "wrong format"


def normalise_personal_code(value: str, country: str) -> str:
    """Return the canonical personal code for the country, or raise :class:`IdentityError`.

    EE and LT codes are 11 digits (the same GYYMMDDSSSC layout and check digit); Latvian codes
    are returned in their usual ``DDMMYY-NNNNN`` form. ``stdnum.lv.pvn`` also accepts legal
    entities' VAT numbers, so a Latvian code must start with 0-3 (legal entities start with 4-9).
    """
    adjective = COUNTRY_ADJECTIVE.get(country)
    if adjective is None:
        raise IdentityError("personal code country must be EE, LV or LT")
    problem = f"not a valid {adjective} personal code"
    try:
        if country == "EE":
            from stdnum.ee import ik

            if not _EE_LT_RE.fullmatch(value):
                raise IdentityError(f"{problem} (must be 11 digits)")
            return str(ik.validate(value))
        if country == "LT":
            from stdnum.lt import asmens

            if not _EE_LT_RE.fullmatch(value):
                raise IdentityError(f"{problem} (must be 11 digits)")
            return str(asmens.validate(value))
        from stdnum.lv import pvn

        if not _LV_RE.fullmatch(value):
            raise IdentityError(f"{problem} (must be DDMMYY-NNNNN)")
        if value[0] > "3":
            raise IdentityError(f"{problem} (a company registration number, not a person's code)")
        compact = str(pvn.validate(value))
        return f"{compact[:6]}-{compact[6:]}"
    except stdnum_exc.ValidationError as exc:
        raise IdentityError(f"{problem} ({_stdnum_reason(exc)})") from None


def compact_personal_code(value: str) -> str:
    """Digits only: the form in which codes from tickets and certificates are compared."""
    return value.replace("-", "").replace(" ", "")


def normalise_email(value: str) -> str:
    """Syntax-check an e-mail address (no DNS look-up: intake must work offline and fast)."""
    from email_validator import EmailNotValidError, validate_email

    if len(value) > MAX_EMAIL_CHARS:
        raise IdentityError(f"not a valid e-mail address (longer than {MAX_EMAIL_CHARS} characters)")
    try:
        result = validate_email(
            value,
            check_deliverability=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            allow_display_name=False,
        )
    except EmailNotValidError:
        raise IdentityError("not a valid e-mail address") from None
    return str(result.normalized)


def normalise_phone(value: str) -> str:
    """Parse an international phone number (leading ``+``) and return it in E.164.

    Why international only: a local number means different people in different countries, and the
    ticket may be processed for a controller in another country than the caller's.
    """
    import phonenumbers

    if not _PHONE_RE.fullmatch(value):
        raise IdentityError("not a valid phone number (international format with +country code expected)")
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise IdentityError("not a valid phone number") from None
    if not phonenumbers.is_valid_number(parsed):
        raise IdentityError("not a valid phone number")
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def normalise_customer_number(value: str) -> str:
    """A controller-issued customer number: short, letters, digits and hyphens only."""
    if not _CUSTOMER_RE.fullmatch(value):
        raise IdentityError("not a valid customer number (1-32 letters, digits or hyphens)")
    return value


def normalise_eic(value: str) -> str:
    """An Energy Identification Code (16 characters, valid check character), upper case."""
    from stdnum.eu import eic

    try:
        return str(eic.validate(value))
    except stdnum_exc.ValidationError as exc:
        raise IdentityError(f"not a valid EIC ({_stdnum_reason(exc)})") from None


def normalise_account_name(value: str) -> str:
    """An account id or user name of one of the systems (Volt account id, portal user name)."""
    if not _ACCOUNT_RE.fullmatch(value):
        raise IdentityError("not a valid account name (1-128 letters, digits or . _ @ + -)")
    return value


__all__ = [
    "COUNTRY_ADJECTIVE",
    "IdentityError",
    "PersonalCodeCountry",
    "compact_personal_code",
    "normalise_account_name",
    "normalise_customer_number",
    "normalise_eic",
    "normalise_email",
    "normalise_personal_code",
    "normalise_phone",
]
