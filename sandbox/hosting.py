"""Serve a WSGI application on a local port in a background thread, and take it down on demand.

"down" in the fault language means connection refused, not an error page, so the host closes its
listening socket while its system is down and opens it again (same port) when the fault clears. The
connections already open (HTTP keep-alive) are cut too: a down service answers nobody, and a client's
pooled connection must not reach a server that is gone.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import threading
from typing import Any

from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from sandbox.faults import FaultBoard

# Request lines carry query strings (e-mail addresses, phone numbers): never log them.
logging.getLogger("werkzeug").setLevel(logging.ERROR)


class PortInUseError(RuntimeError):
    """The chosen port is taken; the message is one line for the user."""


class _QuietHandler(WSGIRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class _Server(ThreadedWSGIServer):
    """A threaded WSGI server that knows its open connections, so that going down cuts them."""

    daemon_threads = True

    def __init__(self, host: str, port: int, app: Any) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(host, port, app, handler=_QuietHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def cut_connections(self) -> None:
        with self._connections_lock:
            open_now = list(self._connections)
        for connection in open_now:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class ServiceHost:
    """One system's HTTP endpoint: start, stop, and follow the board's `down` fault."""

    def __init__(self, name: str, app: Any, port: int, host: str = "127.0.0.1",
                 board: FaultBoard | None = None) -> None:
        self.name = name
        self.app = app
        self.host = host
        self.port = port or free_port(host)
        self.board = board
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False  # stop() is final: board changes no longer reopen the port
        if board is not None:
            board.on_change(self._follow_board)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._closed = False
        self._open()

    def _open(self) -> None:
        with self._lock:
            if self._server is not None or self._closed:
                return
            try:
                server = _Server(self.host, self.port, self.app)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise PortInUseError(f"{self.name}: port {self.port} on {self.host} is already in use") from None
                raise
            self._server = server
            self._thread = threading.Thread(target=server.serve_forever, name=f"sandbox-{self.name}", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._closed = True
        self._close()

    def _close(self) -> None:
        with self._lock:
            server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.cut_connections()

    def _follow_board(self) -> None:
        if self.board is None:
            return
        if self.board.is_down(self.name):
            self._close()
        else:
            self._open()
