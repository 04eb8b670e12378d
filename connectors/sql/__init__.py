"""What every SQL system we read shares: bounded, retried queries and one Python type per column.

Read in this order: `database` (timeouts and the retried attempt), `failures` (what is retried and how a
failure is named without any value), `deadline` (the client-side bound on a server that stops
answering), `values` (one type per column on every back end). The dataset connector
(`connectors.dataset`) builds on these.
"""
