"""The app served by uvicorn in a thread on a free port, for commands that speak HTTP."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn

from metering.platform.settings import Settings
from metering.surfaces.app import create_app


class BackgroundServer:
    """`settings`' app, or `app`; `log_config=None` leaves logging as the test set it (the
    server's own lines then reach pytest's log capture)."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        app: Any = None,
        log_config: dict[str, Any] | None = uvicorn.config.LOGGING_CONFIG,
    ) -> None:
        config = uvicorn.Config(
            app or create_app(settings),
            host="127.0.0.1",
            port=0,
            log_level="warning",
            log_config=log_config,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> BackgroundServer:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join()
