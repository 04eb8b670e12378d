"""One resource per searched system, built from its `connectors/systems.yaml` entry.

The entry names the settings its connector reads (`settings`, secrets among them); the resource
holds exactly those, so a step that searches one system is given that system's credentials only.
"""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg

from connectors.contract import Connector
from connectors.registry import SystemEntry, systems


class SystemResource(dg.ConfigurableResource):
    """A system's connector settings (`DSAR_*` name → value, resolved at run time) and its factory."""

    system: str
    settings: dict[str, str]

    def build(self) -> Connector:
        """A new connector (one per thread: it counts its own calls and holds its own clients)."""
        return systems()[self.system].build(self.settings)


def resource_key(system: str) -> str:
    """The resource key of a system: `billing_system`, `volt_system`, ..."""
    return f"{system}_system"


def system_resource(entry: SystemEntry, environ: Mapping[str, str] | None = None) -> SystemResource:
    """The system's resource with every setting its entry names taken from the environment at run time
    (or from `environ` now)."""
    values = {name: dg.EnvVar(name) if environ is None else environ.get(name, "") for name in entry.settings}
    return SystemResource(system=entry.name, settings=values)


def system_resources(environ: Mapping[str, str] | None = None) -> dict[str, SystemResource]:
    return {resource_key(name): system_resource(entry, environ) for name, entry in systems().items()}
