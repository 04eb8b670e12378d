"""The Art. 15 letter as a PDF/A-2b: the same HTML as the package's ``letter.html``, printed by WeasyPrint.

Why a PDF beside the HTML: a letter a controller answers with is kept for years by the person and
shown to others (a lawyer, the supervisory authority); a PDF/A file renders the same everywhere
and for decades, and it can carry the controller's e-seal (:mod:`dsar_pipeline.letter.seal`),
which an HTML file cannot. Why from the same HTML: one text, one set of tests for what the letter
says; the PDF adds only the print stylesheet (``templates/letter-print.css``: page size, page
numbers, the embedded DejaVu font that covers Estonian, Latvian and Cyrillic, the outline).

The outline (PDF bookmarks) has one entry per section heading, in the letter's order: the
confirmation, then every Art. 15 section as "<reference> — <heading>". CSS alone cannot put a
separator between a heading's reference (its ``span.ref``) and its text, so the labels are set
here from the HTML's own headings after layout.
"""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import lxml.html

from .pdf_parts import KeptLayouts, LetterParts, art15_start, numbering_css, split_letter

if TYPE_CHECKING:
    import weasyprint
    import weasyprint.text.fonts

PRINT_CSS = Path(__file__).with_name("templates") / "letter-print.css"
PDF_VARIANT = "pdf/a-2b"
FONT_FAMILY = "DejaVu Sans"
"""The family ``letter-print.css`` names; Debian's ``fonts-dejavu-core`` installs it."""
LABEL_SEPARATOR = " — "
SYSTEM_PACKAGES = "libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core"
"""The Debian packages WeasyPrint needs (Pango through cffi) and the font the letter is printed in."""
_SPACES = re.compile(r"\s+")
# One rendering at a time per process: WeasyPrint drives Pango and fontconfig through cffi, which are not
# known to be safe across threads, and a batch's steps may serve requests from a thread pool.
_RENDER_LOCK = threading.Lock()


@dataclass
class _Printer:
    """What every letter of a process is printed with, made once (under `_RENDER_LOCK`): the parsed
    print stylesheet and one font configuration, whose fontconfig lookups and loaded faces then serve
    every letter instead of being redone per letter (an eighth of a letter's layout time); the kept
    pages of Art. 15 parts, and how many pages the last letter's first part took."""

    stylesheet: weasyprint.CSS
    fonts: weasyprint.text.fonts.FontConfiguration
    kept: KeptLayouts = field(default_factory=KeptLayouts)
    personal_pages: int = 1


@functools.cache
def _printer() -> _Printer:
    """The process's `_Printer`; the caller holds `_RENDER_LOCK` (and has imported WeasyPrint)."""
    import weasyprint
    from weasyprint.text.fonts import FontConfiguration

    return _Printer(stylesheet=weasyprint.CSS(filename=str(PRINT_CSS)), fonts=FontConfiguration())


class PdfUnavailableError(RuntimeError):
    """WeasyPrint cannot run here (Pango is missing): one line naming the packages to install."""


@dataclass(frozen=True)
class OutlineEntry:
    """One bookmark: its level (1 for h2, 2 for h3) and its label."""

    level: int
    label: str


