"""Where requests come in and answers go out: the inbox bucket, the package bucket, the mail and SMS
gateways, the presign-only user and the helpdesk's status callbacks."""

from __future__ import annotations

from assets.resources.aws import AwsResource


class InboxResource(AwsResource):
    """The bucket where request tickets arrive."""

    SETTINGS = (*AwsResource.SETTINGS, "inbox_bucket", "inbox_prefix")
    inbox_bucket: str
    inbox_prefix: str = "tickets/"



class DeliveryResource(AwsResource):
    """The package bucket (SSE-KMS), the gateways that carry the link and the passphrase, the helpdesk."""

    SETTINGS = (*AwsResource.SETTINGS, "package_bucket", "kms_key_id", "mail_gateway_url", "sms_gateway_url",
                "gateway_api_key",
                "presign_access_key_id", "presign_secret_access_key", "helpdesk_callback_url",
                "helpdesk_callback_secret")
    package_bucket: str
    kms_key_id: str = ""
    mail_gateway_url: str = ""
    sms_gateway_url: str = ""
    gateway_api_key: str = ""
    presign_access_key_id: str = ""
    presign_secret_access_key: str = ""
    helpdesk_callback_url: str = ""
    helpdesk_callback_secret: str = ""

