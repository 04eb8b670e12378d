"""One dynamic partition per request, keyed by the opaque request id (never a personal value)."""

import dagster as dg

requests_partitions = dg.DynamicPartitionsDefinition(name="dsar_requests")

# Many requests at once (a campaign, a backlog) run as one run over their partitions, so that
# Dagster's per-run start-up is paid once; each request still gets its own stored outputs.
single_run = dg.BackfillPolicy.single_run()
