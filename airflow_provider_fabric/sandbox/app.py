"""The sandbox ASGI application: FastAPI routes under the auth/fault/log middleware."""

from __future__ import annotations

import collections
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from . import admin, genomes, reports, variant_routes
from .auth import Authenticator, User
from .common import ApiError, Context
from .faults import FaultConfig, FaultInjector
from .lifecycle import Clock
from .middleware import SandboxMiddleware
from .store import Store


async def _api_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, ApiError):  # registered for ApiError only
        raise exc
    return JSONResponse({"description": exc.description}, status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, HTTPException):  # registered for HTTPException only
        raise exc
    text = {404: "Not found", 405: "Method not allowed"}.get(exc.status_code, str(exc.detail))
    return JSONResponse({"description": text}, status_code=exc.status_code, headers=exc.headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    # Only path parameters are declared, so this is e.g. /genomes/abc: no such object.
    return JSONResponse({"description": "Not found: IDs in the path must be integers"}, status_code=404)


def create_app(
    store: Store,
    clock: Clock,
    users: list[User],
    faults: FaultConfig | None = None,
    record_requests: bool = False,
) -> Any:
    """Build the ASGI app (middleware around FastAPI) for the given state and settings."""
    api = FastAPI(
        title="fabric-sandbox", openapi_url=None, docs_url=None, redoc_url=None, redirect_slashes=False
    )
    recorded: collections.deque[dict[str, Any]] | None = (
        collections.deque(maxlen=100_000) if record_requests else None
    )
    injector = FaultInjector(faults)
    api.state.ctx = Context(store=store, clock=clock, faults=injector, recorded=recorded)
    api.add_exception_handler(ApiError, _api_error)
    api.add_exception_handler(HTTPException, _http_error)
    api.add_exception_handler(RequestValidationError, _validation_error)
    for module in (genomes, reports, variant_routes, admin):
        api.include_router(module.router)
    return SandboxMiddleware(api, Authenticator(users), injector, recorded)
