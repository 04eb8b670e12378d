"""The sandbox's own control API: change faults at run time, drop tickets, list the named people.

It lives on its own port so that it still answers while a system is `down`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, jsonify, request

from sandbox.faults import Fault, FaultBoard, FaultSpecError, parse_spec


def create_control_app(board: FaultBoard, systems: dict[str, str], people: Callable[[], list[dict[str, Any]]],
                       drop_ticket: Callable[[bytes, str], str],
                       check_faults: Callable[[list[Fault]], None]) -> Flask:
    """`check_faults` raises FaultSpecError for faults this sandbox cannot simulate (SQLite billing)."""
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

    return app
