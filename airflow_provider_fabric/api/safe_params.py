"""The ``X-fg-safe-params`` header: GET parameters that never touch a URL.

Fabric reads GET parameters from this header so that PHI (names, external IDs,
accession numbers) never lands in URLs, proxies or access logs. The value is
an ordinary query string built from UTF-8 text and percent-encoded, so the
header is pure ASCII; keys may repeat (``status=A&status=B``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote

SAFE_PARAMS_HEADER = "X-fg-safe-params"

Params = Mapping[str, Any] | Iterable[tuple[str, Any]]


def _text(value: Any) -> str:
    # The API spells booleans the Python way in its own docs (extended=True).
    if isinstance(value, bool):
        return "True" if value else "False"
    return str(value)


def param_pairs(params: Params | None) -> list[tuple[str, str]]:
    """Flatten ``params`` into ``(key, text)`` pairs.

    A list or tuple value repeats its key; ``None`` values are left out, so
    callers can pass every optional filter unconditionally.

    :param params: a mapping or ``(key, value)`` pairs.
    """
    if not params:
        return []
    items = params.items() if isinstance(params, Mapping) else params
    pairs: list[tuple[str, str]] = []
    for key, value in items:
        if value is None:
            continue
        values = value if isinstance(value, list | tuple | set | frozenset) else (value,)
        pairs.extend((key, _text(v)) for v in values if v is not None)
    return pairs


def encode_safe_params(params: Params | None) -> str:
    """Encode parameters as the ``X-fg-safe-params`` header value.

    Every byte outside the unreserved set is percent-encoded from UTF-8, so a
    space becomes ``%20`` (never ``+``) and the result is plain ASCII.

    :param params: a mapping or ``(key, value)`` pairs; ``None`` values are left out.

    >>> encode_safe_params({"param2": "āēī"})
    'param2=%C4%81%C4%93%C4%AB'
    """
    return "&".join(
        f"{quote(key, safe='', encoding='utf-8')}={quote(value, safe='', encoding='utf-8')}"
        for key, value in param_pairs(params)
    )


def decode_safe_params(header: str) -> list[tuple[str, str]]:
    """Decode a header value into ``(key, value)`` pairs, keys repeated as sent.

    The server decodes exactly like a URL query string (``+`` is a space), so
    a parameter means the same whichever way it arrives.

    :param header: the ``X-fg-safe-params`` header's value.
    """
    return parse_qsl(header, keep_blank_values=True, encoding="utf-8", errors="strict")
