"""Launching a decision job and following its run through the Dagster webserver's GraphQL API.

The desk and `dsar decide` do not run decisions themselves: they ask the deployment's Dagster to
run the decision job, so the decision runs where every run runs (same resources, run queue, logs),
and in production passes the webserver's identity middleware like a launch from the UI. Parameters
always travel as GraphQL variables (the middleware refuses anything else).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx

LOCATION = "dsar_pipeline"
REPOSITORY = "__repository__"
ENDED = {"SUCCESS", "FAILURE", "CANCELED"}

LAUNCH = """mutation LaunchDecision($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
    ... on PipelineNotFoundError { message }
    ... on UnauthorizedError { message }
  }
}"""

RUN = """query DecisionRun($runId: ID!) {
  runOrError(runId: $runId) { __typename ... on Run { status tags { key value } } }
}"""

FINDINGS = """query ReviewFindings($assetKey: AssetKeyInput!, $partitions: [String!]) {
  assetOrError(assetKey: $assetKey) {
    __typename
    ... on Asset { assetMaterializations(partitions: $partitions, limit: 1) {
      metadataEntries { label ... on TextMetadataEntry { text } } } }
  }
}"""


class DagsterUnavailable(RuntimeError):
    """Dagster did not take the request; the message is one line and names no personal value."""


@dataclass(frozen=True)
class RunOutcome:
    run_id: str
    status: str
    tags: dict[str, str]


class DagsterApi:
    def __init__(self, base_url: str, identity_header: str = "", user: str = "", timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {identity_header: user} if identity_header and user else {}
        self.timeout_s = timeout_s

    def _call(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        try:
            response = httpx.post(f"{self.base_url}/graphql", json={"query": query, "variables": variables},
                                  headers=self.headers, timeout=self.timeout_s)
        except httpx.HTTPError as exc:
            raise DagsterUnavailable(f"Dagster at {self.base_url} does not answer ({type(exc).__name__}): "
                                     "is `make ui` running?") from None
        if response.status_code != 200:
            raise DagsterUnavailable(f"Dagster refused the request (HTTP {response.status_code}: "
                                     f"{response.text[:200].strip()})")
        body = response.json()
        if body.get("errors"):
            raise DagsterUnavailable(f"Dagster refused the request: {body['errors'][0].get('message', '')[:200]}")
        return body["data"]

    def launch(self, job: str, request_id: str, run_config: dict[str, Any], tags: dict[str, str]) -> str:
        """Launch `job` for the one partition `request_id`; returns the run id."""
        params = {"selector": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "jobName": job},
                  "runConfigData": run_config,
                  "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in
                                                 {**tags, "dagster/partition": request_id}.items()]}}
        result = self._call(LAUNCH, {"executionParams": params})["launchRun"]
        if result["__typename"] == "LaunchRunSuccess":
            return str(result["run"]["runId"])
        detail = result.get("message") or "; ".join(e["message"] for e in result.get("errors") or [])
        raise DagsterUnavailable(f"Dagster did not launch {job}: {result['__typename']} {detail[:300]}".strip())

    def run(self, run_id: str) -> RunOutcome:
        found = self._call(RUN, {"runId": run_id})["runOrError"]
        if found["__typename"] != "Run":
            raise DagsterUnavailable(f"run {run_id} not found")
        return RunOutcome(run_id, found["status"], {t["key"]: t["value"] for t in found["tags"]})

    def wait(self, run_id: str, timeout_s: float, interval_s: float = 1.0) -> RunOutcome:
        deadline = time.monotonic() + timeout_s
        while True:
            outcome = self.run(run_id)
            if outcome.status in ENDED or time.monotonic() > deadline:
                return outcome
            time.sleep(interval_s)

    def review_bundle_sha256(self, request_id: str) -> str:
        """The SHA-256 of the request's review bundle, as its last `review_findings` recorded it ('' if none)."""
        found = self._call(FINDINGS, {"assetKey": {"path": ["review_findings"]}, "partitions": [request_id]})
        asset = found["assetOrError"]
        if asset["__typename"] != "Asset" or not asset["assetMaterializations"]:
            return ""
        entries = asset["assetMaterializations"][0]["metadataEntries"]
        return next((e.get("text", "") for e in entries if e["label"] == "review_bundle_sha256"), "")
