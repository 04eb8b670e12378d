"""The Dagster UI for production: every run it launches carries the signed-in user, and only theirs.

Dagster's open-source webserver has no users. Production puts it behind an authenticating proxy
(oauth2-proxy or the company's SSO gateway) that admits only the DPO group and passes the verified
user in a header it sets itself (e.g. ``X-Forwarded-Email``; the proxy strips any such header a
client sends). This module serves the webserver with an ASGI middleware that, on every GraphQL
request that launches runs (launch, re-execute, backfill), removes any `dsar/authenticated_user`
tag the client sent and adds one with the header's user. `release_approval` and `release_scope`
(`assets.dpo`, mode ``proxy``) record that identity in the audit trail and refuse a decision
without it. A launch request without the header is refused (401), and so is a launch written
without GraphQL variables (whose tags this middleware could not see).

Run: ``python -m assets.webserver_identity --identity-header X-Forwarded-Email -w workspace.yaml
-h 127.0.0.1 -p 3000`` behind the proxy (deploy/dpo-authentication.md).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from assets.dpo import IDENTITY_TAG, USER_ID, user_id

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

LAUNCHES = ("launchPipelineExecution", "launchRun", "launchMultipleRuns", "launchPipelineReexecution",
            "launchRunReexecution", "launchPartitionBackfill")
MAX_BODY = 4 * 1024 * 1024


class IdentityRefused(ValueError):
    """A launch this middleware cannot vouch for; the message is safe to return to the client."""


def _tag_lists(variables: Any) -> list[list[Any]]:
    """Every tag list a launching mutation's variables hold, created where the client sent none:
    execution parameters (single or a list), re-execution parameters and backfill parameters."""
    found: list[list[Any]] = []

    def tags_of(holder: Any, key: str) -> None:
        if isinstance(holder, dict):
            tags = holder.setdefault(key, [])
            if isinstance(tags, list) and all(tags is not known for known in found):
                found.append(tags)

    def visit(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                visit(item)
            return
        if not isinstance(node, dict):
            return
        params = [node.get("executionParams"), *list(node.get("executionParamsList") or [])]
        for item in params:
            if isinstance(item, dict):
                tags_of(item.setdefault("executionMetadata", {}), "tags")
        tags_of(node.get("reexecutionParams"), "extraTags")
        tags_of(node.get("backfillParams"), "tags")
        for value in node.values():
            visit(value)

    visit(variables)
    return found


def stamp_operation(operation: Any, user: str | None) -> bool:
    """Put `user` on every tag list of a launching operation; False when it launches nothing."""
    query = operation.get("query") if isinstance(operation, dict) else None
    if not isinstance(query, str) or not any(name in query for name in LAUNCHES):
        return False
    if not user:
        raise IdentityRefused("no signed-in user: launches go through the authenticating proxy")
    if IDENTITY_TAG in query:
        raise IdentityRefused("the identity tag may not be written into the query")
    tag_lists = _tag_lists(operation.get("variables"))
    if not tag_lists:
        raise IdentityRefused("launches must pass their parameters as GraphQL variables")
    for tags in tag_lists:
        tags[:] = [t for t in tags if not (isinstance(t, dict) and t.get("key") == IDENTITY_TAG)]
        tags.append({"key": IDENTITY_TAG, "value": user})
    return True


def stamp_body(body: bytes, user: str | None) -> bytes:
    """The GraphQL request body with the signed-in user on every launch it makes."""
    try:
        document = json.loads(body) if body else None
    except ValueError:
        return body  # not JSON: Dagster answers it with an error of its own, it launches nothing
    operations = document if isinstance(document, list) else [document]
    stamped = [stamp_operation(operation, user) for operation in operations]
    return json.dumps(document).encode() if any(stamped) else body


class IdentityMiddleware:
    """ASGI middleware stamping the proxy's user on every run the UI launches."""

    def __init__(self, app: App, header: str) -> None:
        self.app = app
        self.header = header.lower().encode("latin-1")

    def user(self, scope: Scope) -> str | None:
        for name, value in scope.get("headers") or []:
            if name.lower() == self.header:
                candidate = user_id(value.decode("latin-1"))
                return candidate if USER_ID.fullmatch(candidate) else None
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or scope.get("method") != "POST" or not scope.get("path", "").endswith(
                "/graphql"):
            await self.app(scope, receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = bool(message.get("more_body"))
            if len(body) > MAX_BODY:
                await _refuse(send, 413, "request too large")
                return
        try:
            body = stamp_body(body, self.user(scope))
        except IdentityRefused as exc:
            await _refuse(send, 401 if "signed-in" in str(exc) else 400, str(exc))
            return
        headers = [(k, v) for k, v in scope.get("headers") or [] if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app({**scope, "headers": headers}, replay, send)


async def _refuse(send: Send, status: int, reason: str) -> None:
    payload = json.dumps({"errors": [{"message": reason}]}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


def main(argv: list[str] | None = None) -> None:
    """Serve the Dagster UI with the identity middleware (the instance from DAGSTER_HOME)."""
    import uvicorn
    from dagster import DagsterInstance
    from dagster._core.workspace.context import WorkspaceProcessContext
    from dagster._core.workspace.load_target import WorkspaceFileTarget
    from dagster_webserver.app import create_app_from_workspace_process_context
    from dagster_webserver.version import __version__

    parser = argparse.ArgumentParser(prog="python -m assets.webserver_identity", add_help=False)
    parser.add_argument("--help", action="help", help="show this help and exit")
    parser.add_argument("--identity-header", required=True, help="header the authenticating proxy sets")
    parser.add_argument("-w", "--workspace", default="workspace.yaml")
    parser.add_argument("-h", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=3000)
    args = parser.parse_args(argv)
    with DagsterInstance.get() as instance, WorkspaceProcessContext(
            instance, version=__version__, workspace_load_target=WorkspaceFileTarget([args.workspace])) as context:
        app = create_app_from_workspace_process_context(context, "", None)
        uvicorn.run(IdentityMiddleware(app, args.identity_header), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
