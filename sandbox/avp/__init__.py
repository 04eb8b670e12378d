"""Simulated Estonian electricity data hub (Elering AVP / e-elering): see `sandbox.avp.app` for the API."""

from sandbox.avp.app import AvpConfig, create_app

__all__ = ["AvpConfig", "create_app"]
