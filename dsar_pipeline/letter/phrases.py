"""Small phrases the letter and the review copy share: retention periods, category names, the contact
to ask, addresses with their country, and the registration number as each country calls it."""

from __future__ import annotations

from markupsafe import Markup

from .facts import ContactPoint, Dpo, Retention
from .words import Words


def states_period(entry: Retention | None) -> bool:
    """Whether the letter may state a retention period or criterion for this entry: a printable entry
    (the notice's, or our reading confirmed) that gives one. Otherwise the letter says the notice
    states no period for those data, and whom to ask — it never invents one."""
    return entry is not None and entry.printable and entry.criteria != "not_stated"


def retention_text(w: Words, rule: str, entry: Retention | None) -> str:
    """How long a rule keeps data, in the letter's words (the review copy uses it in English)."""
    if entry is None:
        return w.sub("criteria", "not_stated")
    if entry.period is not None:
        period = w.period(entry.period)
        if entry.counted_from == "contract_end":
            return str(w("after_contract_end", period=period))
        return str(w("counted", period=period, start=w.sub("rule_start", rule)))
    if isinstance(entry.criteria, str):
        return w.sub("criteria", entry.criteria)
    return entry.criteria.get(w.language) if entry.criteria is not None else w.sub("criteria", "not_stated")


def category_name(w: Words, name: str, electricity_supplier: bool = True) -> str:
    """A data category's name in the letter. A controller that is not an electricity supplier gets the
    neutral names of ``categories_non_supplier`` (its contract is not an "electricity contract")."""
    neutral = w.table["categories_non_supplier"]
    if not electricity_supplier and name in neutral:
        return str(neutral[name])
    return w.category(name)


def contact(w: Words, dpo: Dpo, service: ContactPoint) -> Markup:
    """Whom the person asks: the DPO when one is appointed and reachable, else through customer service."""
    if dpo.appointed and dpo.channels():
        return w("contact_dpo", channels=w.join(dpo.channels()))
    if dpo.appointed:
        return w("dpo_via_service", channels=w.join(service.channels()))
    return w("contact_service", channels=w.join(service.channels() or dpo.channels()))


def with_country(w: Words, address: str, country: str | None) -> str:
    """An address followed by its country's name in the letter's language.

    Profiles write addresses without a country (issue 14); a profile not yet migrated may still end
    its address with the English name, which is replaced rather than repeated.
    """
    if not country:
        return address
    english = str(Words("en").table["countries"].get(country, ""))
    if english and address.rstrip().endswith(f", {english}"):
        address = address.rstrip()[: -len(english) - 2]
    return f"{address}, {w.table['countries'][country]}"


def registration(w: Words, country: str, number: str) -> str:
    """"registry code" (Estonia), "unified registration number" (Latvia): the term of the company's country."""
    forms = w.table["registration"]
    return str(w.phrase(forms.get(country) or forms["LV"], number=number))


__all__ = ["category_name", "contact", "registration", "retention_text", "states_period", "with_country"]
