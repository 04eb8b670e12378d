"""Connector for the Volt EV-charging app (REST + OAuth2 client credentials); see `connector`."""

from connectors.volt.connector import VoltConnector

__all__ = ["VoltConnector"]
