"""Encryption at rest: data keys (KMS or a local key file), sealed objects and the work store they live in."""
