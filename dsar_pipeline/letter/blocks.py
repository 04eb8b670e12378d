"""The letter's building blocks: a section and its paragraphs, lists and tables, each with its source.

Why every block carries a ``Source``: the DPO's review copy prints it beside the block, so that each
statement can be checked against the notice (``provenance``). The customer's letter is rendered from
the same blocks without the sources, so the two cannot say different things.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup

from .provenance import Source
from .words import Words

SECTION_IDS: tuple[str, ...] = (
    "art15-1a", "art15-1b", "art15-1c", "art15-1d", "art15-1e", "art15-1f", "art15-1g", "art15-1h",
    "art15-2", "art15-3", "art15-4",
)
"""The stable anchors of the letter's Art. 15 sections, in order (the PDF's bookmarks follow their h2)."""


@dataclass
class Section:
    """One Art. 15 section: a heading and blocks (paragraphs, lists, tables) in reading order."""

    id: str
    ref: str
    heading: str
    blocks: list[dict[str, Any]] = field(default_factory=list)

    def p(self, text: Markup | str, source: Source, css: str | None = None) -> None:
        self.blocks.append({"kind": "p", "text": text, "css": css, "source": source})

    def ul(self, items: list[dict[str, Any]]) -> None:
        """A list; each item has ``text`` and ``source``, optionally ``label`` (before it) and ``detail`` (under it)."""
        if items:
            self.blocks.append({"kind": "ul", "items": [{"label": None, "detail": None, **i} for i in items]})

    def table(self, head: list[str], rows: list[list[Any]], source: Source) -> None:
        """A table; a cell is a string or a list of strings (shown as lines)."""
        self.blocks.append({"kind": "table", "head": head, "rows": rows, "source": source})


def new_section(w: Words, sid: str, heading_key: str) -> Section:
    tail = sid.removeprefix("art15-")
    ref = w("ref_1", point=tail[1]) if tail.startswith("1") else w("ref_n", n=tail)
    return Section(id=sid, ref=str(ref), heading=str(w.table[heading_key]))


__all__ = ["SECTION_IDS", "Section", "new_section"]
