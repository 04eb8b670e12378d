"""The retailer's billing database, simulated: a real SQL database with the seeded population.

Read in this order: `schema` (tables, columns, indexes, types per back end — the connector's
reference), `proxy` (the faults on PostgreSQL, as a client sees them), `sqlite_faults` (the faults
on the embedded SQLite file). `seed` builds the database; the federation starts the rest.
"""

from sandbox.billing.proxy import BillingProxy
from sandbox.billing.seed import seed_database
from sandbox.billing.sqlite_faults import SqliteFaults, sqlite_fault_error, unsupported_sqlite_faults

__all__ = ["BillingProxy", "SqliteFaults", "seed_database", "sqlite_fault_error", "unsupported_sqlite_faults"]
