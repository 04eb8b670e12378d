"""Just enough of the PostgreSQL frontend/backend protocol (v3) for a fault-injecting proxy.

The proxy must know where one client request ends (to fail or delay it as a whole) and where one
server answer ends (to cut it short), and it must speak a few answers itself: "no TLS" to an
SSLRequest and an ErrorResponse when it refuses or kills a connection. Nothing here looks inside
queries or rows, and nothing here logs.

Framing: the first client packet(s) are untyped (`int32 length` + `int32 code` + body); after the
StartupMessage every message in both directions is typed (`byte type` + `int32 length` + body, the
length counting itself but not the type byte).
"""

from __future__ import annotations

import struct

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104
CANCEL_REQUEST = 80877102
PROTOCOL_3 = 3  # major version in the high 16 bits of a StartupMessage's code

NO_ENCRYPTION = b"N"  # answer to SSLRequest / GSSENCRequest: carry on in plain text
READY_FOR_QUERY = ord("Z")

# Client messages after which the client waits for the server: the end of one request.
QUERY_ENDS = frozenset(b"QSF")  # simple Query, Sync (end of an extended-protocol query), FunctionCall
OTHER_ENDS = frozenset(b"HXpcf")  # Flush, Terminate, password/SASL answer, CopyDone, CopyFail
TERMINATE = ord("X")

# SQLSTATEs the proxy answers with.
ADMIN_SHUTDOWN = "57P01"  # a backend killed under a query: what a server restart or failover looks like
TOO_MANY_CONNECTIONS = "53300"  # max_connections reached: the server's own refusal of a new session
CONNECTION_FAILURE = "08006"


def error_response(sqlstate: str, message: str, severity: str = "FATAL") -> bytes:
    """A backend ErrorResponse ('E') as a server sends it: severity, SQLSTATE and a message."""
    fields = b"".join(key + value.encode() + b"\0" for key, value in (
        (b"S", severity), (b"V", severity), (b"C", sqlstate), (b"M", message)))
    body = fields + b"\0"
    return b"E" + struct.pack("!I", len(body) + 4) + body


def take_packet(buffer: bytearray) -> bytes | None:
    """Remove and return one complete untyped startup-phase packet from the buffer, if there is one."""
    if len(buffer) < 8:
        return None
    (length,) = struct.unpack_from("!I", buffer)
    if len(buffer) < length:
        return None
    packet = bytes(buffer[:length])
    del buffer[:length]
    return packet


def packet_code(packet: bytes) -> int:
    """The request code of a startup-phase packet (protocol version, or SSL/GSS/cancel request code)."""
    return int(struct.unpack_from("!I", packet, 4)[0])


def is_startup(code: int) -> bool:
    return code >> 16 == PROTOCOL_3


def take_message(buffer: bytearray, start: int = 0) -> int | None:
    """End offset of the complete typed message starting at `start`, or None while it is incomplete."""
    if len(buffer) < start + 5:
        return None
    (length,) = struct.unpack_from("!I", buffer, start + 1)
    end = start + 1 + length
    return end if len(buffer) >= end else None


def ends_with_ready(buffer: bytearray) -> bool:
    """True when the buffer, read from a message boundary, holds a complete ReadyForQuery message."""
    offset = 0
    while (end := take_message(buffer, offset)) is not None:
        if buffer[offset] == READY_FOR_QUERY:
            return True
        offset = end
    return False
