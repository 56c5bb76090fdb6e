"""Each HTTP request gets an id and is timed by route, around everything else the app does.

`RequestContext` takes the client's `X-Request-Id` when it is safe (`logs.accepted_request_id`)
or makes one, binds it for the log lines of the request, returns it in `X-Request-Id`, and
observes the request's duration by route template (`/v1/customers/{customer_id}`, never the
raw path) when the answer has been sent. `MonitoredApp` puts it outside Starlette's error
middleware, so the crash handler's log line and its 500 answer carry the id too; the crash,
answered and logged there, ends here instead of being logged again by the server.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from metering.platform.monitoring import metrics
from metering.platform.monitoring.logs import REQUEST_ID, accepted_request_id, new_request_id

HEADER = "X-Request-Id"
_HEADER_KEY = HEADER.lower().encode()
UNMATCHED = "unmatched"


def _endpoint(route: BaseRoute) -> Any:
    return route.app if isinstance(route, Mount) else getattr(route, "endpoint", None)


def route_template(scope: Scope) -> str:
    """The template of the route that handled the request (a mount's with `/{path}`).

    The router leaves the route in the scope; routers that leave only its endpoint (plain
    Starlette routes and mounts under recent FastAPI) are found among the app's routes.
    """
    route = scope.get("route")
    endpoint = scope.get("endpoint")
    if route is None and endpoint is not None:
        routes = getattr(scope.get("app"), "routes", ())
        route = next((found for found in routes if _endpoint(found) is endpoint), None)
    if isinstance(route, Mount):
        return f"{route.path}/{{path}}"
    template = getattr(route, "path_format", None)
    return template if isinstance(template, str) else UNMATCHED


class RequestContext:
    """ASGI middleware: request id in, out and in the logs; duration by route."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = accepted_request_id(Headers(scope=scope).get(HEADER)) or new_request_id()
        token = REQUEST_ID.set(request_id)
        began = time.perf_counter()
        status = 500  # an answer that never started is a failure
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != _HEADER_KEY
                ]
                message["headers"] = [*headers, (_HEADER_KEY, request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            if not started:
                raise
            # Starlette's error middleware re-raises a crash after its handler has logged
            # it and answered; raising it further would have the server log it again.
        finally:
            elapsed = time.perf_counter() - began
            metrics.observe_request(scope["method"], route_template(scope), status, elapsed)
            REQUEST_ID.reset(token)


class MonitoredApp(FastAPI):
    """A FastAPI app whose every request, crashes included, goes through `RequestContext`."""

    def build_middleware_stack(self) -> ASGIApp:
        return RequestContext(super().build_middleware_stack())
