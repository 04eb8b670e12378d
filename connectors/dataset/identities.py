"""Fides identity names → our identity types.

A Fides dataset names its entry points with `fides_meta.identity`: Fides itself knows `email` and
`phone_number`; our own names (`personal_code`, `customer_number`, …) are accepted too, as is every
`IdentityType` value under its own name, so a file written for Fides reads unchanged and a file
written for us says plainly what each entry point is.
"""

from __future__ import annotations

from connectors.identity import IdentityType

ALIASES: dict[str, IdentityType] = {
    "email": IdentityType.EMAIL,
    "phone_number": IdentityType.PHONE,
    "personal_code": IdentityType.PERSONAL_CODE,
    "national_identification_number": IdentityType.PERSONAL_CODE,
    "customer_number": IdentityType.CUSTOMER_ID,
}
NAMES: dict[str, IdentityType] = {**{kind.value: kind for kind in IdentityType}, **ALIASES}

# What `dsar dataset access --identity TYPE=VALUE` and the dataset's `identity` accept, for messages.
KNOWN = ", ".join(sorted(NAMES))


def identity_type(name: str) -> IdentityType:
    """The identity type a Fides identity name stands for; KeyError (naming the known ones) otherwise."""
    try:
        return NAMES[name]
    except KeyError:
        raise KeyError(f"unknown identity {name!r} (known: {KNOWN})") from None
