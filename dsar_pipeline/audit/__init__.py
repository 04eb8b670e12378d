"""The audit trail: an append-only SHA-256 chain, signed anchors outside the database, and its checks."""
