"""`dsar decide` and `dsar desk`: the DPO's decision from the command line, and the review desk.

Registered through the product's own `dsar.commands` entry point (pyproject.toml), so the domain's
CLI does not import the Dagster layer.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from typing import Any

from dsar_pipeline.intake.errors import one_line

WAIT_SECONDS = 600.0


def register(groups: Mapping[str, Any]) -> None:
    sub = groups[""]
    decide = sub.add_parser(
        "decide", help="approve or reject one request's package (as the DPO)",
        description="Launch the DPO's decision on one request through the running Dagster (the same decision "
                    "jobs the review desk and the launchpad use), wait for it and say how the request ended. "
                    "The decision is bound to the request's current review bundle.")
    decide.add_argument("request_id", metavar="REQUEST_ID", help="the opaque request id (r-...)")
    decide.add_argument("decision", choices=("approve", "reject"))
    decide.add_argument("--with-review-records", action="store_true",
                        help="approve with the records in review put into the package (it is rebuilt)")
    decide.add_argument("--include-unbound", action="store_true",
                        help="with --with-review-records: also records reached only through a claimed identifier")
    decide.add_argument("--by", required=True, metavar="USER", help="your staff user id (recorded as the decider)")
    decide.add_argument("--bundle-sha256", metavar="SHA256", default="",
                        help="the review bundle you decided on (default: the request's current one)")
    decide.add_argument("--dagster-url", default=os.environ.get("DSAR_DAGSTER_URL", "http://127.0.0.1:3000"),
                        help="the Dagster webserver (default $DSAR_DAGSTER_URL or http://127.0.0.1:3000)")
    decide.add_argument("--no-wait", action="store_true", help="return once the run is launched")
    decide.add_argument("--json", action="store_true", help="end with one JSON object on the last line")
    decide.set_defaults(func=cmd_decide)
    desk = sub.add_parser("desk", help="serve the DPO's review desk (review bundles and the decision form)",
                          description="Serve the review desk: it opens sealed review bundles through review links "
                                      "and launches the DPO's decisions. `dsar ui` starts it for you.")
    desk.add_argument("--host", default="127.0.0.1")
    desk.add_argument("--port", type=int, default=3001)
    desk.set_defaults(func=lambda args: _serve(args.host, args.port))


def _serve(host: str, port: int) -> int:
    from assets.desk.server import serve

    return serve(host, port)


def fail(message: str) -> int:
    print(one_line(f"dsar decide: error: {message}"), file=sys.stderr)
    return 2


def cmd_decide(args: argparse.Namespace) -> int:
    from assets.desk.dagster_api import DagsterApi, DagsterUnavailable
    from assets.desk.decide import DecisionKind, DecisionRefused, launch_decision
    from assets.dpo import USER_ID
    from dsar_pipeline.intake.request_ids import is_request_id

    if not is_request_id(args.request_id):
        return fail("REQUEST_ID must be an opaque request id (r- followed by 26 characters)")
    if not USER_ID.fullmatch(args.by.strip()):
        return fail("--by must be your staff user id (lower-case letters, digits, '.', '_', '-')")
    if args.bundle_sha256 and len(args.bundle_sha256.strip()) != 64:
        return fail("--bundle-sha256 must be 64 hex characters")
    if args.decision == "reject" and (args.with_review_records or args.include_unbound):
        return fail("--with-review-records and --include-unbound go with approve only")
    if args.include_unbound and not args.with_review_records:
        return fail("--include-unbound goes with --with-review-records")
    kind = DecisionKind.REJECT if args.decision == "reject" else (
        DecisionKind.APPROVE_WITH_REVIEW_RECORDS if args.with_review_records else DecisionKind.APPROVE)
    api = DagsterApi(args.dagster_url)
    try:
        bundle = args.bundle_sha256.strip().lower() or api.review_bundle_sha256(args.request_id)
        run_id = launch_decision(api, args.request_id, kind, dpo_user=args.by, bundle_sha256=bundle,
                                 include_unbound=args.include_unbound, via="cli")
        outcome = api.run(run_id) if args.no_wait else api.wait(run_id, WAIT_SECONDS)
    except (DagsterUnavailable, DecisionRefused) as exc:
        return fail(str(exc))
    state = outcome.tags.get("dsar/state", "")
    summary = {"request_id": args.request_id, "decision": kind.value, "run_id": run_id, "run_status": outcome.status,
               "state": state, "run_url": f"{args.dagster_url.rstrip('/')}/runs/{run_id}"}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"decide: {kind.value} for {args.request_id}: run {run_id} {outcome.status.lower()}"
              + (f", request {state}" if state else ""))
        print(f"decide: {summary['run_url']}")
    if outcome.status in ("FAILURE", "CANCELED"):
        return 1
    return 0
