"""The encrypted work store (a local folder embedded, an S3 bucket in production) and its data keys."""

from __future__ import annotations

from pathlib import Path

from assets.resources.aws import AwsResource
from dsar_pipeline.sealing.key_cache import RequestKeyFiles
from dsar_pipeline.sealing.keys import KeyProvider, key_provider_from_settings
from dsar_pipeline.sealing.workstore import LocalWorkStore, S3WorkStore, WorkStore


class WorkStoreResource(AwsResource):
    """Sealed intermediates between steps: everything one step hands to another (`package.handoff`)."""

    SETTINGS = (*AwsResource.SETTINGS, "work_dir", "work_bucket", "kms_key_id", "local_key_file")
    kind: str = "local"  # local | s3
    work_dir: str = ".dagster_home/work"
    work_bucket: str = ""
    kms_key_id: str = ""
    local_key_file: str = ""

    def store(self) -> WorkStore:
        if self.kind == "s3":
            return S3WorkStore(self.client("s3"), self.work_bucket, self.kms_key_id or None)
        return LocalWorkStore(Path(self.work_dir))

    def work_root(self) -> Path:
        """The local work folder (the embedded store's root); purge also clears what older versions staged here."""
        return Path(self.work_dir).resolve()

    def key_provider(self) -> KeyProvider:
        """Data keys for this store's objects; with KMS, one request key per request kept in the store."""
        return key_provider_from_settings(self.settings(),
                                          roots=RequestKeyFiles(self.store))
