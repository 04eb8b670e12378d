"""How each identifier we are given is looked up in the portal, and how an answer is checked.

The pipeline's identifiers are normalised (`connectors.identity`); the portal wants some of them
in its own stored form: Latvian personal codes keep their hyphen (`DDMMYY-NNNNN`) while Estonian
ones are bare digits, and both are 11 digits, so the code's validity decides the form (both forms
when it cannot decide). Values the portal would refuse with 400 are not sent: they cannot match
anything, and "nothing found" is the honest answer. Every user the portal returns is compared with
the identifier again, normalised, so a look-up that matched loosely can never pull in someone else.
"""

from __future__ import annotations

import re
from typing import Any

from stdnum.ee import ik
from stdnum.lv import pvn

from connectors.identity import Identifier, IdentityType, InvalidIdentifier, latvian_display, normalise

MAX_FILTER_LENGTH = 320
E164 = re.compile(r"\+[1-9][0-9]{6,14}")

FILTERS: dict[IdentityType, str] = {
    IdentityType.PORTAL_USERNAME: "username",
    IdentityType.EMAIL: "email",
    IdentityType.PHONE: "phone",
    IdentityType.PERSONAL_CODE: "personal_code",
    IdentityType.CUSTOMER_ID: "customer_id",
}


def query_values(identifier: Identifier) -> list[str]:
    """The values to send for `identifier` (usually one; none when the portal could not hold it)."""
    value = identifier.value
    if identifier.type is IdentityType.PHONE:
        values = [value] if E164.fullmatch(value) else []
    elif identifier.type is IdentityType.CUSTOMER_ID:
        values = [value] if value.isascii() and value.isdigit() else []
    elif identifier.type is IdentityType.PERSONAL_CODE:
        values = personal_code_forms(value)
    else:
        values = [value]
    return [v for v in values if 0 < len(v) <= MAX_FILTER_LENGTH]


def personal_code_forms(code: str) -> list[str]:
    """Stored forms a normalised personal code may have in the portal: Estonian bare, Latvian hyphenated."""
    display = latvian_display(code)
    if display == code:  # not 11 digits starting 0-3: cannot be a Latvian code
        return [code]
    estonian = ik.is_valid(code)
    latvian = pvn.is_valid(code)  # first digit <= 3 here, so a personal code, not a company's VAT number
    if latvian and not estonian:
        return [display]
    if estonian and not latvian:
        return [code]
    return [code, display]


def matches(user: dict[str, Any], identifier: Identifier) -> bool:
    """Whether the portal's `user` really carries `identifier` (both sides normalised)."""
    stored = user.get(FILTERS[identifier.type])
    if stored is None or stored == "":
        return False
    try:
        if identifier.type is IdentityType.CUSTOMER_ID:
            return str(stored).isdigit() and int(str(stored)) == int(identifier.value)
        if identifier.type is IdentityType.PORTAL_USERNAME:
            return str(stored).casefold() == identifier.value.casefold()
        return normalise(identifier.type, str(stored)) == identifier.value
    except (InvalidIdentifier, ValueError):
        return False
