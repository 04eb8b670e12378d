"""Connector for the self-service portal's back-office REST API (see `connectors.portal.connector`)."""

from connectors.portal.connector import PortalConnector

__all__ = ["PortalConnector"]
