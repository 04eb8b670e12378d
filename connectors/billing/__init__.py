"""Billing connector: the retailer's billing database over SQL (PostgreSQL or SQLite).

Read in this order: `connector` (what is searched and yielded), `queries` (the SQL), `database`
(engine, timeouts, retries), `failures` (what is retried and how failures are named), `deadline`
(the client-side bound on a server that stops answering), `sources` (fields and their categories),
`values` (one type per column on both back ends).
"""

from connectors.billing.connector import BillingConnector

__all__ = ["BillingConnector"]
