"""The request job: every per-request asset, one partition (or a batch of them) per run."""

import dagster as dg

from assets.partitions import requests_partitions

dsar_request_job = dg.define_asset_job(
    "dsar_request_job", selection=dg.AssetSelection.groups("intake", "identity", "collection", "review", "package",
                                                          "delivery"),
    partitions_def=requests_partitions, description="Answer one access or portability request end to end.")

jobs_defs = dg.Definitions(jobs=[dsar_request_job])
