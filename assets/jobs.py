"""The request job: every per-request asset, one partition (or a batch of them) per run."""

import dagster as dg

# The sensor's runs build the DPO's decisions too, as "pending" and "nothing in review": the UI then
# launches the whole job without warning of unmaterialised upstream assets, and the export and
# delivery read the last decision given (`io_manager.load_stored`).
dsar_request_job = dg.define_asset_job(
    "dsar_request_job",
    selection=dg.AssetSelection.groups("intake", "identity", "collection", "review", "package", "delivery"),
    description="Answer one access or portability request end to end (partitioned by request, as its assets).")

jobs_defs = dg.Definitions(jobs=[dsar_request_job])
