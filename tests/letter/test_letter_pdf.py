"""The letter as a sealed PDF/A-2b: the same letter read back in four languages, its outline, fonts and
PDF/A declaration, and its PAdES e-seal validated against the sandbox's e-seal CA; a changed byte
breaks the seal; production refuses to start without the seal directory."""

from __future__ import annotations

import io
import logging
import os
import re
import stat
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import lxml.etree
import lxml.html
import pypdf
import pytest
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import PdfSignatureStatus
from pyhanko_certvalidator import ValidationContext

from dsar_pipeline.letter import DecisionFound, render_letter
from dsar_pipeline.letter.pdf import render_letter_pdf
from dsar_pipeline.letter.seal import SealError, load_seal, seal_pdf
from dsar_pipeline.profiles import list_controllers, load_profile
from harness.embedded import prepare_letter_seals
from sandbox.eseal import SandboxEseal

from .test_letter import context

CONTROLLER_OF = {"et": "enefit-ee", "lv": "enefit-lv", "ru": "enefit-lv", "en": "enefit-ee"}
# every letter of Estonian and Latvian beyond ASCII that the brief names, and Cyrillic
LETTERS = "õäöüšžāēīūņļķģč"
NAME = ("Õnne Jõgi-Šäär Ärni Žüülik Ööbik Üllar Kašžõ Ārija Ēvele Īvāne Mīlēna Ūdre Lūcija Ņina Ļaudava Kaļķe "
        "Ķēniņa Ģederte Reģīna Čakste Ločmele Юлия Щукина")
SPECIAL = LETTERS + LETTERS.upper() + "ЮлияЩукина"
PDFAID = "http://www.aiim.org/pdfa/ns/id/"


# -- helpers (the pipeline test reuses `seal_status`) --------------------------------------------------


def seal_status(pdf: bytes, trust_root_pem: Path) -> PdfSignatureStatus:
    """The PAdES validation of the PDF's one signature, with ``trust_root_pem`` as the only trust anchor."""
    reader = PdfFileReader(io.BytesIO(pdf))
    (signature,) = reader.embedded_signatures
    trust = ValidationContext(trust_roots=[load_cert_from_pemder(str(trust_root_pem))])
    return validate_pdf_signature(signature, trust)


def text_of(pdf: bytes) -> str:
    return " ".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)


