"""WinZip AES (AE-2) cryptography for one ZIP entry, fast and in place.

The scheme (https://www.winzip.com/en/support/aes-encryption/): a random 16-byte salt per entry;
PBKDF2-HMAC-SHA1 with 1000 iterations derives 2 x 32 + 2 bytes: the AES-256 key, the HMAC-SHA1
key and a 2-byte password verifier. The data is encrypted with AES-256 in WinZip's own counter
mode: the counter is a 16-byte block whose first 8 bytes are a *little-endian* block number,
starting at 1, and whose last 8 bytes are zero. The entry ends with the first 10 bytes of
HMAC-SHA1 over the ciphertext.

`cryptography`'s CTR mode increments a big-endian 128-bit counter, which is not WinZip's. So the
keystream is made here: the counter blocks are laid out with numpy, encrypted with AES-ECB
(`update_into`, no allocation) and XORed into the data buffer in place. Every buffer is allocated
once per writer, so encrypting costs no page faults and memory stays flat; numpy, OpenSSL and
`hashlib` release the GIL on large buffers, which lets the archiver overlap stages in threads.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

import numpy as np
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

SALT_BYTES = 16  # AES-256 in WinZip's table
VERIFIER_BYTES = 2
MAC_BYTES = 10
KEY_BYTES = 32
PBKDF2_ITERATIONS = 1000
BLOCK = 16
OVERHEAD = SALT_BYTES + VERIFIER_BYTES + MAC_BYTES  # stored size = plaintext size + 28 (store method)


@dataclass(frozen=True)
class EntryKeys:
    """The per-entry secrets derived from the passphrase and a fresh salt."""

    salt: bytes
    aes_key: bytes
    mac_key: bytes
    verifier: bytes

    @property
    def header(self) -> bytes:
        """The bytes that precede the ciphertext in the entry: salt, then password verifier."""
        return self.salt + self.verifier


def derive_keys(password: bytes, salt: bytes | None = None) -> EntryKeys:
    """Derive an entry's keys; a fresh random salt unless one is given (tests, reading)."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    if len(salt) != SALT_BYTES:
        raise ValueError("AES-256 WinZip salt must be 16 bytes")
    # cryptography's PBKDF2 takes half the time of hashlib's here (~0.5 ms an entry); both release the GIL
    sha1 = hashes.SHA1()  # noqa: S303 - WinZip AES fixes PBKDF2-HMAC-SHA1
    material = PBKDF2HMAC(sha1, 2 * KEY_BYTES + VERIFIER_BYTES, salt, PBKDF2_ITERATIONS).derive(password)
    return EntryKeys(salt, material[:KEY_BYTES], material[KEY_BYTES:2 * KEY_BYTES], material[2 * KEY_BYTES:])


class WinZipCtr:
    """AES-256 in WinZip's little-endian counter mode, encrypting caller-owned buffers in place.

    One instance serves many entries in turn (`start` per entry); it owns the counter and
    keystream buffers, so nothing is allocated per chunk. A chunk is encrypted in pieces of at most
    `PIECE` bytes, so those buffers stay small (and in the cache) whatever the chunk size; at 1 MiB
    chunks, 128 KiB to 1 MiB pieces measured the same here. Every chunk but an entry's last must
    be a multiple of 16 bytes, so the counter stays block-aligned.
    """

    PIECE = 256 << 10

    def __init__(self, max_chunk: int) -> None:
        if max_chunk <= 0 or max_chunk % BLOCK:
            raise ValueError("chunk size must be a positive multiple of 16")
        self._max_chunk = max_chunk
        self._piece = min(max_chunk, self.PIECE)
        blocks = self._piece // BLOCK
        self._offsets = np.arange(blocks, dtype="<u8")
        self._counters = np.zeros((blocks, 2), dtype="<u8")  # column 1 (bytes 8..15) stays zero
        self._counter_bytes = memoryview(self._counters).cast("B")
        self._keystream = bytearray(self._piece + BLOCK - 1)  # update_into needs len(data) + 15
        self._keystream_u8 = np.frombuffer(self._keystream, dtype=np.uint8)
        self._ecb: CipherContext | None = None
        self._next_block = 1
        self._finished = True

    def start(self, aes_key: bytes) -> None:
        """Begin an entry: new key, counter back to 1."""
        self._ecb = Cipher(algorithms.AES(aes_key), modes.ECB()).encryptor()  # noqa: S305 - ECB of counter blocks = CTR
        self._next_block = 1
        self._finished = False

    def encrypt_in_place(self, data: memoryview) -> None:
        """Encrypt `data` (a writable byte view of at most `max_chunk` bytes) where it lies."""
        size = len(data)
        if size == 0:
            return
        if self._ecb is None or self._finished:
            raise RuntimeError("chunk after a partial chunk, or before start()")
        if size > self._max_chunk:
            raise ValueError("chunk larger than the buffers")
        target = np.frombuffer(data, dtype=np.uint8)
        for start in range(0, size, self._piece):
            length = min(self._piece, size - start)
            blocks = -(-length // BLOCK)
            np.add(self._offsets[:blocks], np.uint64(self._next_block), out=self._counters[:blocks, 0])
            self._ecb.update_into(self._counter_bytes[:blocks * BLOCK], self._keystream)
            piece = target[start:start + length]
            np.bitwise_xor(piece, self._keystream_u8[:length], out=piece)
            self._next_block += blocks
        if size % BLOCK:
            self._finished = True  # only an entry's last chunk may be partial


class EntryMac:
    """HMAC-SHA1 over an entry's ciphertext; WinZip keeps the first 10 bytes."""

    def __init__(self, mac_key: bytes) -> None:
        self._mac = hmac.new(mac_key, digestmod="sha1")

    def update(self, ciphertext: memoryview | bytes) -> None:
        self._mac.update(ciphertext)

    def code(self) -> bytes:
        return self._mac.digest()[:MAC_BYTES]
