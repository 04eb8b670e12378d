"""Links live their whole promised life: signed with a presign-only user's long-term key when one is
configured, and never with temporary credentials, which would die with their session."""

from __future__ import annotations

import boto3
import pytest

from dsar_pipeline.delivery.send import DeliveryError, presign_client


def s3(**credentials: str):
    return boto3.client("s3", region_name="eu-north-1", endpoint_url="http://127.0.0.1:9", **credentials)


def test_temporary_credentials_are_refused_for_links() -> None:
    session = s3(aws_access_key_id="ASIATEMPORARY", aws_secret_access_key="s", aws_session_token="token")
    with pytest.raises(DeliveryError, match="DSAR_PRESIGN_ACCESS_KEY_ID"):
        presign_client(session, {})


def test_a_presign_user_signs_the_links_and_long_term_keys_sign_by_themselves() -> None:
    session = s3(aws_access_key_id="ASIATEMPORARY", aws_secret_access_key="s", aws_session_token="token")
    presign_user = {"DSAR_PRESIGN_ACCESS_KEY_ID": "AKIAPRESIGN", "DSAR_PRESIGN_SECRET_ACCESS_KEY": "x",
                    "DSAR_AWS_REGION": "eu-north-1"}
    signer = presign_client(session, presign_user)
    url = signer.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"}, ExpiresIn=7 * 86400)
    assert "AKIAPRESIGN" in url
    assert "X-Amz-Security-Token" not in url
    static = s3(aws_access_key_id="AKIASTATIC", aws_secret_access_key="s")
    assert presign_client(static, {}) is static
