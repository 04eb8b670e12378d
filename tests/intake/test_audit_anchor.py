"""Anchors outside the database: the sandbox's KMS signing key and Object-Locked work bucket.

Runs against the sandbox federation (moto behind the sandbox's front door), as the pipeline would
against AWS: the settings it hands out name the signing key and the bucket.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import dagster as dg
import pytest
from botocore.exceptions import ClientError
from sqlalchemy import text

from assets.audit import audit_anchor_job, audit_anchor_schedule, defs
from assets.resources import AuditResource
from dsar_pipeline.audit.anchor import ANCHOR_PREFIX, anchor_from_settings, anchor_head
from dsar_pipeline.audit.commands import aws_client
from dsar_pipeline.audit.signing import KmsSigner, signature_valid
from dsar_pipeline.audit.trail import AuditTrail
from dsar_pipeline.cli import main as dsar_main
from dsar_pipeline.settings import DEFAULTS

from .test_audit import OTHER, REQUEST, admin_sql, fill_interleaved


@pytest.fixture
def settings(federation, tmp_path, monkeypatch) -> dict[str, str]:
    """The sandbox's settings in the environment, plus a fresh audit database."""
    for name in list(os.environ):
        if name.startswith("DSAR_"):
            monkeypatch.delenv(name)
    values = dict(federation.settings)  # type: ignore[attr-defined]
    values["DSAR_AUDIT_DATABASE_URL"] = f"sqlite:///{tmp_path}/audit.sqlite3"
    for name, value in values.items():
        if name.startswith("DSAR_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    return values


@pytest.fixture
def trail(settings) -> AuditTrail:
    audit = AuditTrail(settings["DSAR_AUDIT_DATABASE_URL"])
    fill_interleaved(audit)
    return audit


def _client(settings: dict[str, str]):
    return lambda service: aws_client(service, settings)


def test_sandbox_kms_signs_digests_as_aws_does(settings):
    signer = KmsSigner(aws_client("kms", settings), settings["DSAR_AUDIT_SIGNING_KEY_ID"])
    digest = hashlib.sha256(b"anchor statement").digest()
    signature = signer.sign_digest(digest)  # raises unless it verifies as a signature OF the digest
    assert signature_valid(signer.public_key(), digest, signature)
    assert not signature_valid(signer.public_key(), hashlib.sha256(digest).digest(), signature)
    answer = aws_client("kms", settings).verify(KeyId=signer.key_id, Message=digest, MessageType="DIGEST",
                                                Signature=signature, SigningAlgorithm="ECDSA_SHA_256")
    assert answer["SignatureValid"] is True


def test_anchor_is_locked_in_the_work_bucket(settings, trail):
    anchor = anchor_from_settings(trail, settings, _client(settings))
    assert anchor.key_id == settings["DSAR_AUDIT_SIGNING_KEY_ID"] and anchor.seq == 10
    s3, bucket = aws_client("s3", settings), settings["DSAR_WORK_BUCKET"]
    assert s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]["ObjectLockEnabled"] == "Enabled"
    head = s3.head_object(Bucket=bucket, Key=anchor.object_key())
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert (head["ObjectLockRetainUntilDate"].year - int(anchor.anchored_at[:4])) in (9, 10)
    body = json.loads(s3.get_object(Bucket=bucket, Key=anchor.object_key())["Body"].read())
    assert {"seq", "head_hash", "anchored_at", "signature", "key_id", "key_fingerprint"} <= set(body)
    with pytest.raises(ClientError) as refused:
        s3.delete_object(Bucket=bucket, Key=anchor.object_key(), VersionId=head["VersionId"])
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert trail.anchors()[-1] == anchor


def test_bucket_anchors_catch_a_cut_tail_after_database_anchors_are_gone(settings, trail, capsys):
    anchor_from_settings(trail, settings, _client(settings))
    assert dsar_main(["audit", "verify", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["anchors"]["bucket"] >= 1 and report["anchors"]["bucket_status"] == "checked"
    # an administrator cuts the tail AND removes the database's anchors: the bucket still knows
    admin_sql(trail, "DELETE FROM dsar_audit_log WHERE seq > 8", "DELETE FROM dsar_audit_anchors")
    assert trail.verify_chain(REQUEST).ok  # the cheap check trusts the (emptied) anchor table
    assert dsar_main(["audit", "verify"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and len(err.splitlines()) == 1
    assert err.startswith("audit chain broken at event 9: the chain ends at event 8") and "(bucket)" in err


def test_unreachable_bucket_is_not_called_intact(settings, trail, capsys, monkeypatch):
    anchor_head(trail, None, None, KmsSigner(aws_client("kms", settings), settings["DSAR_AUDIT_SIGNING_KEY_ID"]))
    monkeypatch.setenv("DSAR_S3_ENDPOINT_URL", "http://127.0.0.1:9")  # discard port: nothing listens
    assert dsar_main(["audit", "verify"]) == 2
    _, err = capsys.readouterr()
    assert len(err.splitlines()) == 1 and "unreachable" in err and "--offline" in err
    assert dsar_main(["audit", "verify", "--offline", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] and report["anchors"]["bucket_status"] == "skipped (--offline)"


def test_public_key_command_prints_the_kms_key(settings, capsys):
    assert dsar_main(["audit", "public-key"]) == 0
    out, err = capsys.readouterr()
    public = aws_client("kms", settings).get_public_key(KeyId=settings["DSAR_AUDIT_SIGNING_KEY_ID"])["PublicKey"]
    from cryptography.hazmat.primitives import serialization

    expected = serialization.load_der_public_key(public).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    assert out == expected and settings["DSAR_AUDIT_SIGNING_KEY_ID"] in err


def test_daily_schedule_and_job_anchor_through_the_resource(settings, trail):
    assert audit_anchor_schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    assert audit_anchor_schedule.cron_schedule == "15 2 * * *"
    assert [job.name for job in defs.jobs] == ["audit_anchor_job"]
    assert [schedule.name for schedule in defs.schedules] == ["audit_anchor_daily"]
    resource = AuditResource.from_environment({**DEFAULTS, **settings}, env="embedded")
    result = audit_anchor_job.execute_in_process(resources={"audit": resource})
    assert result.success
    anchor = trail.anchors()[-1]
    assert anchor.seq == 10 and anchor.key_id == settings["DSAR_AUDIT_SIGNING_KEY_ID"]
    keys = [anchor_key["Key"] for anchor_key in aws_client("s3", settings).list_objects_v2(
        Bucket=settings["DSAR_WORK_BUCKET"], Prefix=ANCHOR_PREFIX)["Contents"]]
    assert anchor.object_key() in keys
    assert trail.verify([resource.signer().public_key()]).ok


def test_embedded_default_without_kms_uses_a_private_key_file(tmp_path, monkeypatch):
    for name in list(os.environ):
        if name.startswith("DSAR_"):
            monkeypatch.delenv(name)
    key_file = tmp_path / "home" / "keys" / "audit-signing-key.pem"
    resource = AuditResource(audit_database_url=f"sqlite:///{tmp_path}/a.sqlite3", audit_signing_key_file=str(key_file))
    trail = resource.trail()
    trail.append(OTHER, "received", {})
    anchor = resource.anchor()
    assert anchor.key_id.startswith("file:") and anchor.seq == 1
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert oct(Path(key_file.parent).stat().st_mode & 0o777) == "0o700"
    with trail.engine.connect() as conn:
        assert conn.execute(text("SELECT object_key FROM dsar_audit_anchors")).scalar() is None
    assert trail.verify([resource.signer().public_key()]).anchors["bucket_status"] == "not configured"
