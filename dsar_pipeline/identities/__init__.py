"""Identifiers a request names the person by: validation and one canonical form per kind."""