def squeeze(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def expected_outline(html: str) -> list[str]:
    """The letter's section headings in order: the reference (span.ref), a dash, the heading."""
    labels = []
    for section in lxml.html.document_fromstring(html).xpath("//section"):
        (h2,) = section.xpath("./h2")
        refs = h2.xpath('./span[@class="ref"]')
        ref = squeeze(refs[0].text_content()) if refs else ""
        heading = squeeze(h2.text_content())[len(ref):].strip()
        labels.append(f"{ref} — {heading}" if ref else heading)
    return labels


def pdfa_declaration(pdf: bytes) -> tuple[str, str]:
    """(part, conformance) of the XMP's pdfaid, written as attributes or as elements."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    xmp = lxml.etree.fromstring(reader.trailer["/Root"]["/Metadata"].get_object().get_data())
    for description in xmp.iter("{http://www.w3.org/1999/02/22-rdf-syntax-ns#}Description"):
        part = description.get(f"{{{PDFAID}}}part") or description.findtext(f"{{{PDFAID}}}part")
        conformance = description.get(f"{{{PDFAID}}}conformance") or description.findtext(f"{{{PDFAID}}}conformance")
        if part:
            return part, conformance or ""
    return "", ""


def fonts_of(pdf: bytes) -> dict[str, bool]:
    """Every font the pages use: base name -> whether its program is embedded."""
    found: dict[str, bool] = {}
    for page in pypdf.PdfReader(io.BytesIO(pdf)).pages:
        for ref in page["/Resources"]["/Font"].values():
            font = ref.get_object()
            descendants = [d.get_object() for d in font.get("/DescendantFonts", [])] or [font]
            for part in descendants:
                descriptor = part["/FontDescriptor"].get_object()
                found[str(font["/BaseFont"])] = any(k in descriptor for k in ("/FontFile", "/FontFile2", "/FontFile3"))
    return found


# -- fixtures ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def seals(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    """Every controller's e-seal as the harness makes them: (seal directory, the e-seal CA certificate)."""
    home = tmp_path_factory.mktemp("home")
    directory = prepare_letter_seals(home)
    yield directory, SandboxEseal(home / "sandbox").ca_cert_path


def letter_html(language: str) -> str:
    return render_letter(context(CONTROLLER_OF[language], language, person_name=NAME,
                                 decisions=(DecisionFound(kind="credit_check", on=date(2025, 1, 2)),)
                                 if CONTROLLER_OF[language] == "enefit-lv" else ()))


@pytest.fixture(scope="module", params=["et", "lv", "ru", "en"])
def sealed(request: pytest.FixtureRequest, seals: tuple[Path, Path]) -> tuple[str, str, bytes]:
    """(language, HTML, sealed PDF) of one letter."""
    language = request.param
    html = letter_html(language)
    controller = CONTROLLER_OF[language]
    pdf = seal_pdf(render_letter_pdf(html, author=load_profile(controller).legal_name), load_seal(seals[0], controller))
    return language, html, pdf


# -- the PDF -------------------------------------------------------------------------------------------


def test_the_pdf_reads_back_as_the_letter(sealed: tuple[str, str, bytes]) -> None:
    language, html, pdf = sealed
    assert all(char in NAME for char in SPECIAL)
    text = squeeze(text_of(pdf))
    for char in SPECIAL:
        assert char in text, f"{char!r} does not read back from the {language} PDF"
    for word in NAME.split():
        assert word in text
    for label in expected_outline(html):  # every section's heading, in the PDF's text
        assert label.split(" — ")[-1] in text


def test_bookmarks_are_the_art15_section_headings(sealed: tuple[str, str, bytes]) -> None:
    _, html, pdf = sealed
    outline = pypdf.PdfReader(io.BytesIO(pdf)).outline
    assert all(not isinstance(entry, list) for entry in outline), "one level: no nested bookmarks"
    titles = [entry.title for entry in outline]
    assert titles == expected_outline(html)
    assert len(titles) == 12  # the confirmation and the 11 Art. 15 sections (art15-1a … art15-4)


def test_pdfa_2b_with_title_language_and_embedded_fonts(sealed: tuple[str, str, bytes]) -> None:
    language, html, pdf = sealed
    assert pdf.startswith(b"%PDF-1.7")
    assert pdfa_declaration(pdf) == ("2", "B")
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    root = reader.trailer["/Root"]
    assert root["/Lang"] == language
    assert "/Version" not in root or root["/Version"] < "/2", "PDF/A-2 is PDF 1.7: the seal must not make it 2.0"
    assert reader.metadata.title == squeeze(lxml.html.document_fromstring(html).findtext(".//title"))
    assert reader.metadata.author == load_profile(CONTROLLER_OF[language]).legal_name
    fonts = fonts_of(pdf)
    assert fonts and all(fonts.values()), f"fonts not embedded: {fonts}"
    assert all("DejaVu" in name for name in fonts), fonts


# -- the seal ------------------------------------------------------------------------------------------


def test_the_seal_is_valid_covers_the_whole_file_and_names_the_controller(sealed: tuple[str, str, bytes],
                                                                          seals: tuple[Path, Path]) -> None:
    language, _, pdf = sealed
    status = seal_status(pdf, seals[1])
    assert status.intact and status.valid and status.trusted, status.pretty_print_details()
    assert status.coverage.name == "ENTIRE_FILE" and status.docmdp_ok
    assert status.bottom_line
    profile = load_profile(CONTROLLER_OF[language])
    subject = status.signing_cert.subject.native
    assert subject["organization_name"] == profile.legal_name
    assert subject["organization_identifier"] == f"NTR{profile.country}-{profile.registration_number}"
    assert {"non_repudiation", "digital_signature"} <= set(status.signing_cert.key_usage_value.native)


def test_a_byte_changed_after_sealing_breaks_the_seal(sealed: tuple[str, str, bytes], seals: tuple[Path, Path]) -> None:
    _, _, pdf = sealed
    changed = bytearray(pdf)
    at = pdf.index(b"stream", len(pdf) // 4) + 40  # inside a content stream of the sealed revision
    changed[at] ^= 0x01
    status = seal_status(bytes(changed), seals[1])
    assert not status.intact and not status.bottom_line


def test_another_ca_does_not_vouch_for_the_seal(sealed: tuple[str, str, bytes], tmp_path: Path) -> None:
    _, _, pdf = sealed
    status = seal_status(pdf, SandboxEseal(tmp_path).ca_cert_path)
    assert status.intact and not status.trusted and not status.bottom_line


def test_render_and_seal_take_under_two_seconds(seals: tuple[Path, Path]) -> None:
    html = letter_html("et")
    seal = load_seal(seals[0], "enefit-ee")
    seal_pdf(render_letter_pdf(html), seal)  # warm: fonts and the CSS loaded once
    started = time.perf_counter()
    seal_pdf(render_letter_pdf(html, author="Enefit AS"), seal)
    seconds = time.perf_counter() - started
    print(f"render + seal one letter: {seconds:.3f} s")
    assert seconds < 2.0


# -- the seal directory and the setting -----------------------------------------------------------------


def test_the_harness_issues_one_seal_per_controller_and_keeps_them(seals: tuple[Path, Path]) -> None:
    directory, _ = seals
    for controller in list_controllers():
        for suffix in ("crt.pem", "key.pem", "chain.pem"):
            assert (directory / f"{controller}.{suffix}").is_file()
        assert stat.S_IMODE(os.stat(directory / f"{controller}.key.pem").st_mode) == 0o600
    assert stat.S_IMODE(os.stat(directory).st_mode) == 0o700
    before = (directory / "enefit-ee.crt.pem").read_bytes()
    prepare_letter_seals(directory.parent.parent)  # again, on the same home: the same seals
    assert (directory / "enefit-ee.crt.pem").read_bytes() == before
    enertek = load_seal(directory, "enertek-lv")  # its notice gives no registration number
    assert "Organization Identifier" not in enertek.subject and "Enertek" in enertek.subject


def test_a_seal_directory_without_the_controller_fails_with_one_line(tmp_path: Path) -> None:
    with pytest.raises(SealError) as caught:
        load_seal(tmp_path, "enefit-ee")
    assert str(caught.value) == f"DSAR_LETTER_SEAL_DIR: no enefit-ee.crt.pem in {tmp_path}"
    with pytest.raises(SealError, match="invalid format"):
        load_seal(tmp_path, "../enefit-ee")


def test_a_key_that_is_not_the_certificates_is_refused(seals: tuple[Path, Path], tmp_path: Path) -> None:
    directory, _ = seals
    (tmp_path / "enefit-ee.crt.pem").write_bytes((directory / "enefit-ee.crt.pem").read_bytes())
    (tmp_path / "enefit-ee.key.pem").write_bytes((directory / "enefit-lv.key.pem").read_bytes())
    (tmp_path / "enefit-ee.key.pem").chmod(0o600)
    with pytest.raises(SealError, match=r"enefit-ee\.key\.pem is not the key of enefit-ee\.crt\.pem"):
        load_seal(tmp_path, "enefit-ee")


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o666])
def test_a_seal_key_others_could_read_or_replace_is_refused(seals: tuple[Path, Path], tmp_path: Path,
                                                            mode: int) -> None:
    directory, _ = seals
    for name in ("enefit-ee.crt.pem", "enefit-ee.key.pem"):
        (tmp_path / name).write_bytes((directory / name).read_bytes())
    (tmp_path / "enefit-ee.key.pem").chmod(mode)
    with pytest.raises(SealError, match=r"enefit-ee\.key\.pem is accessible to group or others"):
        load_seal(tmp_path, "enefit-ee")
    (tmp_path / "enefit-ee.key.pem").chmod(0o600)
    assert load_seal(tmp_path, "enefit-ee").controller_id == "enefit-ee"


