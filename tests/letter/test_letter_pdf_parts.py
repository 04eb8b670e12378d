"""The letter printed in two parts (dsar_pipeline/letter/pdf_parts.py): the person's first part laid out
every time, the Art. 15 part reused while its text is the same. Each PDF says exactly what its own HTML
says, its page numbers run on across both parts, and a kept layout never gives one person's letter
pages printed from another text."""

from __future__ import annotations

import io
import re

import lxml.html
import pypdf
import pytest

from dsar_pipeline.letter import pdf as letter_pdf
from dsar_pipeline.letter import render_letter
from dsar_pipeline.letter.pdf_parts import KeptLayouts, numbering_css, split_letter

from .test_letter import CUSTOMER, context

PAGE_NUMBER = re.compile(r"(\d+) / (\d+)\s*$")


def page_texts(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages]


def words(pdf: bytes) -> list[str]:
    """The PDF's words without page numbers and list bullets (where a page breaks moves those)."""
    text = " ".join(PAGE_NUMBER.sub("", page) for page in page_texts(pdf))
    return [w for w in text.split() if w != "•"]


def whole(html: str) -> bytes:
    """The letter laid out as one document, as it was printed before the two parts."""
    with letter_pdf._RENDER_LOCK:
        pdf = letter_pdf._layout(html).write_pdf(pdf_variant=letter_pdf.PDF_VARIANT)
    assert pdf is not None
    return pdf


def html_text(html: str) -> list[str]:
    return lxml.html.document_fromstring(html).find("body").text_content().split()


@pytest.fixture()
def kept() -> KeptLayouts:
    """A fresh set of kept layouts for this test (the process's own is restored after)."""
    printer = letter_pdf._printer()
    saved, printer.kept = printer.kept, KeptLayouts()
    yield printer.kept
    printer.kept = saved


def test_the_parts_hold_the_whole_letter_once_cut_before_art15_1a() -> None:
    html = render_letter(context(person_name="Mari Maasikas"))
    parts = split_letter(html)
    assert parts is not None
    personal, art15 = (lxml.html.document_fromstring(p) for p in (parts.personal, parts.art15))
    assert [s.get("id") for s in personal.xpath("//body/section")] == ["confirmation"]
    assert art15.xpath("//body/section")[0].get("id") == "art15-1a"
    assert "Mari Maasikas" in personal.text_content() and "Mari Maasikas" not in art15.text_content()
    assert html_text(parts.personal) + html_text(parts.art15) == html_text(html)
    for part in (personal, art15):  # each part a whole document with the letter's title, language and style
        assert part.findtext(".//title") == lxml.html.document_fromstring(html).findtext(".//title")
        assert part.get("lang") == "en" and part.find(".//style") is not None


def test_a_letter_without_art15_sections_is_not_cut() -> None:
    assert split_letter("<html><body><h1>x</h1><section id='confirmation'><p>y</p></section></body></html>") is None
    assert split_letter("<html><body><section id='art15-1a'><p>first</p></section></body></html>") is None


def test_the_pdf_says_what_the_whole_letter_says_with_page_numbers_running_on(kept: KeptLayouts) -> None:
    html = render_letter(context(person_name="Mari Maasikas"))
    pdf = letter_pdf.render_letter_pdf(html)
    assert words(pdf) == words(whole(html))
    pages = page_texts(pdf)
    numbers = [PAGE_NUMBER.search(text).groups() for text in pages]  # type: ignore[union-attr]
    assert numbers == [(str(n), str(len(pages))) for n in range(1, len(pages) + 1)]
    assert "Mari Maasikas" in pages[0]
    assert pages[1].lstrip().startswith("Art. 15(1)(a)"), "the Art. 15 information starts on a page of its own"


def test_letters_sharing_the_art15_text_reuse_its_layout_and_keep_their_own_first_page(kept: KeptLayouts) -> None:
    mari, juri = (render_letter(context(person_name=name)) for name in ("Mari Maasikas", "Jüri Jõgi"))
    first, second, again = (letter_pdf.render_letter_pdf(h) for h in (mari, juri, mari))
    assert kept.misses == 1 and kept.hits == 2
    assert "Mari Maasikas" in page_texts(first)[0] and "Jüri" not in " ".join(page_texts(first))
    assert "Jüri Jõgi" in page_texts(second)[0] and "Mari" not in " ".join(page_texts(second))
    assert words(second) == words(whole(juri)) and words(again) == words(first)


