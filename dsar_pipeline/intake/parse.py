"""``parse_ticket``: raw bytes in, a validated :class:`Ticket` or one safe line of error out.

Why the error translation: pydantic's own messages are multi-line, may quote the input (for
example the tag of a failed union) and name attacker-chosen keys. Here only the first problem is
reported, as ``path: problem``, with unknown keys masked and a final check that the submitted
value does not appear in the message.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from .errors import TicketError, one_line
from .strict_json import format_path, load_ticket_json

if TYPE_CHECKING:
    from pydantic import ValidationError

    from .ticket import Ticket

_MESSAGES = {
    "missing": "is required",
    "extra_forbidden": "unknown field (not allowed here)",
    "string_type": "must be a string",
    "list_type": "must be an array",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "bool_type": "must be true or false",
    "datetime_type": "must be an RFC 3339 date-time string",
}


def _message_for(error: dict[str, Any]) -> tuple[str, str]:
    from .ticket import FieldProblem

    loc = tuple(error.get("loc", ()))
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    cause = ctx.get("error")
    if isinstance(cause, FieldProblem):
        return cause.path, cause.message
    path = format_path(loc)
    if kind in _MESSAGES:
        return path, _MESSAGES[kind]
    message = str(error.get("msg", "is not valid"))
    if kind in {"value_error", "assertion_error"}:
        message = message.split(", ", 1)[1] if ", " in message else message
    value = error.get("input")
    if isinstance(value, str | int | float) and len(str(value)) >= 3 and str(value) in message:
        message = f"is not valid ({kind})"
    return path, message


def validation_error_line(exc: ValidationError) -> str:
    """One line for the first problem pydantic reported, without the submitted value."""
    errors = exc.errors(include_url=False)
    if not errors:
        return "ticket is not valid"
    path, message = _message_for(errors[0])
    return one_line(f"{path}: {message}")


def parse_ticket(raw: bytes, *, now: datetime | None = None, request_id_key: bytes | None = None) -> Ticket:
    """Parse and validate a ticket.

    ``now`` (timezone-aware) is the clock used to refuse tickets from the future; tests pass it.
    ``request_id_key`` overrides ``DSAR_REQUEST_ID_KEY`` for the opaque request id.
    Raises :class:`TicketError` whose ``str()`` is one line that never contains personal values.
    """
    document = load_ticket_json(raw)  # cheap checks first: no pydantic import for broken JSON
    from pydantic import ValidationError

    from .ticket import FieldProblem, Ticket

    context = {"now": now} if now is not None else None
    try:
        ticket = Ticket.model_validate(document, context=context)
    except ValidationError as exc:
        raise TicketError(validation_error_line(exc)) from None
    except FieldProblem as exc:  # raised outside pydantic's wrapping (defensive)
        raise TicketError(exc.message, field=exc.path) from None
    if request_id_key is not None:
        ticket.bind_request_id_key(request_id_key)
    return ticket


__all__ = ["parse_ticket", "validation_error_line"]
