"""Typed resources whose fields are the pipeline's `DSAR_*` settings, one field per setting.

A field `work_bucket` is the setting `DSAR_WORK_BUCKET`: the environments (`assets/environments.py`)
give every field as `dg.EnvVar`/`dg.IntEnvVar`, so Dagster resolves the value in the step's own
process when the run starts, and its storage, run config and UI hold only the variable's name.
The domain's functions take the settings as the `DSAR_*` mapping they document (`settings()`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Self

import dagster as dg

PREFIX = "DSAR_"


class SettingsResource(dg.ConfigurableResource):
    """Fields named after their `DSAR_*` settings (`SETTINGS` lists which fields are settings)."""

    SETTINGS: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def setting_fields(cls) -> dict[str, str]:
        """Field name → the `DSAR_*` variable it comes from."""
        return {name: PREFIX + name.upper() for name in cls.SETTINGS}

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None, **fixed: Any) -> Self:
        """Every setting field from its variable at run time (`fixed` ones as given); with `environ`,
        the values it holds now instead (for use outside a run: scripts and tests)."""
        values: dict[str, Any] = {}
        for name, variable in cls.setting_fields().items():
            if name in fixed:
                continue
            integer = cls.model_fields[name].annotation is int
            if environ is not None:
                if variable in environ:
                    values[name] = int(environ[variable]) if integer else environ[variable]
                elif not integer:
                    values[name] = ""  # absent: unset, as an empty setting means
            else:
                values[name] = dg.EnvVar.int(variable) if integer else dg.EnvVar(variable)
        return cls(**values, **fixed)

    def settings(self) -> dict[str, str]:
        """The set (non-empty) settings as the `DSAR_*` mapping the domain takes."""
        values = {variable: getattr(self, name) for name, variable in self.setting_fields().items()}
        return {variable: str(value) for variable, value in values.items() if value not in ("", None)}
