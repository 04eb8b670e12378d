"""The SMS passphrase: enough entropy, typeable, and actually random."""

from __future__ import annotations

import math
import re
from collections import Counter

from dsar_pipeline.package import passphrase
from dsar_pipeline.package.passphrase import ALPHABET, entropy_bits, generate_passphrase

SHAPE = re.compile(r"[23456789ABCDEFGHJKMNPQRSTVWXYZ]{4}(-[23456789ABCDEFGHJKMNPQRSTVWXYZ]{4}){5}")


def test_entropy_is_at_least_100_bits() -> None:
    characters = passphrase.GROUPS * passphrase.GROUP_LENGTH
    assert entropy_bits() == characters * math.log2(len(set(ALPHABET)))
    assert entropy_bits() >= 100


def test_shape_is_six_groups_of_four_unambiguous_characters() -> None:
    assert len(set(ALPHABET)) == len(ALPHABET) == 30
    assert not set(ALPHABET) & set("01OILU") and ALPHABET.upper() == ALPHABET
    for _ in range(200):
        value = generate_passphrase()
        assert SHAPE.fullmatch(value), value
        assert value.isascii()


def test_passphrases_are_unique_and_use_the_whole_alphabet_evenly() -> None:
    values = [generate_passphrase() for _ in range(5000)]
    assert len(set(values)) == len(values)
    counts = Counter("".join(values).replace("-", ""))
    assert set(counts) == set(ALPHABET)
    expected = 5000 * 24 / 30  # 4000 per symbol; a biased generator would stray far beyond +-10 %
    assert all(abs(count - expected) < 0.1 * expected for count in counts.values()), counts
