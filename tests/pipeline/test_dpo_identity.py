"""Who decides a release: the embedded default records the launchpad's claim as unauthenticated;
production takes the user the authenticating proxy vouches for, stamped on every launched run by the
webserver middleware, and nothing a client writes can replace it."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import dagster as dg
import httpx
import pytest

from assets.dpo import IDENTITY_TAG, DpoIdentityResource
from assets.webserver_identity import IdentityMiddleware

LAUNCH = "mutation LaunchPipelineExecution($executionParams: ExecutionParams!) { launchPipelineExecution(" \
         "executionParams: $executionParams) { __typename } }"


class Recorder:
    """The Dagster webserver's place: remembers the body it was given."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []

    async def __call__(self, scope, receive, send) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        self.bodies.append(json.loads(body))
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": b"{}"})


def post(document, headers=None) -> tuple[int, Recorder]:
    recorder = Recorder()
    app = IdentityMiddleware(recorder, "X-Forwarded-Email")

    async def go() -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ui") as client:
            response = await client.post("/graphql", json=document, headers=headers or {})
            return response.status_code

    return asyncio.run(go()), recorder


def tags_of(params: dict) -> list[dict]:
    return params["executionMetadata"]["tags"]


def test_a_launch_carries_the_signed_in_user_and_not_the_one_the_client_wrote() -> None:
    forged = {"query": LAUNCH, "variables": {"executionParams": {"selector": {}, "executionMetadata": {
        "tags": [{"key": IDENTITY_TAG, "value": "dpo.boss"}, {"key": "dagster/partition", "value": "r-1"}]}}}}
    status, recorder = post(forged, {"X-Forwarded-Email": "Dpo.Mari@corp.example"})
    assert status == 200
    tags = tags_of(recorder.bodies[0]["variables"]["executionParams"])
    assert [t for t in tags if t["key"] == IDENTITY_TAG] == [{"key": IDENTITY_TAG, "value": "dpo.mari"}]
    assert {"key": "dagster/partition", "value": "r-1"} in tags


@pytest.mark.parametrize("variables", [
    {"executionParams": {"selector": {}}},
    {"executionParamsList": [{"selector": {}}, {"selector": {}, "executionMetadata": {"tags": []}}]},
    {"reexecutionParams": {"parentRunId": "x", "extraTags": [{"key": IDENTITY_TAG, "value": "dpo.boss"}]}},
    {"backfillParams": {"partitionNames": ["r-1"]}},
])
def test_every_kind_of_launch_is_stamped(variables) -> None:
    query = "mutation M { launchRunReexecution launchMultipleRuns launchPartitionBackfill launchPipelineExecution }"
    status, recorder = post({"query": query, "variables": variables}, {"X-Forwarded-Email": "dpo.mari"})
    assert status == 200
    text = json.dumps(recorder.bodies[0])
    assert text.count(IDENTITY_TAG) >= 1 and "dpo.boss" not in text and "dpo.mari" in text


def test_launches_without_the_proxy_user_or_with_inline_tags_are_refused() -> None:
    document = {"query": LAUNCH, "variables": {"executionParams": {"selector": {}}}}
    assert post(document)[0] == 401
    inline = {"query": LAUNCH.replace("$executionParams", f'{{executionMetadata: {{tags: [{{key: "{IDENTITY_TAG}", '
                                                           'value: "dpo.boss"}]}}')}
    status, recorder = post(inline, {"X-Forwarded-Email": "dpo.mari"})
    assert status == 400 and not recorder.bodies
    no_variables = {"query": "mutation { launchPipelineExecution(executionParams: {}) { __typename } }"}
    assert post(no_variables, {"X-Forwarded-Email": "dpo.mari"})[0] == 400


def test_queries_pass_unchanged() -> None:
    query = {"query": "query Runs { runsOrError { __typename } }", "variables": {}}
    status, recorder = post(query)
    assert status == 200 and recorder.bodies == [query]


def context_with(tags: dict[str, str]) -> SimpleNamespace:
    return SimpleNamespace(run=SimpleNamespace(tags=tags))


def test_proxy_mode_takes_the_tag_and_refuses_without_it_or_against_it() -> None:
    proxy = DpoIdentityResource(mode="proxy")
    who = proxy.identify(context_with({IDENTITY_TAG: "dpo.mari"}), "")
    assert (who.user, who.authenticated, who.evidence()["identity_source"]) == ("dpo.mari", True, "sso_proxy")
    with pytest.raises(dg.Failure, match="no authenticated DPO"):
        proxy.identify(context_with({}), "dpo.mari")
    with pytest.raises(dg.Failure, match="differs"):
        proxy.identify(context_with({IDENTITY_TAG: "dpo.mari"}), "dpo.boss")


def test_embedded_mode_records_an_unauthenticated_claim() -> None:
    who = DpoIdentityResource(mode="none").identify(context_with({IDENTITY_TAG: "dpo.boss"}), "dpo.mari")
    assert (who.user, who.authenticated, who.evidence()["identity_source"]) == ("dpo.mari", False, "launchpad")
    with pytest.raises(dg.Failure, match="user id"):
        DpoIdentityResource(mode="none").identify(context_with({}), "Mari Maasikas")
