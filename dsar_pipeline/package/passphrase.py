"""The passphrase of the customer's ZIP: sent by SMS, typed by a person into 7-Zip or WinZip.

Form: six groups of four characters joined by hyphens, e.g. `K7QM-3XWP-H9CT-Z4RA-MN6E-2BGV`; the
hyphens are part of the passphrase (the person types exactly what the SMS shows). Characters
are upper-case letters and digits without the ones people confuse when reading or typing:
0/O, 1/I/L, and U (V). That leaves 30 symbols:

    23456789 ABCDEFGH JK MN PQRST VWXYZ

Each character is drawn independently and uniformly with `secrets.choice`, so the entropy is
24 x log2(30) = 24 x 4.907 = 117.8 bits (>= 100 bits required; 21 characters would give 103).
Upper case only, so a phone's auto-capitalisation cannot change it, and ASCII only, so every ZIP
tool derives the same key from it.
"""

from __future__ import annotations

import math
import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
GROUPS = 6
GROUP_LENGTH = 4
SEPARATOR = "-"


def generate_passphrase() -> str:
    """A fresh random passphrase of `entropy_bits()` bits, e.g. `K7QM-3XWP-H9CT-Z4RA-MN6E-2BGV`."""
    return SEPARATOR.join("".join(secrets.choice(ALPHABET) for _ in range(GROUP_LENGTH)) for _ in range(GROUPS))


def entropy_bits() -> float:
    """Bits of entropy of `generate_passphrase()`: random characters x log2(alphabet size)."""
    return GROUPS * GROUP_LENGTH * math.log2(len(ALPHABET))
