"""Valid-looking national identifiers for the simulated population.

The sandbox stands in for other organisations' systems, so it makes its own identifiers rather than
borrowing the pipeline's validators: personal codes and EICs carry correct check characters
(computed with python-stdnum's published algorithms) so that validation on the pipeline side is
exercised for real.
"""

from __future__ import annotations

import random
from datetime import date

from stdnum.ee import ik
from stdnum.eu import eic
from stdnum.lv import pvn


def estonian_personal_code(birth: date, female: bool, serial: int) -> str:
    """Isikukood GYYMMDDSSSC: century/sex digit, birth date, serial, check digit."""
    century = (birth.year - 1800) // 100  # 1900s -> 1, 2000s -> 2
    first = 2 * century + (2 if female else 1)
    body = f"{first}{birth:%y%m%d}{serial % 1000:03d}"
    return body + ik.calc_check_digit(body + "0")  # stdnum ignores the last character given


def latvian_personal_code(birth: date, serial: int) -> str:
    """Personas kods DDMMYY-CNNNN (pre-2017 form that still embeds the birth date)."""
    century = (birth.year - 1800) // 100
    body = f"{birth:%d%m%y}{century}{serial % 1000:03d}"
    return f"{body[:6]}-{body[6:]}{pvn.calc_check_digit_pers(body)}"


def eic_code(office: str, object_type: str, body: str) -> str:
    """A 16-character Energy Identification Code with its check character.

    `office` is the two-digit issuing office (38 = Elering, Estonia), `object_type` the EIC type
    letter (Z metering point, X party), `body` the 12 characters in between.
    """
    if len(body) != 12:
        raise ValueError("an EIC body is 12 characters")
    stem = f"{office}{object_type}{body}"
    return stem + eic.calc_check_digit(stem)


def metering_point_eic(serial: int, country: str = "EE") -> str:
    """Metering point EIC (type Z), e.g. 38ZEE-00123456-H for Estonia.

    Serials whose check character would be '-' are skipped: the hub's schema wants [A-Z0-9] last.
    """
    office = "38" if country == "EE" else "41"
    while (code := eic_code(office, "Z", f"{country}-{serial:08d}-")).endswith("-"):
        serial += 1
    return code


def party_eic(serial: int) -> str:
    """Customer (party) EIC as the Estonian data hub assigns it (type X)."""
    while (code := eic_code("38", "X", f"-EE-{serial:07d}-")).endswith("-"):
        serial += 1
    return code


def mobile_phone(rng: random.Random, country: str) -> str:
    """E.164 mobile number: Estonian +372 5xxxxxxx, Latvian +371 2xxxxxxx."""
    if country == "EE":
        return f"+3725{rng.randrange(1000000, 9999999)}"
    return f"+3712{rng.randrange(1000000, 9999999)}"


def mac_address(rng: random.Random) -> str:
    """A locally-administered unicast MAC address, as an EV's charging module reports it."""
    first = (rng.randrange(256) | 0x02) & 0xFE
    rest = [rng.randrange(256) for _ in range(5)]
    return ":".join(f"{b:02X}" for b in [first, *rest])
