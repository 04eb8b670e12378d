"""A TCP proxy in front of the billing PostgreSQL that injects the shared board's `billing` faults.

Billing has no HTTP, so its faults happen where a database's faults happen: on the wire. The URL the
sandbox hands to the pipeline points at this proxy; it forwards the PostgreSQL protocol byte for
byte and, following the live `FaultBoard`, misbehaves the way a sick database server or network
does. What a client (libpq/psycopg, SQLAlchemy) sees, per fault kind:

* ``latency:S`` — every client request (the connection's startup packet, each authentication
  answer, each query) is held ``S`` seconds before it reaches the server. A fault change ends the
  wait early.
* ``error:P`` — with probability ``P`` per query, the query never reaches the server: the client
  gets ``FATAL 57P01 terminating connection due to administrator command`` (what a server restart or
  failover looks like; psycopg raises ``psycopg.errors.AdminShutdown``, an ``OperationalError``;
  SQLAlchemy reports a disconnect and invalidates the pooled connection) and the connection closes.
  Connecting itself is not affected. Retry on a new connection.
* ``ratelimit:N`` — connection attempts come in cycles: ``N`` refused, then 10 admitted, and so on.
  A refused attempt is answered like a server at ``max_connections``: ``FATAL 53300 sorry, too many
  clients already`` (``psycopg.OperationalError``; SQLSTATE 53300), then closed. Connections already
  open are not affected, so a client that keeps its pooled connection never sees it; back off and
  reconnect.
* ``timeout:S`` — the server stops answering: new connections are accepted but the startup is not
  forwarded (libpq ``connect_timeout`` fires), and queries on open connections are not forwarded
  (nothing server-side such as ``statement_timeout`` can fire: the query never arrives). A query or
  startup is held until the faults change — then it goes through — or for at most ``S`` seconds,
  after which the connection is closed without an answer. Only a client-side deadline helps.
* ``truncate:P`` — with probability ``P`` per query, the server's answer is cut: only the first half
  of it (of its first 64 KiB when longer) reaches the client, then the connection closes
  (``OperationalError``: server closed the connection unexpectedly / lost synchronization).
* ``down`` — connection refused: the listening socket is closed and connections already open are
  closed; when the fault clears the proxy listens again on the same port.

"A query" is one client request: a simple-protocol Query, or an extended-protocol batch up to its
Sync (psycopg sends one per ``execute``). Cancel requests are forwarded untouched. The proxy speaks
plain TCP only: it answers an SSLRequest with "no", so use ``sslmode=disable`` or the default
``prefer`` (``require`` fails). It never logs or inspects the SQL or the rows it forwards.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import select
import selectors
import socket
import threading
import time

from sandbox.billing import pgwire
from sandbox.faults import FaultBoard, in_ratelimit_burst
from sandbox.hosting import PortInUseError, free_port

log = logging.getLogger(__name__)

SYSTEM = "billing"
CHUNK = 64 * 1024
MAX_BATCH = 1024 * 1024  # forward a long run of messages (COPY data) without waiting for its end
TRUNCATE_WINDOW = 64 * 1024
UPSTREAM_CONNECT_TIMEOUT = 5.0
APPLY_TIMEOUT = 5.0


def _wake_pair() -> tuple[socket.socket, socket.socket]:
    """A socket pair to wake a thread blocked in select(); the writing end never blocks."""
    reader, writer = socket.socketpair()
    writer.setblocking(False)
    return reader, writer


class Hold(enum.Enum):
    RELEASED = "the faults changed"
    ELAPSED = "the time ran out"
    GONE = "the client went away"


class BillingProxy:
    """The billing database's listening endpoint: forwards to PostgreSQL and obeys the fault board."""

    def __init__(self, upstream_host: str, upstream_port: int, board: FaultBoard, listen_port: int = 0,
                 listen_host: str = "127.0.0.1") -> None:
        self.upstream = (upstream_host, upstream_port)
        self.board = board
        self.host = listen_host
        self.port = listen_port or free_port(listen_host)
        self._state = threading.Condition()
        self._running = False
        self._want_listen = False
        self._requested = 0
        self._applied = 0
        self._bind_error: OSError | None = None
        self._generation = 0
        self._links: set[_Link] = set()
        self._thread: threading.Thread | None = None
        self._wake_r, self._wake_w = _wake_pair()
        board.on_change(self._follow_board)

    @property
    def generation(self) -> int:
        """Bumped on every fault change; a held request is released when it moves."""
        return self._generation

    @property
    def listening(self) -> bool:
        with self._state:
            return self._running and self._want_listen and self._bind_error is None

    def start(self) -> None:
        """Start serving (listening only if billing is not `down`); raises PortInUseError if the port is taken."""
        with self._state:
            if self._running:
                return
            self._running = True
            self._want_listen = not self.board.is_down(SYSTEM)
            self._thread = threading.Thread(target=self._serve, name="sandbox-billing-proxy", daemon=True)
            self._thread.start()
        self._apply()
        with self._state:
            error = self._bind_error
        if error is not None:
            self.stop()
            raise PortInUseError(f"billing: port {self.port} on {self.host} is not available ({error.strerror})")

    def stop(self) -> None:
        """Close the listening socket and every open connection; later fault changes are ignored."""
        with self._state:
            if not self._running:
                return
            self._running = False
            self._want_listen = False
            links = list(self._links)
        for link in links:
            link.close()
        self._apply()
        if self._thread is not None:
            self._thread.join(APPLY_TIMEOUT)

    # -- following the board ----------------------------------------------------------------------

    def _follow_board(self) -> None:
        down = self.board.is_down(SYSTEM)
        with self._state:
            if not self._running:
                return
            self._generation += 1
            self._want_listen = not down
            links = list(self._links)
        for link in links:
            if down:
                link.close()
            else:
                link.wake()
        self._apply()

    def _apply(self) -> None:
        """Have the serving thread (which owns the listening socket) catch up with the wanted state."""
        with self._state:
            self._requested += 1
            target = self._requested
            with contextlib.suppress(BlockingIOError):  # already full of wake-ups
                self._wake_w.send(b"!")
            if self._thread is not None and self._thread.is_alive():
                self._state.wait_for(lambda: self._applied >= target, APPLY_TIMEOUT)

    # -- serving ------------------------------------------------------------------------------------

    def _serve(self) -> None:
        selector = selectors.DefaultSelector()
        selector.register(self._wake_r, selectors.EVENT_READ)
        listener: socket.socket | None = None
        try:
            while True:
                with self._state:
                    running, want, requested = self._running, self._want_listen, self._requested
                if listener is not None and not (running and want):
                    selector.unregister(listener)
                    listener.close()
                    listener = None
                error = None
                if listener is None and running and want:
                    try:
                        listener = self._bind()
                        selector.register(listener, selectors.EVENT_READ)
                    except OSError as exc:
                        error = exc
                        log.warning("billing proxy cannot listen on port %d: %s", self.port, exc.strerror)
                with self._state:
                    self._bind_error = error
                    self._applied = requested
                    self._state.notify_all()
                if not running:
                    return
                for key, _ in selector.select():
                    if key.fileobj is self._wake_r:
                        self._wake_r.recv(CHUNK)
                    elif listener is not None:
                        self._accept(listener)
        finally:
            if listener is not None:
                listener.close()
            selector.close()

    def _bind(self) -> socket.socket:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((self.host, self.port))
            listener.listen(64)
        except OSError:
            listener.close()
            raise
        return listener

    def _accept(self, listener: socket.socket) -> None:
        try:
            client, _ = listener.accept()
        except OSError:
            return
        client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        link = _Link(self, client)
        with self._state:
            self._links.add(link)
        threading.Thread(target=link.run, name="sandbox-billing-link", daemon=True).start()

    def forget(self, link: _Link) -> None:
        with self._state:
            self._links.discard(link)


