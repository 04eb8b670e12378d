"""Who takes a release decision: the DPO's identity as the deployment can vouch for it.

Free text typed into the launchpad is a claim, not an identity. Two modes, chosen per environment
in `assets/environments.py`:

- ``none`` (the embedded default): nobody logs in to `dagster dev`; the `dpo_user` typed in the
  launchpad is recorded as given, marked ``authenticated: false`` in the audit trail.
- ``proxy`` (production): the UI is reachable only through the authenticating proxy and
  `assets.webserver_identity`, which puts the signed-in user on every run it launches as the
  `dsar/authenticated_user` tag (and removes any such tag a client sent). A decision without that
  tag fails; a `dpo_user` that differs from it fails. The audit trail records the proxy's
  identity, ``authenticated: true``. See deploy/dpo-authentication.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import dagster as dg

IDENTITY_TAG = "dsar/authenticated_user"
USER_ID = re.compile(r"^[a-z][a-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class DecidedBy:
    user: str
    authenticated: bool

    def evidence(self) -> dict[str, object]:
        return {"decided_by": self.user, "authenticated": self.authenticated,
                "identity_source": "sso_proxy" if self.authenticated else "launchpad"}


def user_id(value: str) -> str:
    """A staff user id as the audit trail stores it: lower case; e-mail style names lose the domain."""
    return value.strip().lower().split("@", 1)[0]


class DpoIdentityResource(dg.ConfigurableResource):
    """The DPO's identity for release decisions (`mode`: none | proxy)."""

    mode: str = "none"

    def identify(self, context: dg.AssetExecutionContext, claimed: str) -> DecidedBy:
        claimed = claimed.strip()
        if self.mode == "proxy":
            tagged = user_id(context.run.tags.get(IDENTITY_TAG, ""))
            if not USER_ID.fullmatch(tagged):
                raise dg.Failure("no authenticated DPO on this run: take decisions through the signed-in UI")
            if claimed and user_id(claimed) != tagged:
                raise dg.Failure("dpo_user differs from the signed-in user")
            return DecidedBy(tagged, True)
        if self.mode != "none":
            raise dg.Failure("the DPO identity mode must be none or proxy")
        if not USER_ID.fullmatch(claimed):
            raise dg.Failure("dpo_user must be the DPO's user id (lower-case letters, digits, '.', '_', '-')")
        return DecidedBy(claimed, False)
