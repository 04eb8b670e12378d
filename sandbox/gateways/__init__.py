"""Outbound stand-ins (mail, SMS, helpdesk status callbacks) that record what they are asked to send."""

from sandbox.gateways.app import GatewayConfig, create_app
from sandbox.gateways.outbox import read_outbox

__all__ = ["GatewayConfig", "create_app", "read_outbox"]