class _Link:
    """One client connection and its upstream twin; this thread reads the client, a helper the server."""

    def __init__(self, proxy: BillingProxy, client: socket.socket) -> None:
        self.proxy = proxy
        self.board = proxy.board
        self.client = client
        self.upstream: socket.socket | None = None
        self.buffer = bytearray()
        self.truncate_next = False
        self._lock = threading.Lock()
        self._closed = False
        self._wake_r, self._wake_w = _wake_pair()
        self._pump: threading.Thread | None = None

    def run(self) -> None:
        try:
            self._serve()
        except OSError:
            pass  # a reset or a socket closed under us: the connection is over either way
        finally:
            self.close()
            if self._pump is not None:
                self._pump.join()
            for sock in (self.client, self.upstream, self._wake_r, self._wake_w):
                if sock is not None:
                    sock.close()
            self.proxy.forget(self)

    def close(self) -> None:
        """Shut both directions; the threads notice and finish (they close the sockets themselves)."""
        with self._lock:
            self._closed = True
            socks = [s for s in (self.client, self.upstream) if s is not None]
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def wake(self) -> None:
        with contextlib.suppress(OSError):  # closed, or full of earlier wake-ups: either way it is awake
            self._wake_w.send(b"!")

    # -- client to server ---------------------------------------------------------------------------

    def _serve(self) -> None:
        packet = self._startup_packet()
        if packet is None:
            return
        if pgwire.packet_code(packet) == pgwire.CANCEL_REQUEST:
            if self._connect():
                assert self.upstream is not None
                self.upstream.sendall(packet)
            return
        if not self._admit() or not self._connect():
            return
        assert self.upstream is not None
        self._pump = threading.Thread(target=self._pump_server, name="sandbox-billing-pump", daemon=True)
        self._pump.start()
        self.upstream.sendall(packet)
        while (batch := self._next_batch()) is not None:
            if not self._forward(*batch):
                return

    def _recv(self) -> bool:
        data = self.client.recv(CHUNK)
        self.buffer.extend(data)
        return bool(data)

    def _startup_packet(self) -> bytes | None:
        """The StartupMessage (or CancelRequest), after declining TLS and GSS encryption."""
        while True:
            while (packet := pgwire.take_packet(self.buffer)) is None:
                if not self._recv():
                    return None
            if pgwire.packet_code(packet) in (pgwire.SSL_REQUEST, pgwire.GSSENC_REQUEST):
                self.client.sendall(pgwire.NO_ENCRYPTION)
                continue
            return packet

    def _admit(self) -> bool:
        """Connection-level faults: latency and timeout hold the startup, ratelimit refuses it."""
        faults = self.board.of(SYSTEM)
        if "latency" in faults and self._hold(float(faults["latency"] or 0)) is Hold.GONE:
            return False
        if "timeout" in faults and self._hold(float(faults["timeout"] or 0)) is not Hold.RELEASED:
            return False
        attempt = self.board.count_call(SYSTEM)
        if "ratelimit" in faults and in_ratelimit_burst(attempt, int(faults["ratelimit"] or 0)):
            self.client.sendall(pgwire.error_response(pgwire.TOO_MANY_CONNECTIONS, "sorry, too many clients already"))
            return False
        return True

    def _connect(self) -> bool:
        try:
            upstream = socket.create_connection(self.proxy.upstream, timeout=UPSTREAM_CONNECT_TIMEOUT)
        except OSError as exc:
            log.warning("billing proxy cannot reach the database: %s", exc.strerror or type(exc).__name__)
            self.client.sendall(pgwire.error_response(pgwire.CONNECTION_FAILURE, "billing database unreachable"))
            return False
        upstream.settimeout(None)
        upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._lock:
            self.upstream = upstream
            closed = self._closed
        if closed:
            upstream.shutdown(socket.SHUT_RDWR)
        return not closed

    def _next_batch(self) -> tuple[bytes, int | None] | None:
        """The next client request: messages up to one the client then waits on (type returned), or None at EOF."""
        offset = 0
        while True:
            while (end := pgwire.take_message(self.buffer, offset)) is not None:
                kind = self.buffer[offset]
                offset = end
                if kind in pgwire.QUERY_ENDS or kind in pgwire.OTHER_ENDS or offset >= MAX_BATCH:
                    batch = bytes(self.buffer[:offset])
                    del self.buffer[:offset]
                    return batch, kind
            if not self._recv():
                return None

    def _forward(self, batch: bytes, kind: int | None) -> bool:
        """Send one request upstream through the faults; False when the connection is to end."""
        faults = self.board.of(SYSTEM)
        if faults and kind != pgwire.TERMINATE:
            if "latency" in faults and self._hold(float(faults["latency"] or 0)) is Hold.GONE:
                return False
            if "timeout" in faults and self._hold(float(faults["timeout"] or 0)) is not Hold.RELEASED:
                return False
            if kind in pgwire.QUERY_ENDS and not self._query_faults(faults):
                return False
        assert self.upstream is not None
        self.upstream.sendall(batch)
        return True

    def _query_faults(self, faults: dict[str, float | None]) -> bool:
        if "error" in faults and self.board.chance(float(faults["error"] or 0)):
            self.client.sendall(pgwire.error_response(
                pgwire.ADMIN_SHUTDOWN, "terminating connection due to administrator command"))
            return False
        if "truncate" in faults and self.board.chance(float(faults["truncate"] or 0)):
            self.truncate_next = True
        return True

    def _hold(self, seconds: float) -> Hold:
        """Keep the request back for `seconds`, unless the faults change first or the client leaves."""
        generation = self.proxy.generation
        deadline = time.monotonic() + seconds
        while True:
            if self.proxy.generation != generation:
                return Hold.RELEASED
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return Hold.ELAPSED
            readable, _, _ = select.select([self.client, self._wake_r], [], [], remaining)
            if self._wake_r in readable:
                self._wake_r.recv(CHUNK)
            if self.client in readable and not self._recv():
                return Hold.GONE

    # -- server to client ---------------------------------------------------------------------------

    def _pump_server(self) -> None:
        assert self.upstream is not None
        held = bytearray()
        try:
            while data := self.upstream.recv(CHUNK):
                if not self.truncate_next:
                    self.client.sendall(data)
                    continue
                held.extend(data)
                if len(held) >= TRUNCATE_WINDOW or pgwire.ends_with_ready(held):
                    self.client.sendall(held[: max(1, len(held) // 2)])
                    return
        except OSError:
            pass
        finally:
            self.close()
