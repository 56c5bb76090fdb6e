"""`metering serve`: migrate the database, then run the API under uvicorn."""

from __future__ import annotations

import socket

import typer
import uvicorn
from uvicorn.supervisors.multiprocess import Multiprocess

from metering.cli.db import database_label
from metering.db import migrate
from metering.settings import get_settings

APP = "metering.app:create_app"


class _TCPConfig(uvicorn.Config):
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


def serve_command(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8000, help="TCP port."),
    workers: int = typer.Option(1, min=1, help="Worker processes (each opens its own pool)."),
) -> None:
    """Serve the webhook and REST API (migrations run first, so a fresh database works)."""
    url = get_settings().database_url
    migrate.upgrade(url)
    typer.echo(f"database {database_label(url)} migrated; serving on http://{host}:{port}")
    if workers == 1:
        uvicorn.run(APP, factory=True, host=host, port=port)
        return
    config = _TCPConfig(APP, factory=True, host=host, port=port, workers=workers)
    Multiprocess(config, sockets=[config.bind_socket()]).run()
