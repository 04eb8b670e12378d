"""Simulated self-service portal back end (REST, API key); see `sandbox.portal.app`."""

from sandbox.portal.app import PortalConfig, create_app

__all__ = ["PortalConfig", "create_app"]
