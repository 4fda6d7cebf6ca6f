"""Shared pieces of the sandbox routes: errors, parameters, bodies, the app context."""

from __future__ import annotations

import collections
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request

from airflow_provider_fabric.api.safe_params import SAFE_PARAMS_HEADER, decode_safe_params

from .auth import User
from .faults import FaultInjector
from .lifecycle import Clock
from .store import Store


class ApiError(Exception):
    """An error answer: ``{"description": ...}`` with an HTTP status."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


@dataclass
class Context:
    """Everything the routes share, kept on ``app.state.ctx``."""

    store: Store
    clock: Clock
    faults: FaultInjector
    recorded: collections.deque[dict[str, Any]] | None


def ctx(request: Request) -> Context:
    return request.app.state.ctx


def user(request: Request) -> User:
    return request.scope["state"]["user"]


class Params:
    """Request parameters: URL query pairs, plus ``X-fg-safe-params`` on GET (same meaning)."""

    def __init__(self, request: Request) -> None:
        pairs = list(request.query_params.multi_items())
        header = request.headers.get(SAFE_PARAMS_HEADER)
        if header and request.method in ("GET", "HEAD"):
            try:
                pairs.extend(decode_safe_params(header))
            except ValueError as err:
                raise ApiError(
                    400, f"{SAFE_PARAMS_HEADER} is not a valid percent-encoded query string"
                ) from err
        self.pairs = pairs

    def get(self, key: str, default: str | None = None) -> str | None:
        values = self.getlist(key)
        return values[-1] if values else default

    def getlist(self, key: str) -> list[str]:
        return [value for name, value in self.pairs if name == key]

    def integer(self, key: str, default: int | None = None, minimum: int = 0) -> int | None:
        value = self.get(key)
        if value is None or value == "":
            return default
        try:
            number = int(value)
        except ValueError as err:
            raise ApiError(400, f"parameter {key} must be an integer") from err
        if number < minimum:
            raise ApiError(400, f"parameter {key} must be at least {minimum}")
        return number

    def flag(self, key: str) -> bool:
        return (self.get(key) or "").strip().lower() in ("true", "1", "yes")


def page(items: list[Any], params: Params) -> list[Any]:
    """Apply ``offset`` and ``limit`` to a list."""
    offset = params.integer("offset", 0) or 0
    limit = params.integer("limit", None)
    return items[offset:] if limit is None else items[offset : offset + limit]


async def read_body(request: Request) -> Any:
    """A JSON body whatever its content type (the vendor's clients send JSON text untyped); else form."""
    raw = await request.body()
    text = raw.decode("utf-8", "replace").strip()
    if not text:
        return {}
    try:
        return json.loads(text)
    except ValueError:
        pass
    if "=" in text and not text.startswith(("{", "[")):
        return dict(parse_qsl(text, keep_blank_values=True))
    raise ApiError(400, "the request body is not valid JSON")


def require_object(body: Any, what: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, f"{what} must be a JSON object")
    return body


def add_route(router: APIRouter, path: str, methods: list[str]) -> Callable[[Callable[..., Any]], Any]:
    """Register a handler under ``path`` with and without its trailing slash (no redirects)."""

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        other = path[:-1] if path.endswith("/") else path + "/"
        router.add_api_route(path, func, methods=methods)
        router.add_api_route(other, func, methods=methods, include_in_schema=False)
        return func

    return decorator


def as_int(value: Any, what: str, *, optional: bool = False) -> int | None:
    """An integer ID from a body field (int or digits), else 422."""
    if value is None or value == "":
        if optional:
            return None
        raise ApiError(422, f"{what} is required")
    if isinstance(value, bool):
        raise ApiError(422, f"{what} must be an integer")
    try:
        return int(value)
    except (TypeError, ValueError) as err:
        raise ApiError(422, f"{what} must be an integer") from err
