"""Every profile has a written audit against its notice, and the audit covers every fact.

Why a test: the audit table (``dsar_pipeline/profiles/audit/<id>.md``) is what a DPO or a lawyer
reads to check that the letter says only what the notice says. A fact added to a profile without a
row in its audit would be printed without anyone having checked it against the notice.
"""

from __future__ import annotations

import re

import pytest
import yaml

from dsar_pipeline.profiles import PROFILE_DIR, list_controllers

AUDITED_SECTIONS = ("purposes", "recipients", "sources", "retention", "automated", "transfers", "statements")


def _profile_data(controller: str) -> dict:
    return yaml.safe_load((PROFILE_DIR / f"{controller}.yaml").read_text(encoding="utf-8"))


def _audit_text(controller: str) -> str:
    path = PROFILE_DIR / "audit" / f"{controller}.md"
    assert path.is_file(), f"no audit table for {controller}: {path}"
    return path.read_text(encoding="utf-8")


def _first_cells(audit: str) -> set[str]:
    """The first column of every table row, with Markdown code marks removed."""
    cells: set[str] = set()
    for line in audit.splitlines():
        if line.startswith("|") and not re.match(r"^\|\s*:?-{3,}", line):
            first = line.strip("|").split("|", 1)[0]
            cells.update(part.strip().strip("`") for part in re.split(r"[,;]| and ", first))
    return cells


@pytest.mark.parametrize("controller", list_controllers())
def test_every_fact_of_the_profile_has_a_row_in_its_audit(controller: str) -> None:
    data, audit = _profile_data(controller), _audit_text(controller)
    cells = _first_cells(audit)
    missing = [f"{section}.{key}" for section in AUDITED_SECTIONS for key in (data.get(section) or {})
               if f"{section}.{key}" not in cells]
    assert not missing, f"{controller}: facts without an audit row: {missing}"


@pytest.mark.parametrize("controller", list_controllers())
def test_the_audit_names_its_notice_and_says_what_the_notice_leaves_silent(controller: str) -> None:
    data, audit = _profile_data(controller), _audit_text(controller)
    assert data["notice"]["seed"] in audit
    assert re.search(r"(?i)silent in the notice", audit), f"{controller}: the audit has no 'silent in the notice' part"


@pytest.mark.parametrize("controller", list_controllers())
def test_the_audit_rows_name_a_notice_section_or_say_they_are_ours(controller: str) -> None:
    audit = _audit_text(controller)
    rows = [line for line in audit.splitlines()
            if line.startswith("|") and not re.match(r"^\|\s*:?-{3,}", line)][1:]
    assert rows, f"{controller}: the audit table is empty"
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) >= 5, f"{controller}: a row without its five columns: {row}"
        section, status = cells[1], cells[-1].lower()
        assert section or "to confirm" in status or "removed" in status, f"{controller}: row without a source: {row}"
