"""Any SQL system described by a fideslang dataset file (the format Fides uses), read by one generic walk.

Read in this order: `compile` (the file, validated by fideslang's own models), `plan` (what it
compiles to), `extensions` (our `fides_meta.dsar` keys), `walk` (reading and provenance), `records` (what the
pipeline receives), `connector` (the contract), `statements` (the SQL), `engine`, `failures` and `watchdog`
(the three back ends, bounds and retries), `schema_check` (a dataset against a live database).
"""

from connectors.dataset.compile import load_plan
from connectors.dataset.connector import DatasetConnector
from connectors.dataset.plan import DatasetInvalid, Plan

__all__ = ["DatasetConnector", "DatasetInvalid", "Plan", "load_plan"]
