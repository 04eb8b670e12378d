"""Call recordings on S3 (+ KMS): the endpoint, its seeding, and the ticket drop of the inbox.

The API the connector author reads is the docstring of `sandbox.recordings.s3`.
"""

from sandbox.recordings.s3 import SeedInfo, create_s3_app, drop_ticket, s3_error_body, seed_recordings

__all__ = ["SeedInfo", "create_s3_app", "drop_ticket", "s3_error_body", "seed_recordings"]
