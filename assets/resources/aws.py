"""AWS (or the sandbox's stand-in): the S3 and KMS endpoints and the credentials the pipeline uses."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config

from assets.resources.settings import SettingsResource

ENDPOINTS = {"s3": "DSAR_S3_ENDPOINT_URL", "kms": "DSAR_KMS_ENDPOINT_URL"}


def aws_client(service: str, settings: Mapping[str, str], endpoint_key: str) -> Any:
    """A boto3 client for AWS or the sandbox stand-in, with bounded timeouts."""
    return boto3.client(
        service, endpoint_url=settings.get(endpoint_key) or None, region_name=settings.get("DSAR_AWS_REGION") or None,
        aws_access_key_id=settings.get("DSAR_AWS_ACCESS_KEY_ID") or None,
        aws_secret_access_key=settings.get("DSAR_AWS_SECRET_ACCESS_KEY") or None,
        config=Config(connect_timeout=5, read_timeout=60, retries={"mode": "standard", "max_attempts": 4}))


class AwsResource(SettingsResource):
    """Empty endpoints mean AWS itself; empty keys mean boto3's default credential chain."""

    SETTINGS = ("s3_endpoint_url", "kms_endpoint_url", "aws_region", "aws_access_key_id", "aws_secret_access_key")
    s3_endpoint_url: str = ""
    kms_endpoint_url: str = ""
    aws_region: str = ""
    aws_access_key_id: str = ""
    aws_secret_access_key: str = ""

    def client(self, service: str) -> Any:
        return aws_client(service, self.settings(), ENDPOINTS[service])
