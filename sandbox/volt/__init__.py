"""Simulated Volt EV-charging app back end (REST + OAuth2 client credentials); see `sandbox.volt.app`."""

from sandbox.volt.app import VoltConfig, create_app

__all__ = ["VoltConfig", "create_app"]
