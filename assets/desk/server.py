"""The review desk: a small HTTP server that opens a request's sealed review bundle for the DPO.

Why a server and not a file: the bundle holds personal data, so it is never written to disk in
plaintext; the desk decrypts it in memory for one response, marked not to be cached. Every opening
is an audit event (`review_opened`: who, signed in or not, which bundle). The desk opens a bundle
only through a valid review link (`dsar_pipeline.review.links`: signed, short-lived, naming the
bundle's SHA-256, refused once the bundle was rebuilt). In production it sits behind the same SSO
proxy as the Dagster UI and takes the DPO from `DSAR_DESK_IDENTITY_HEADER`; a request without that
header is refused. The embedded default binds to 127.0.0.1 only and has nobody signed in: the DPO
types their user id in the decision form, recorded as unauthenticated, as in the launchpad.

The decision form posts back here; the desk launches the decision job through Dagster
(`assets.desk.decide`) and sends the browser to the run.
"""

from __future__ import annotations

import argparse
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from assets.desk import page
from assets.desk.dagster_api import DagsterApi, DagsterUnavailable
from assets.desk.decide import DecisionKind, DecisionRefused, launch_decision
from assets.dpo import USER_ID, user_id
from dsar_pipeline.review.links import LinkRefused, ReviewLink, check_link, request_of_path

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "Cache-Control": "no-store", "Pragma": "no-cache", "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY"}
MAX_FORM = 16 * 1024


class Desk:
    """What the handler needs: the environment's work store, keys, audit trail and Dagster."""

    def __init__(self, environment: str, identity_header: str, dagster_url: str) -> None:
        from assets.environments import resource_now

        self.environment = environment
        self.identity_header = identity_header
        self.dagster_url = dagster_url.rstrip("/")
        parts = urlsplit(self.dagster_url)
        self.dagster_origin = f"{parts.scheme}://{parts.netloc}"
        work = resource_now("work", environment)
        self.store, self.keys = work.store(), work.key_provider()
        self.trail = resource_now("audit", environment).trail()

    def signed_in(self, headers: Any) -> str | None:
        """The proxy's user (production), None where nobody signs in (embedded)."""
        if self.environment != "production":
            return None
        value = user_id(headers.get(self.identity_header, "") if self.identity_header else "")
        if not USER_ID.fullmatch(value):
            raise LinkRefused("sign in through the SSO proxy first")
        return value

    def open_bundle(self, link: ReviewLink, user: str | None) -> bytes:
        from dsar_pipeline.review.bundle import open_review_bundle

        document = open_review_bundle(self.store, self.keys, link.request_id, expected_sha256=link.bundle_sha256)
        self.trail.append(link.request_id, "review_opened", {
            "opened_by": user or "unauthenticated", "authenticated": user is not None,
            "identity_source": "sso_proxy" if user else "none", "review_bundle_sha256": link.bundle_sha256})
        return document


def handler_for(desk: Desk) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "dsar-review-desk"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:
            sys.stderr.write(f"desk: {self.command} {urlsplit(self.path).path} {args[1] if len(args) > 1 else ''}\n")

        def answer(self, status: int, body: bytes, extra: dict[str, str] | None = None) -> None:
            self.send_response(status)
            # the decision form's 303 goes on to the Dagster run page: form-action must allow its origin
            csp = SECURITY_HEADERS["Content-Security-Policy"].replace(
                "form-action 'self'", f"form-action 'self' {desk.dagster_origin}")
            for name, value in {**SECURITY_HEADERS, "Content-Security-Policy": csp,
                                "Content-Type": "text/html; charset=utf-8", **(extra or {})}.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def refuse(self, status: int, line: str) -> None:
            self.answer(status, page.message("Not opened", line))

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            if parts.path == "/health":
                self.answer(200, b"ok", {"Content-Type": "text/plain"})
                return
            request_id = request_of_path(parts.path)
            if not parts.path.startswith("/review/") or not request_id:
                self.refuse(404, "no such page")
                return
            try:
                user = desk.signed_in(self.headers)
                link = check_link(request_id, parts.query)
                document = desk.open_bundle(link, user)
            except LinkRefused as exc:
                self.refuse(HTTPStatus.FORBIDDEN, str(exc))
                return
            except Exception as exc:  # a missing or rebuilt bundle, a store that does not answer
                self.refuse(HTTPStatus.CONFLICT, bundle_problem(exc))
                return
            decide = ReviewLink(link.request_id, link.bundle_sha256, link.expires).query("decide")
            self.answer(200, page.with_form(document, link, decide, user))

        def do_POST(self) -> None:
            parts = urlsplit(self.path)
            request_id = request_of_path(parts.path)
            length = int(self.headers.get("Content-Length") or 0)
            if not parts.path.startswith("/decide/") or not request_id or length > MAX_FORM:
                self.refuse(404 if length <= MAX_FORM else 413, "no such form")
                return
            form = {k: v[-1] for k, v in parse_qs(self.rfile.read(length).decode("utf-8", "replace")).items()}
            try:
                user = desk.signed_in(self.headers)
                link = check_link(request_id, "&".join(f"{k}={form.get(k, '')}" for k in ("sha", "exp", "sig")),
                                  purpose="decide")
                kind = DecisionKind(form.get("decision", ""))
                api = DagsterApi(desk.dagster_url, desk.identity_header, user or "")
                run_id = launch_decision(api, request_id, kind, dpo_user=user or form.get("dpo_user", "").strip(),
                                         bundle_sha256=link.bundle_sha256,
                                         include_unbound=form.get("include_unbound") == "1", via="desk")
            except (LinkRefused, DecisionRefused, DagsterUnavailable) as exc:
                self.refuse(HTTPStatus.FORBIDDEN if isinstance(exc, LinkRefused) else HTTPStatus.BAD_REQUEST,
                            str(exc))
                return
            except ValueError:
                self.refuse(HTTPStatus.BAD_REQUEST, "decision must be approve, approve_with_review_records or reject")
                return
            self.answer(303, page.message("Decision launched", f"run {run_id}"),
                        {"Location": f"{desk.dagster_url}/runs/{run_id}"})

    return Handler


def bundle_problem(exc: Exception) -> str:
    name = type(exc).__name__
    if name == "ReviewBundleChanged":
        return "the review bundle was rebuilt since this link was made: open the request again from the worklist"
    if name == "ReviewBundleMissing":
        return "this request has no review bundle (it needs no decision, or it was purged)"
    return f"the review bundle could not be opened ({name})"


def serve(host: str, port: int) -> int:
    import os

    from assets.environments import current_environment

    environment = current_environment()
    desk = Desk(environment, os.environ.get("DSAR_DESK_IDENTITY_HEADER", ""),
                os.environ.get("DSAR_DAGSTER_URL", "http://127.0.0.1:3000"))
    if environment == "production" and not desk.identity_header:
        print("dsar desk: error: production needs DSAR_DESK_IDENTITY_HEADER (the SSO proxy's user header)",
              file=sys.stderr)
        return 2
    server = ThreadingHTTPServer((host, port), handler_for(desk))
    print(f"desk: the review desk at http://{host}:{port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dsar desk")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3001)
    args = parser.parse_args(argv)
    return serve(args.host, args.port)


if __name__ == "__main__":
    sys.exit(main())
