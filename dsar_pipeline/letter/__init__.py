"""The Art. 15 letter: written by us from the controller's profile and what was found for one person.

Public API:

- ``render_letter(context: LetterContext, sources: bool = False) -> str`` — the letter as self-contained
  HTML in Estonian, Latvian, Russian or English, one ``<section id="art15-…">`` per element of Art. 15;
  with ``sources=True``, the DPO's review copy: the same letter with each statement's source beside it.
- ``LetterContext`` (with ``SystemSearch``, ``DecisionFound``) — the facts of one request.
- ``FoundData`` — reduces the streamed ``Record``s of a request to the found-data parts of a context.
- ``load_facts`` / ``facts_of`` — the typed, checked Art. 15 facts of a controller profile, with the
  provenance of each (``ControllerFacts.retention_periods()`` gives retention findings their periods).
- ``provenance.to_confirm`` — the facts of our own reading, not yet confirmed, that the letter leaves out.

The letter says only what the notice says (or the DPO confirmed), what the law says in standard
wording, and what our search found; where the notice is silent it says so and whom to ask. The PDF/A
rendering and its e-seal are ``pdf`` and ``seal``.
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
