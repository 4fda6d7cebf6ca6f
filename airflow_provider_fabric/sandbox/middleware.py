"""The outermost ASGI layer: access log, request recording, fault injection and Basic auth.

It sits directly under uvicorn (not inside Starlette's middleware stack) so
that it can drop a connection without any HTTP answer.

The access log records method, path, status and duration — never query
strings, bodies, headers or credentials.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import time
from typing import Any

from .auth import Authenticator
from .faults import FaultInjector

ASGIApp = Any
Message = dict[str, Any]

access_logger = logging.getLogger("fabric_sandbox.access")

_FAULT_TEXT = {
    "429": "Too many requests (sandbox fault injection)",
    "500": "Internal server error (sandbox fault injection)",
    "502": "Bad gateway (sandbox fault injection)",
    "503": "Service unavailable (sandbox fault injection)",
}


async def send_json(send: Any, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]) -> None:
    payload = json.dumps(body).encode()
    base = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": base + headers})
    await send({"type": "http.response.body", "body": payload, "more_body": False})


async def drain(receive: Any) -> None:
    """Read and discard the request body, so an early answer reaches the client cleanly."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            return


def drop_connection(raw_send: Any) -> bool:
    """Close the TCP connection under this request with no HTTP answer (uvicorn internals)."""
    cycle = getattr(raw_send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if transport is None:
        return False
    transport.abort()
    cycle.disconnected = True  # type: ignore[union-attr]
    return True


class SandboxMiddleware:
    """Wraps the FastAPI app; see the module docstring."""

    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        faults: FaultInjector,
        recorded: collections.deque[dict[str, Any]] | None,
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.faults = faults
        self.recorded = recorded

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method, path = scope["method"], scope["path"]
        if self.recorded is not None and not path.startswith("/_sandbox"):
            query = scope.get("query_string", b"").decode("latin-1")
            # "at": when it arrived, on the machine's monotonic clock (gaps between a client's requests).
            url = path + (f"?{query}" if query else "")
            self.recorded.append({"method": method, "url": url, "at": time.monotonic()})
        outcome: dict[str, Any] = {"status": "-"}

        async def logged_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                outcome["status"] = message["status"]
            await send(message)

        try:
            await self._handle(scope, receive, send, logged_send, outcome)
        finally:
            millis = (time.perf_counter() - started) * 1000
            access_logger.info("%s %s %s %.0fms", method, path, outcome["status"], millis)

    async def _handle(
        self, scope: dict[str, Any], receive: Any, raw_send: Any, send: Any, outcome: dict[str, Any]
    ) -> None:
        fault = self.faults.draw(scope["method"], scope["path"])
        if fault is not None and fault.latency_s > 0:
            await asyncio.sleep(fault.latency_s)
        if fault is not None and fault.kind == "hold":
            if fault.phase == "before":
                await self.faults.hold()
            else:
                send = self._held_after_first_part(send)
            fault = None
        if fault is not None and fault.kind and fault.phase == "before":
            await drain(receive)
            await self._inject(fault.kind, fault.retry_after, raw_send, send, outcome)
            return
        headers = dict(scope["headers"])
        authorization = headers.get(b"authorization", b"").decode("latin-1") or None
        code, user = self.authenticator.authenticate(authorization)
        if code != 200:
            await drain(receive)
            if code == 401:
                body = {"description": "Authentication failed: wrong or missing API key or secret"}
                await send_json(send, 401, body, [(b"www-authenticate", b'Basic realm="Fabric"')])
            else:
                await send_json(send, 403, {"description": "This API key has no access to this resource"}, [])
            return
        scope.setdefault("state", {})["user"] = user
        if fault is not None and fault.kind and fault.phase == "after":

            async def discard(message: Message) -> None:
                return None

            await self.app(scope, receive, discard)
            await self._inject(fault.kind, fault.retry_after, raw_send, send, outcome)
            return
        await self.app(scope, receive, send)

    def _held_after_first_part(self, send: Any) -> Any:
        """``send`` holding the answer after its first part (headers; a streamed answer's first chunk)."""
        held = False

        async def held_send(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.body" and not held:
                held = True
                if not message.get("more_body"):  # a whole answer in one part: hold it after the headers
                    await self.faults.hold()
                    await send(message)
                    return
                await send(message)
                await self.faults.hold()
                return
            await send(message)

        return held_send

    async def _inject(
        self, kind: str, retry_after: float, raw_send: Any, send: Any, outcome: dict[str, Any]
    ) -> None:
        if kind == "drop":
            if drop_connection(raw_send):
                outcome["status"] = "dropped"
                return
            kind = "503"
        headers = (
            [(b"retry-after", str(max(0, round(retry_after))).encode())] if kind in ("429", "503") else []
        )
        await send_json(send, int(kind), {"description": _FAULT_TEXT[kind]}, headers)
