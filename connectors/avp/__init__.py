"""Connector for the AVP / e-elering data hub (Elering's market-participant API); see `connector`."""

from connectors.avp.connector import AvpConnector
from connectors.avp.planning import CallPlan, MeterWindow

__all__ = ["AvpConnector", "CallPlan", "MeterWindow"]
