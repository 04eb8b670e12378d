"""The hub's envelope: problem bodies, document headers, and the error body for injected faults.

Every answer of the data hub is a "document": it carries its own `x-document-date-time` and
`x-document-identification`, and echoes the request's identification as
`x-original-document-identification`. Errors are `{"problem": {"code", "message"}}` as in the
published OpenAPI files, whatever the cause (validation, auth, limits, injected faults).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from flask import Response, request

DOCUMENT_TIME = "x-document-date-time"
DOCUMENT_ID = "x-document-identification"
ORIGINAL_DOCUMENT_ID = "x-original-document-identification"


class Problem(Exception):
    """An answer other than 2xx, raised anywhere in a handler and rendered by the app."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


def problem_body(code: str, message: str) -> bytes:
    return json.dumps({"problem": {"code": code, "message": message}}).encode()


def json_response(payload: object, status: int = 200) -> Response:
    return Response(json.dumps(payload, separators=(",", ":")), status=status, mimetype="application/json")


def json_text_response(text: str, status: int = 200) -> Response:
    """An answer whose compact JSON text (as `json_response` writes it) was composed elsewhere."""
    return Response(text, status=status, mimetype="application/json")


def problem_response(problem: Problem) -> Response:
    response = Response(problem_body(problem.code, problem.message), status=problem.status,
                        mimetype="application/json")
    for name, value in problem.headers.items():
        response.headers[name] = value
    return response


def format_instant(instant: datetime) -> str:
    """UTC instant as the hub writes it: `2025-04-01T21:00:00Z`."""
    return instant.astimezone(UTC).isoformat(timespec="seconds")[:19] + "Z"  # isoformat: 10x faster than strftime


def request_document_id() -> str | None:
    """The request's `x-document-identification` if it is a UUID (so it may be echoed)."""
    raw = request.headers.get(DOCUMENT_ID, "")
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return None


def check_document_headers() -> None:
    """Both document headers are mandatory on every API call (400 otherwise)."""
    raw_time = request.headers.get(DOCUMENT_TIME)
    if not raw_time:
        raise Problem(400, "MISSING_HEADER", f"header {DOCUMENT_TIME} is required")
    try:
        stamp = datetime.fromisoformat(raw_time)
    except ValueError:
        raise Problem(400, "INVALID_HEADER", f"header {DOCUMENT_TIME} is not an ISO 8601 date-time") from None
    if stamp.tzinfo is None:
        raise Problem(400, "INVALID_HEADER", f"header {DOCUMENT_TIME} needs a zone offset (e.g. Z or +02:00)")
    if not request.headers.get(DOCUMENT_ID):
        raise Problem(400, "MISSING_HEADER", f"header {DOCUMENT_ID} is required")
    if request_document_id() is None:
        raise Problem(400, "INVALID_HEADER", f"header {DOCUMENT_ID} is not a UUID")


def add_document_headers(response: Response) -> Response:
    """Stamp an API answer as a document of its own, echoing the request's document id."""
    response.headers[DOCUMENT_TIME] = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    response.headers[DOCUMENT_ID] = str(uuid.uuid4())
    original = request_document_id()
    if original is not None:
        response.headers[ORIGINAL_DOCUMENT_ID] = original
    response.headers["status"] = str(response.status_code)
    return response


def fault_error_body(status: str, message: str) -> tuple[bytes, str]:
    """Error body for `sandbox.faults.FaultInjector(error_body=...)`: injected errors in the hub's format."""
    code = status.split(" ", 1)[1].upper().replace(" ", "_") if " " in status else "ERROR"
    return problem_body(code, message), "application/json"
