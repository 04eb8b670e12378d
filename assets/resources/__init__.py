"""Dagster resources, typed: each field is one `DSAR_*` setting, resolved at run time (`dg.EnvVar`),
so nothing personal or secret is stored in Dagster. Which resources an environment gets is decided
once, in `assets/environments.py`."""

from assets.resources.audit import AuditResource
from assets.resources.aws import AwsResource, aws_client
from assets.resources.desk import DeskResource
from assets.resources.messaging import DeliveryResource, InboxResource
from assets.resources.run_settings import RunSettingsResource
from assets.resources.systems import SystemResource, resource_key, system_resources
from assets.resources.work import WorkStoreResource

__all__ = ["AuditResource", "AwsResource", "DeliveryResource", "DeskResource", "InboxResource", "RunSettingsResource",
           "SystemResource", "WorkStoreResource", "aws_client", "resource_key", "system_resources"]