def test_a_different_art15_text_is_laid_out_anew(kept: KeptLayouts) -> None:
    """Other categories found: other sections; the kept layout of the first letter must not be used."""
    plain = render_letter(context(person_name="Mari Maasikas"))
    debtor = render_letter(context(person_name="Mari Maasikas", found={"billing": {
        "records": 3, "categories": CUSTOMER | {"user.financial.debt"}, "rules": {"debt"}}}))
    assert split_letter(plain).art15 != split_letter(debtor).art15  # type: ignore[union-attr]
    letter_pdf.render_letter_pdf(plain)
    pdf = letter_pdf.render_letter_pdf(debtor)
    assert kept.hits == 0 and kept.misses == 2
    assert words(pdf) == words(whole(debtor))


def test_a_personal_part_of_several_pages_numbers_the_art15_pages_after_it(kept: KeptLayouts) -> None:
    long_intro = "".join(f"<p>Paragraph {n} of a long first part.</p>" for n in range(160))
    html = (f"<!DOCTYPE html><html lang='en'><head><title>Letter</title></head><body><h1>Letter</h1>{long_intro}"
            "<section id='art15-1a'><h2>Purposes</h2><p>Why we use your data.</p></section></body></html>")
    for _ in ("laid out whole", "first part laid out, Art. 15 pages kept"):
        pages = page_texts(letter_pdf.render_letter_pdf(html))
        assert len(pages) >= 4
        numbers = [PAGE_NUMBER.search(text).groups() for text in pages]  # type: ignore[union-attr]
        assert numbers == [(str(n), str(len(pages))) for n in range(1, len(pages) + 1)]
        assert "Why we use your data." in pages[-1] and "Paragraph 159" in pages[-2]
    assert kept.misses == 1 and kept.hits == 1


def test_kept_pages_are_bounded_found_by_text_and_length_before_and_leave_oldest_first() -> None:
    kept = KeptLayouts(size=2)
    kept.keep("a", 1, ["a1", "a2"])
    kept.keep("b", 1, ["b1"])
    assert kept.find("a", 1) == ["a1", "a2"] and kept.find("a", 2) is None  # after a 2-page first part: not kept
    kept.keep("c", 1, ["c1"])  # "b" is the least recently used now
    assert kept.find("b", 1) is None and kept.find("c", 1) == ["c1"] and kept.find("a", 1) == ["a1", "a2"]
    assert kept.pages_after("a") == {1: 2} and kept.pages_after("b") == {}
    assert kept.hits == 3 and kept.misses == 2


def test_numbering_rule_takes_only_numbers() -> None:
    assert numbering_css(7) == '@page { @bottom-right { content: counter(page) " / 7"; } }\n'
    with pytest.raises((TypeError, ValueError)):
        numbering_css("7; } body { display: none")  # type: ignore[arg-type]


def test_kept_pages_are_used_only_after_a_first_part_of_their_length(kept: KeptLayouts) -> None:
    """The same Art. 15 text after a one-page and after a three-page first part: page numbers count on from
    each letter's own first part, never from the length the pages were kept for."""
    def letter(paragraphs: int) -> str:
        intro = "".join(f"<p>Paragraph {n} of the first part.</p>" for n in range(paragraphs))
        return (f"<!DOCTYPE html><html lang='en'><head><title>Letter</title></head><body><h1>Letter</h1>{intro}"
                "<section id='art15-1a'><h2>Purposes</h2><p>Why we use your data.</p></section></body></html>")

    for paragraphs, hits in ((2, 0), (150, 0), (150, 1), (2, 2)):
        pages = page_texts(letter_pdf.render_letter_pdf(letter(paragraphs)))
        numbers = [PAGE_NUMBER.search(text).groups() for text in pages]  # type: ignore[union-attr]
        assert numbers == [(str(n), str(len(pages))) for n in range(1, len(pages) + 1)]
        assert f"Paragraph {paragraphs - 1} " in pages[-2] and "Why we use your data." in pages[-1]
        assert kept.hits == hits