def test_a_loaded_seal_is_reused_only_while_its_files_are_unchanged(seals: tuple[Path, Path],
                                                                  tmp_path: Path) -> None:
    directory, _ = seals
    for name in ("enefit-ee.crt.pem", "enefit-ee.key.pem"):
        (tmp_path / name).write_bytes((directory / name).read_bytes())
    key = tmp_path / "enefit-ee.key.pem"
    key.chmod(0o600)
    first = load_seal(tmp_path, "enefit-ee")
    assert load_seal(tmp_path, "enefit-ee") is first  # loaded once per process
    key.chmod(0o640)  # now readable by the group: refused at once, not served from the cache
    with pytest.raises(SealError, match="accessible to group or others"):
        load_seal(tmp_path, "enefit-ee")
    key.chmod(0o600)
    key.write_bytes((directory / "enefit-lv.key.pem").read_bytes())  # another controller's key put in its place
    with pytest.raises(SealError, match="is not the key of"):
        load_seal(tmp_path, "enefit-ee")
    key.unlink()
    with pytest.raises(SealError, match=r"no enefit-ee\.key\.pem"):
        load_seal(tmp_path, "enefit-ee")


def test_production_without_the_seal_directory_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    from assets.environments import current_environment

    from ..test_production_secrets import COMPLETE

    for name, value in COMPLETE.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("DSAR_ENV", "production")
    monkeypatch.delenv("DSAR_LETTER_SEAL_DIR")
    with pytest.raises(SystemExit) as caught:
        current_environment()
    assert str(caught.value) == "production refuses to start without its secrets: DSAR_LETTER_SEAL_DIR is not set"


