"""A dataset against a live database: every collection and field exists, and the queried fields are indexed.

The walk queries identity fields (entry points) and the fields references lead to (`WHERE field IN
…`); without an index each such query reads the whole table, which works on a test database and times
out on a real one. A missing table or column is a problem (the walk would fail); a missing index is a
warning (the walk works, slowly). A field counts as indexed when an index, the primary key or a unique
constraint starts with it, or when an index's first expression mentions it (`lower(value)`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from connectors.dataset.plan import Plan


@dataclass
class SchemaReport:
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def queried_fields(plan: Plan) -> dict[str, set[str]]:
    """Collection → the fields the walk puts in a WHERE clause."""
    out: dict[str, set[str]] = {name: set() for name in plan.collections}
    for lookup in plan.lookups:
        out[lookup.collection].add(lookup.field)
    for edge in plan.edges:
        out[edge.target].add(edge.target_field)
    return out


def check_schema(plan: Plan, engine: sa.Engine) -> SchemaReport:
    report = SchemaReport()
    with warnings.catch_warnings():  # reflection warns about expression indexes it cannot describe
        warnings.simplefilter("ignore", sa.exc.SAWarning)
        inspector = sa.inspect(engine)
        queried = queried_fields(plan)
        for name, collection in plan.collections.items():
            if not inspector.has_table(name, schema=plan.schema):
                report.problems.append(f"{name}: no such table in the database")
                continue
            columns = {column["name"] for column in inspector.get_columns(name, schema=plan.schema)}
            missing = [f for f in collection.names if f not in columns]
            report.problems.extend(f"{name}.{f}: no such column in the database" for f in missing)
            leading = _leading(inspector, name, plan.schema)
            for fname in sorted(queried[name] - set(missing)):
                if not any(fname == first or (expression and fname in expression) for first, expression in leading):
                    report.warnings.append(f"{name}.{fname}: not indexed; every walk that reaches it reads the "
                                           "whole table")
    return report


def _leading(inspector: Any, table: str, schema: str | None) -> list[tuple[str | None, str | None]]:
    """(first column, first expression) of every index, the primary key and every unique constraint."""
    out: list[tuple[str | None, str | None]] = []
    primary = inspector.get_pk_constraint(table, schema=schema).get("constrained_columns") or []
    if primary:
        out.append((primary[0], None))
    for unique in inspector.get_unique_constraints(table, schema=schema):
        if unique.get("column_names"):
            out.append((unique["column_names"][0], None))
    for index in inspector.get_indexes(table, schema=schema):
        names = index.get("column_names") or []
        expressions = index.get("expressions") or []
        out.append((names[0] if names else None, str(expressions[0]) if expressions else None))
    return out
