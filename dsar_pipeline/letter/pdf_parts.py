"""The letter printed in two parts: the person's own first part, and the Art. 15 information, whose
laid-out pages are kept and reused while its HTML stays the same.

Why: laying a 5-page letter out is most of what printing it costs (~0.16 s of ~0.28 s), and in a
controller's batch many letters share the Art. 15 part word for word: the same controller, language,
categories found, deadline and Art. 15(4) counts give the same sections. Only the first part (the
person's name, the request's dates, the systems' answers) is different in every letter.

How: the print stylesheet starts the Art. 15 information on a page of its own (``#art15-1a``
breaks before), so its pages are the same whether they follow one person's first part or another's
of the same length. A letter whose Art. 15 text was not seen before is laid out whole, once, as any
letter was before; its Art. 15 pages are then kept. A letter whose text was seen lays out only its
first part, numbered to the whole letter's page count ("1 / 6"), and WeasyPrint joins those pages
and the kept ones (``Document.copy``) before the PDF is written.

Why reuse is safe: kept pages are found only by the SHA-256 of the exact HTML of the Art. 15 part
and the number of pages before them, so a letter can only ever get pages printed from its own
text, numbered for its own length. They live in this process's memory (a handful of texts, least
recently used first out), never on disk.
"""

from __future__ import annotations

import copy
import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import lxml.html

from .blocks import SECTION_IDS

KEPT_LAYOUTS = 8
"""How many Art. 15 texts' pages a process keeps (a few MB each): enough for a batch's languages."""
FIRST_ART15_SECTION = SECTION_IDS[0]


@dataclass(frozen=True)
class LetterParts:
    """The letter's HTML cut before its first Art. 15 section: two whole documents, the same <head>."""

    personal: str
    art15: str


def split_letter(html: str) -> LetterParts | None:
    """The two parts of ``html``; None when it has no Art. 15 section at the top level of its body
    (then it is printed whole)."""
    document = lxml.html.document_fromstring(html)
    body = document.find("body")
    if body is None:
        return None
    children = list(body)
    cut = next((i for i, child in enumerate(children)
                if child.tag == "section" and child.get("id") == FIRST_ART15_SECTION), None)
    if not cut:
        return None
    return LetterParts(personal=_keep(document, range(cut)), art15=_keep(document, range(cut, len(children))))


def _keep(document: lxml.html.HtmlElement, kept: range) -> str:
    """``document`` with only the body children at the indices ``kept``, as HTML."""
    part = copy.deepcopy(document)
    body = part.find("body")
    assert body is not None
    if body.text and kept.start:
        body.text = None  # whitespace before the first child belongs to the first part
    for index, child in reversed(list(enumerate(body))):
        if index not in kept:
            body.remove(child)
    return lxml.html.tostring(part, encoding="unicode", doctype="<!DOCTYPE html>")


def numbering_css(total: int) -> str:
    """The ``@page`` rule that numbers the first part's pages "n / total" (the print stylesheet's own rule
    counts only the pages of the document it is laid out in)."""
    return f'@page {{ @bottom-right {{ content: counter(page) " / {int(total)}"; }} }}\n'


def art15_start(pages: list[Any]) -> int | None:
    """The index of the page where the Art. 15 part starts in a letter laid out whole (its first section's
    anchor), or None."""
    return next((index for index, page in enumerate(pages) if FIRST_ART15_SECTION in page.anchors), None)


class KeptLayouts:
    """The laid-out pages of the Art. 15 parts this process printed, by the SHA-256 of their HTML and the
    number of pages before them (which their page numbers count on from)."""

    def __init__(self, size: int = KEPT_LAYOUTS) -> None:
        self.size = size
        self._pages: OrderedDict[str, dict[int, list[Any]]] = OrderedDict()
        self.hits = self.misses = 0

    def find(self, art15_html: str, before: int) -> list[Any] | None:
        """The kept pages of this Art. 15 text when it follows `before` pages, or None (counted a miss)."""
        digest = _digest(art15_html)
        pages = self._pages.get(digest, {}).get(before)
        if pages is None:
            self.misses += 1
            return None
        self.hits += 1
        self._pages.move_to_end(digest)
        return pages

    def pages_after(self, art15_html: str) -> dict[int, int]:
        """For each number of pages before it that this text was kept for: how many pages it takes."""
        return {before: len(pages) for before, pages in self._pages.get(_digest(art15_html), {}).items()}

    def keep(self, art15_html: str, before: int, pages: list[Any]) -> None:
        digest = _digest(art15_html)
        self._pages.setdefault(digest, {})[before] = list(pages)
        self._pages.move_to_end(digest)
        while len(self._pages) > self.size:
            self._pages.popitem(last=False)


def _digest(html: str) -> str:
    return hashlib.sha256(html.encode("utf-8")).hexdigest()


__all__ = ["KEPT_LAYOUTS", "KeptLayouts", "LetterParts", "art15_start", "numbering_css", "split_letter"]
