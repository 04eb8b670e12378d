"""Small, deterministic, distinct WAV recordings: 8 kHz mono 16-bit PCM, 1-3 seconds.

A real call recording is minutes of G.711 speech; the sandbox needs files that are genuine WAV
(the pipeline ships them "in their original audio format" and tests parse them with `wave`),
differ per call (so a mix-up between two calls is detectable by hash), and cost little to make.
A few tones with pauses and a little noise, all derived from the call id.
"""

from __future__ import annotations

import hashlib
import io
import wave
from dataclasses import dataclass

import numpy as np

SAMPLE_RATE = 8000
SAMPLE_WIDTH = 2  # bytes: 16-bit PCM
CHANNELS = 1


@dataclass(frozen=True, slots=True)
class Clip:
    data: bytes
    frames: int

    @property
    def seconds(self) -> float:
        return self.frames / SAMPLE_RATE


def _seed(call_id: str) -> int:
    return int.from_bytes(hashlib.sha256(call_id.encode()).digest()[:8], "big")


def synth_wav(call_id: str) -> Clip:
    """The recording of one call, the same bytes every time for the same id."""
    rng = np.random.default_rng(_seed(call_id))
    frames = int(SAMPLE_RATE * rng.uniform(1.0, 3.0))
    signal = np.zeros(frames)
    t = np.arange(frames) / SAMPLE_RATE
    # 3-6 "syllables": short tones of varying pitch separated by gaps.
    bounds = np.sort(rng.choice(np.arange(1, frames), size=2 * int(rng.integers(3, 7)), replace=False))
    for start, end in bounds.reshape(-1, 2):
        freq = rng.uniform(180.0, 1200.0)
        ramp = np.hanning(end - start)
        signal[start:end] += 0.5 * ramp * np.sin(2 * np.pi * freq * t[start:end])
    signal += rng.normal(0.0, 0.02, frames)
    pcm = (np.clip(signal, -1.0, 1.0) * 32000).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(CHANNELS)
        out.setsampwidth(SAMPLE_WIDTH)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())
    return Clip(buffer.getvalue(), frames)
