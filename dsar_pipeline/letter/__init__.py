"""The Art. 15 letter: written by us from the controller's profile and what was found for one person.

Public API:

- ``render_letter(context: LetterContext) -> str`` — the letter as self-contained HTML in Estonian,
  Latvian, Russian or English, one ``<section id="art15-…">`` per element of Art. 15.
- ``LetterContext`` (with ``SystemSearch``, ``DecisionFound``) — the facts of one request.
- ``FoundData`` — reduces the streamed ``Record``s of a request to the found-data parts of a context.
- ``load_facts`` / ``facts_of`` — the typed, checked Art. 15 facts of a controller profile
  (``ControllerFacts.retention_periods()`` gives retention findings their periods).

No PDF: no HTML-to-PDF engine is installed (no WeasyPrint, and Playwright has no browser here);
the HTML has print styles, so a browser prints it to PDF cleanly.
"""

from .context import CopyPart, DecisionFound, LetterContext, SearchStatus, SystemSearch, WithheldKind
from .facts import ControllerFacts, facts_of, load_facts
from .render import SECTION_IDS, render_letter
from .summary import FoundData

__all__ = [
    "SECTION_IDS",
    "ControllerFacts",
    "CopyPart",
    "DecisionFound",
    "FoundData",
    "LetterContext",
    "SearchStatus",
    "SystemSearch",
    "WithheldKind",
    "facts_of",
    "load_facts",
    "render_letter",
]
