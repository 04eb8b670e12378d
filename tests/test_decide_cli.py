"""`dsar decide`: every refused input is one line and exit 2, checked before Dagster is asked."""

from __future__ import annotations

import subprocess
import sys

import pytest

REQUEST = "r-" + "a" * 26


@pytest.mark.parametrize(("args", "says"), [
    (["r-bad", "approve", "--by", "dpo.mari"], "opaque request id"),
    ([REQUEST, "approve", "--by", "Mari Maasikas"], "staff user id"),
    ([REQUEST, "reject", "--with-review-records", "--by", "dpo.mari"], "approve only"),
    ([REQUEST, "approve", "--include-unbound", "--by", "dpo.mari"], "--with-review-records"),
    ([REQUEST, "approve", "--by", "dpo.mari", "--bundle-sha256", "abc"], "64 hex"),
    ([REQUEST, "maybe", "--by", "dpo.mari"], "invalid choice"),
    ([REQUEST, "approve"], "--by"),
    ([REQUEST, "approve", "--by", "dpo.mari", "--dagster-url", "http://127.0.0.1:9"], "does not answer"),
])
def test_refused_in_one_line(args: list[str], says: str) -> None:
    done = subprocess.run([sys.executable, "-m", "dsar_pipeline.cli", "decide", *args], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in done.stderr
    assert done.stdout == ""