def _squeeze(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def outline_of(html: str) -> list[OutlineEntry]:
    """The bookmarks the PDF of this letter carries: its h2 and h3 headings in order, each with its
    Art. 15 reference (``span.ref``) first when it has one."""
    entries = []
    for heading in lxml.html.document_fromstring(html).xpath("//body//h2 | //body//h3"):
        refs = heading.xpath('./span[contains(concat(" ", normalize-space(@class), " "), " ref ")]')
        ref = _squeeze(refs[0].text_content()) if refs else ""
        whole = _squeeze(heading.text_content())
        text = _squeeze(whole.removeprefix(ref)) if ref and whole.startswith(ref) else whole
        entries.append(OutlineEntry(2 if heading.tag == "h3" else 1,
                                    f"{ref}{LABEL_SEPARATOR}{text}" if ref and text else whole))
    return entries


def _relabel(document: weasyprint.Document, entries: list[OutlineEntry]) -> None:
    """Give the laid-out bookmarks the labels of ``outline_of``, in order (they are the same headings).

    WeasyPrint labels a heading with its text content, where the reference and the heading run
    together ("Art. 15(1)(a)Purposes"); the order and levels are its own, and are checked to match.
    """
    marks = [(page, i) for page in document.pages for i in range(len(page.bookmarks))]
    if [page.bookmarks[i][0] for page, i in marks] != [e.level for e in entries]:
        return  # the layout's headings are not the HTML's: keep WeasyPrint's own labels
    for (page, i), entry in zip(marks, entries, strict=True):
        level, _, position, state = page.bookmarks[i]
        page.bookmarks[i] = (level, entry.label, position, state)


def render_letter_pdf(html: str, *, author: str | None = None) -> bytes:
    """The letter's HTML (``render_letter``) as PDF/A-2b bytes, with title and language from the HTML
    (``<title>``, ``<html lang>``), ``author`` (the controller) in the metadata, fonts embedded and
    one bookmark per section heading. A letter whose Art. 15 text was printed before lays out only its
    first part and reuses the kept Art. 15 pages (:mod:`.pdf_parts`); any other is laid out whole."""
    try:
        # imported here: a machine without Pango fails this step with a clear line, not every import
        import weasyprint  # noqa: F401
    except OSError as exc:  # cffi could not load libpango / libgobject
        raise PdfUnavailableError(f"WeasyPrint cannot load its system libraries ({exc.__class__.__name__}); "
                                  f"apt-get install {SYSTEM_PACKAGES}") from None
    with _RENDER_LOCK:
        parts = split_letter(html)
        document = _from_kept(parts) if parts is not None else None
        if document is None:
            document = _layout(html)
            _relabel(document, outline_of(html))
            start = art15_start(document.pages) if parts is not None else None
            if parts is not None and start:
                printer = _printer()
                printer.kept.keep(parts.art15, start, document.pages[start:])
                printer.personal_pages = start
        if author:
            document.metadata.authors = [author]
        pdf = document.write_pdf(pdf_variant=PDF_VARIANT)
    assert pdf is not None
    return pdf


def _from_kept(parts: LetterParts) -> weasyprint.Document | None:
    """The letter from its first part, laid out now, and the kept pages of its Art. 15 part; None when
    that text was not kept after a first part of this letter's length. The caller holds `_RENDER_LOCK`."""
    printer = _printer()
    counts = printer.kept.pages_after(parts.art15)  # pages before it -> its own pages
    if not counts:
        printer.kept.misses += 1
        return None
    before = printer.personal_pages if printer.personal_pages in counts else min(counts)
    personal = _numbered_layout(parts.personal, before + counts[before])
    if len(personal.pages) != before:  # this person's first part is longer or shorter
        before = len(personal.pages)
        if before not in counts:
            printer.kept.misses += 1
            return None
        personal = _numbered_layout(parts.personal, before + counts[before])
    art15 = printer.kept.find(parts.art15, before)
    assert art15 is not None
    printer.personal_pages = before
    _relabel(personal, outline_of(parts.personal))
    return personal.copy([*personal.pages, *art15])


def _layout(html: str, extra_css: str = "") -> weasyprint.Document:
    """``html`` laid out with the print stylesheet (and ``extra_css`` after it); the caller holds `_RENDER_LOCK`."""
    import weasyprint

    # No fetching at all: the letter is self-contained, and a value that ever slipped a URL into it must not
    # make the pipeline read a local file or call a server while printing (fonts come from fontconfig).
    no_fetching = weasyprint.urls.URLFetcher(allowed_protocols=())
    printer = _printer()
    stylesheets = [printer.stylesheet]
    if extra_css:
        stylesheets.append(weasyprint.CSS(string=extra_css, url_fetcher=no_fetching, font_config=printer.fonts))
    return weasyprint.HTML(string=html, url_fetcher=no_fetching).render(stylesheets=stylesheets,
                                                                      font_config=printer.fonts)


def _numbered_layout(html: str, total: int) -> weasyprint.Document:
    return _layout(html, numbering_css(total))


__all__ = ["FONT_FAMILY", "PDF_VARIANT", "PRINT_CSS", "SYSTEM_PACKAGES", "OutlineEntry", "PdfUnavailableError",
           "outline_of", "render_letter_pdf"]
