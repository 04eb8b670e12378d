"""The readable report: one HTML page of everything found, in the request's language."""
