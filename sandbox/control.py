"""The sandbox's own control API: change faults at run time, drop tickets, list the named people.

It lives on its own port so that it still answers while a system is `down`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, jsonify, request

from sandbox.faults import Fault, FaultBoard, FaultSpecError, parse_spec

MAX_SIGN_BYTES = 16 * 1024 * 1024  # a larger data file would make a container the pipeline refuses
SIGNATURE_LEVELS = ("B", "LT")
CERTIFICATE_USAGES = ("signing", "encryption")

# sign(person_name, file_name, data, level, signing_time) -> ASiC-E container
SignFunction = Callable[[str, str, bytes, str, datetime | None], bytes]


def parse_signing_time(text: str) -> datetime:
    """An RFC 3339 date-time with an offset (``2026-03-02T09:15:00Z``); ValueError otherwise.

    Why an offset is required: a naive time would be read in the sandbox host's zone, and the
    pipeline compares signing times with its own UTC clock.
    """
    if len(text) > 40:
        raise ValueError("too long")
    moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError("no offset")
    return moment.astimezone(UTC)


def create_control_app(board: FaultBoard, systems: dict[str, str], people: Callable[[], list[dict[str, Any]]],
                       drop_ticket: Callable[[bytes, str], str],
                       check_faults: Callable[[list[Fault]], None], *,
                       sign: SignFunction | None = None,
                       revoke: Callable[[str], datetime] | None = None,
                       certificate: Callable[[str, str], bytes] | None = None) -> Flask:
    """`check_faults` raises FaultSpecError for faults this sandbox cannot simulate (SQLite billing).

    `sign(person_name, file_name, data, level, signing_time)` returns an ASiC-E container signed with
    the simulated eID of a named person (KeyError for an unknown name, ValueError for a document it
    cannot sign), so a demo can file a signed request without holding a key itself; `level` is "LT"
    (time-stamp and OCSP embedded, as DigiDoc signs) or "B", `signing_time` None means now.
    `revoke(person_name)` revokes that person's signing certificate (a stolen card) and returns when;
    containers signed afterwards embed an OCSP response saying so.
    `certificate(person_name, usage)` returns the DER of that person's "signing" or "encryption"
    (ID-card authentication/CDOC) certificate (KeyError for an unknown name), so a demo can put the
    card's certificate into a request as the web form would read it from the card.
    """
    app = Flask("sandbox-control")

    @app.get("/health")
    def health() -> Any:
        return jsonify(status="ok", systems=systems, faults=board.describe())

    @app.get("/faults")
    def get_faults() -> Any:
        return jsonify(faults=board.describe())

    @app.put("/faults")
    def put_faults() -> Any:
        body = request.get_json(silent=True) or {}
        spec = body.get("spec", "") if isinstance(body, dict) else ""
        if not isinstance(spec, str):
            return jsonify(error="'spec' must be a string"), 400
        try:
            faults = parse_spec(spec)
            check_faults(faults)
        except FaultSpecError as exc:
            return jsonify(error=str(exc)), 400
        board.replace(faults)
        return jsonify(faults=board.describe())

    @app.delete("/faults")
    def clear_faults() -> Any:
        board.replace([])
        return jsonify(faults=[])

    @app.get("/people")
    def list_people() -> Any:
        return jsonify(people=people())

    @app.post("/tickets")
    def post_ticket() -> Any:
        name = request.args.get("name", "")
        if not name or not all(ch.isalnum() or ch in "-_" for ch in name) or len(name) > 100:
            return jsonify(error="query parameter 'name' must be 1-100 letters, digits, '-' or '_'"), 400
        return jsonify(key=drop_ticket(request.get_data(), name)), 201

    @app.post("/eid/sign")
    def eid_sign() -> Any:
        if sign is None:
            return jsonify(error="this sandbox does not simulate eID signing"), 404
        person, file_name = request.args.get("person", ""), request.args.get("file_name", "")
        if not person or not file_name:
            return jsonify(error="query parameters 'person' (a named case) and 'file_name' are required"), 400
        if (request.content_length or 0) > MAX_SIGN_BYTES:
            return jsonify(error=f"the document may be at most {MAX_SIGN_BYTES} bytes"), 413
        level = request.args.get("level", "LT")
        if level not in SIGNATURE_LEVELS:
            return jsonify(error="query parameter 'level' must be 'B' or 'LT'"), 400
        signing_time = None
        if "signing_time" in request.args:
            try:
                signing_time = parse_signing_time(request.args["signing_time"])
            except ValueError:
                return jsonify(error="query parameter 'signing_time' must be an RFC 3339 date-time with an offset"), 400
        data = request.get_data()
        if not data:
            return jsonify(error="the request body (the document to sign) is empty"), 400
        try:
            container = sign(person, file_name, data, level, signing_time)
        except KeyError as exc:
            return jsonify(error=str(exc.args[0]) if exc.args else "unknown person"), 404
        except ValueError as exc:
            return jsonify(error=str(exc)), 400
        return Response(container, mimetype="application/vnd.etsi.asic-e+zip")

    @app.post("/eid/revoke")
    def eid_revoke() -> Any:
        if revoke is None:
            return jsonify(error="this sandbox does not simulate eID revocation"), 404
        person = request.args.get("person", "")
        if not person:
            return jsonify(error="query parameter 'person' (a named case) is required"), 400
        try:
            revoked_at = revoke(person)
        except KeyError as exc:
            return jsonify(error=str(exc.args[0]) if exc.args else "unknown person"), 404
        return jsonify(person=person, revoked_at=revoked_at.astimezone(UTC).isoformat().replace("+00:00", "Z"))

    @app.get("/eid/certificate")
    def eid_certificate() -> Any:
        if certificate is None:
            return jsonify(error="this sandbox does not simulate eID certificates"), 404
        person, usage = request.args.get("person", ""), request.args.get("usage", "")
        if not person:
            return jsonify(error="query parameter 'person' (a named case) is required"), 400
        if usage not in CERTIFICATE_USAGES:
            return jsonify(error="query parameter 'usage' must be 'signing' or 'encryption'"), 400
        try:
            der = certificate(person, usage)
        except KeyError as exc:
            return jsonify(error=str(exc.args[0]) if exc.args else "unknown person"), 404
        except ValueError as exc:
            return jsonify(error=str(exc)), 400
        return Response(der, mimetype="application/pkix-cert")

    return app
