"""The request job: every per-request asset, one partition (or a batch of them) per run."""

import dagster as dg

from assets.partitions import requests_partitions

PER_REQUEST = dg.AssetSelection.groups("intake", "identity", "collection", "review", "package", "delivery")
DPO_DECISIONS = dg.AssetSelection.assets("release_scope", "release_approval")
"""Taken by the DPO, never by the sensor's runs (which would only ever record "pending"): the export
and delivery read the last decision given, if any."""

dsar_request_job = dg.define_asset_job(
    "dsar_request_job", selection=PER_REQUEST - DPO_DECISIONS, partitions_def=requests_partitions,
    description="Answer one access or portability request end to end (what the inbox sensor launches).")

dsar_decision_job = dg.define_asset_job(
    "dsar_decision_job", selection=PER_REQUEST, partitions_def=requests_partitions,
    description="The DPO's decisions on one request and what they rebuild: select release_scope and/or "
                "release_approval with their downstream assets.")

jobs_defs = dg.Definitions(jobs=[dsar_request_job, dsar_decision_job])