def test_embedded_without_the_setting_ships_no_pdf_and_says_so(monkeypatch: pytest.MonkeyPatch,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    from dsar_pipeline.package import assemble

    monkeypatch.delenv("DSAR_LETTER_SEAL_DIR", raising=False)
    with caplog.at_level(logging.WARNING, logger=assemble.__name__):
        assert assemble._letter_seal("enefit-ee") is None
    assert assemble.NO_LETTER_PDF in caplog.text and "DSAR_LETTER_SEAL_DIR is not set" in assemble.NO_LETTER_PDF
    assert assemble._stage_letter_pdf(None, "<html></html>", None, author="Enefit AS") == assemble.NO_LETTER_PDF  # type: ignore[arg-type]


def test_printing_fetches_nothing_a_letter_might_point_to(tmp_path: Path) -> None:
    """The PDF is printed without any fetching: a URL that ever slipped into the letter's HTML must not
    make the pipeline call a server or read a local file (and put it into the customer's PDF)."""
    import http.server
    import threading

    hits: list[str] = []

    class Counting(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    secret = tmp_path / "secret.txt"
    secret.write_text("LOCAL-SECRET-LINE")
    base = f"http://127.0.0.1:{server.server_address[1]}"
    hostile = render_letter(context("enefit-ee", "en")).replace(
        "</body>", f'<img src="{base}/img.png"><link rel="stylesheet" href="{base}/x.css">'
                   f'<object data="file://{secret}"></object><iframe src="file://{secret}"></iframe></body>')
    try:
        pdf = render_letter_pdf(hostile)
    finally:
        server.shutdown()
    assert hits == []
    assert "LOCAL-SECRET-LINE" not in text_of(pdf)
