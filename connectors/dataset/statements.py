"""The SELECTs a walk sends, built with SQLAlchemy Core: quoted identifiers, bound values, keyset pages.

Every statement reads the collection's declared fields where one field is IN a list of values (an
expanding bound parameter, never text pasted into SQL), optionally where a discriminator equals a
value (a variant), ordered by the primary key and cut at the page size; the next page starts after
the last key (`(k1, k2) > (:k1, :k2)` for a composite key). Table and column names are quoted by the
dialect wherever they need it (mixed case, spaces, reserved words).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from connectors.dataset.plan import CollectionPlan


def table(collection: CollectionPlan, schema: str | None) -> sa.TableClause:
    return sa.table(collection.name, *(sa.column(name) for name in collection.names), schema=schema)


def page(collection: CollectionPlan, schema: str | None, field: str, values: Sequence[Any], *,
         lower: bool = False, when: tuple[str, str] | None = None, after: tuple[Any, ...] | None = None,
         limit: int = 500) -> sa.Select[Any]:
    t = table(collection, schema)
    column: Any = t.c[field]
    if lower:
        column = sa.func.lower(column)
    statement = sa.select(*(t.c[name] for name in collection.names)).where(column.in_(list(values)))
    if when is not None:
        statement = statement.where(t.c[when[0]] == when[1])
    keys = [t.c[name] for name in collection.key]
    if after is not None:
        if len(keys) == 1:
            statement = statement.where(keys[0] > after[0])
        else:
            statement = statement.where(sa.tuple_(*keys) > sa.tuple_(*(sa.literal(v) for v in after)))
    return statement.order_by(*keys).limit(limit)
