"""The letter printed in two parts: the person's own first part, and the Art. 15 information, whose
layout is kept and reused while its HTML stays the same.

Why: laying a 5-page letter out is most of what printing it costs (~0.16 s of ~0.28 s), and in a
controller's batch most letters share the Art. 15 part word for word: the same controller, language,
categories found, deadline and Art. 15(4) counts give the same sections. Only the first part (the
person's name, the request's dates, the systems' answers) is different in every letter. So the first
part is laid out for every letter, and the Art. 15 part once per distinct text; WeasyPrint joins the
pages of both into one document (``Document.copy``) before the PDF is written.

What the reader sees: the Art. 15 information starts on a page of its own after the personal
answer, and the page numbers run on across both parts ("3 / 6"): each part is laid out knowing
where its pages start and how many the whole letter has (an extra ``@page`` rule).

Why reuse is safe: a kept layout is found only by the SHA-256 of the exact HTML it was laid out
from (and its page numbers), so a letter can only ever get pages printed from its own text. The
layouts live in this process's memory (a handful, least recently used first out), never on disk.
"""

from __future__ import annotations

import copy
import hashlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import lxml.html

from .blocks import SECTION_IDS

if TYPE_CHECKING:
    import weasyprint

KEPT_LAYOUTS = 8
"""How many laid-out Art. 15 parts a process keeps (a few MB each): enough for a batch's languages."""
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


def numbering_css(first: int, total: int) -> str:
    """The ``@page`` rule that numbers a part's pages from ``first`` as "n / total" (the print stylesheet's
    own rule counts only the pages of the document it is laid out in)."""
    return (f'@page {{ @bottom-right {{ content: counter(page) " / {int(total)}"; }} }}\n'
            f"@page :first {{ counter-reset: page {int(first)}; }}\n")


Layout = Callable[[str, int, int], "weasyprint.Document"]
"""Lays out an HTML document with its pages numbered from ``first`` of ``total``."""

ART15_PAGES_GUESS = 4
"""How many pages an Art. 15 part takes before one was laid out (the shipped profiles' take 4)."""


class KeptLayouts:
    """The laid-out Art. 15 parts of this process, by the SHA-256 of their HTML and their numbering,
    and how many pages each text takes (numbering does not move the page breaks: it is in the margin)."""

    def __init__(self, size: int = KEPT_LAYOUTS) -> None:
        self.size = size
        self._documents: OrderedDict[tuple[str, int, int], weasyprint.Document] = OrderedDict()
        self._pages: OrderedDict[str, int] = OrderedDict()
        self._last_pages = ART15_PAGES_GUESS
        self.hits = self.misses = 0

    def document(self, html: str, first: int, layout: Layout) -> weasyprint.Document:
        """``html`` laid out with its pages numbered from ``first`` to its last ("n / first - 1 + pages"):
        kept, or laid out now. A text not seen before is laid out once with the page count of the last
        one, and again only when it takes another number of pages."""
        digest = _digest(html)
        pages = self._pages.get(digest, self._last_pages)
        key = (digest, first, first - 1 + pages)
        found = self._documents.get(key)
        if found is not None:
            self.hits += 1
            self._documents.move_to_end(key)
            return found
        self.misses += 1
        document = layout(html, first, first - 1 + pages)
        if len(document.pages) != pages:
            pages = len(document.pages)
            document = layout(html, first, first - 1 + pages)
        self._pages[digest] = self._last_pages = pages
        self._pages.move_to_end(digest)
        self._documents[(digest, first, first - 1 + pages)] = document
        _trim(self._pages, self.size)
        _trim(self._documents, self.size)
        return document


def _digest(html: str) -> str:
    return hashlib.sha256(html.encode("utf-8")).hexdigest()


def _trim(kept: OrderedDict, size: int) -> None:
    while len(kept) > size:
        kept.popitem(last=False)


__all__ = ["ART15_PAGES_GUESS", "KEPT_LAYOUTS", "KeptLayouts", "LetterParts", "numbering_css", "split_letter"]
