"""Collection: one system searched for one person, complete or failed, never partial."""
