"""The uvicorn configuration of `metering serve --workers N`, in a module of its own.

Each worker process unpickles its configuration, importing this module, before it answers
the supervisor's health checks; uvicorn kills a worker that does not answer in time
(`METERING_SERVE_WORKER_HEALTHCHECK_SECONDS`, 30 by default). Kept apart from the rest of
the command (which imports the whole service), this takes a fraction of a second even on a
busy host; the app is imported afterwards, while the worker already answers.
"""

from __future__ import annotations

import socket

import uvicorn


class TCPConfig(uvicorn.Config):
    """Binds the shared listening socket as an explicit TCP socket.

    uvicorn binds it with protocol 0 when it runs several workers, and asyncio only turns
    on TCP_NODELAY for sockets whose protocol is TCP: every keep-alive response then waits
    for a delayed ACK (about 40 ms). Naming the protocol gives workers the same latency as a
    single process.
    """

    def bind_socket(self) -> socket.socket:
        if self.uds is not None or self.fd is not None:
            return super().bind_socket()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.set_inheritable(True)
        return sock
