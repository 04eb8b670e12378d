"""The S3 work store against the sandbox's S3 (the versioned, Object Lock work bucket production uses):
purge leaves no version of an intermediate behind, and only what is under the prefix goes."""

from __future__ import annotations

from assets.resources import aws_client
from dsar_pipeline.sealing.workstore import S3WorkStore


def test_delete_prefix_removes_every_version(federation) -> None:
    settings = federation.settings
    client = aws_client("s3", settings, "DSAR_S3_ENDPOINT_URL")
    bucket = settings["DSAR_WORK_BUCKET"]
    assert client.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled"
    store = S3WorkStore(client, bucket)
    store.put("r-purgetest/a.sealed", b"one")
    store.put("r-purgetest/a.sealed", b"two")  # a re-materialisation: the first version stays in the bucket
    store.put("r-purgetest/b.sealed", b"three")
    store.put("r-purgetestother/c.sealed", b"kept")
    assert store.get("r-purgetest/a.sealed") == b"two"
    assert store.delete_prefix("r-purgetest") == 2
    listed = client.list_object_versions(Bucket=bucket, Prefix="r-purgetest/")
    assert not listed.get("Versions") and not listed.get("DeleteMarkers")
    assert not store.exists("r-purgetest/a.sealed") and store.get("r-purgetestother/c.sealed") == b"kept"
    store.delete_prefix("r-purgetestother")
