"""Which data categories a dataset may use, and which one a record carries.

A dataset may use any category of fideslang's default taxonomy or our own (`connectors.categories`:
the energy and mobility extensions). Records carry a category the letter can name in four
languages: the declared one when we label it, otherwise its nearest labelled ancestor
(`user.contact.address.city` → `user.contact.address`). A category neither taxonomy knows, or one
with no labelled ancestor, is a validation problem.
"""

from __future__ import annotations

from functools import lru_cache

from connectors.categories import CATEGORIES

UNCATEGORISED = "system.operations"  # a field that declares no category is bookkeeping


@lru_cache(maxsize=1)
def fideslang_categories() -> frozenset[str]:
    from fideslang.default_taxonomy import DEFAULT_TAXONOMY

    return frozenset(category.fides_key for category in DEFAULT_TAXONOMY.data_category)


def record_category(declared: str) -> str:
    """The category a record carries for `declared`; ValueError (one line) when there is none."""
    if declared not in CATEGORIES and declared not in fideslang_categories():
        raise ValueError(f"unknown data category {declared!r} (neither fideslang's taxonomy nor ours)")
    name = declared
    while name:
        if name in CATEGORIES:
            return name
        name = name.rpartition(".")[0]
    raise ValueError(f"data category {declared!r} is fideslang's but has no label in connectors/categories.py "
                     "(nor has any of its parents)")
