"""Seeded fault injection for reliability tests.

A :class:`FaultConfig` gives rates (0..1) of 429 (with ``Retry-After``),
500, 502 and 503 answers and of dropped connections (the TCP connection is
closed with no HTTP answer), plus added latency. ``script`` is a list of
faults handed out, in order, to the next matching requests before any rate
applies — the deterministic way to say "fail the next two uploads". An entry
is a kind (``"503"``) or an object ``{"kind", "phase", "method", "path"}``
whose optional ``method`` and ``path`` (a regular expression searched in the
URL path) say which request it waits for: ``{"kind": "drop", "phase":
"after", "method": "PUT", "path": "/genomes$"}`` drops the answer to the next
upload, whatever comes before it.

A scripted ``hold`` keeps a request waiting until ``POST /_sandbox/faults/release``
(or a change of the fault settings, or :data:`HOLD_LIMIT_S`): with phase
``before`` the request waits before the server reads it (an upload's body
stays unread, so its client is stuck mid-body or waiting for the answer);
with phase ``after`` the answer's first part is sent — the status line and
headers, and the first chunk of a streamed answer — and the rest waits. Tests
use it to act at an exact point of a request (kill the worker mid-upload or
mid-export) instead of racing a timer.

``phase`` decides when a fault hits: ``before`` the request is processed
(nothing happens server side) or ``after`` it (the object is created, the
client still sees the 503 or the dropped connection) — what idempotency
tests need. ``methods`` and ``paths`` (regular expressions searched in the
URL path) restrict faults to some requests. ``/_sandbox/*`` is never faulted.

Set at start with ``--fault-*`` flags, changed at run time with
``PUT /_sandbox/faults`` (sandbox-only admin endpoint).
"""

from __future__ import annotations

import asyncio
import random
import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = ("429", "500", "502", "503", "drop")
#: Kinds only a script hands out (no rate): ``hold`` keeps a request waiting until released.
SCRIPT_KINDS = (*KINDS, "hold")
PHASES = ("before", "after")
#: The longest a request is held, whatever happens: nothing waits forever.
HOLD_LIMIT_S = 120.0


@dataclass
class FaultConfig:
    """What to inject, how often, and into which requests."""

    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_502: float = 0.0
    rate_503: float = 0.0
    rate_drop: float = 0.0
    latency_ms: float = 0.0
    phase: str = "before"
    methods: list[str] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    retry_after: float = 1.0
    script: list[Any] = field(default_factory=list)
    seed: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultConfig:
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}; known: {sorted(known)}")
        config = cls(**data)
        config.validate()
        return config

    def validate(self) -> None:
        for kind in KINDS:
            rate = getattr(self, f"rate_{kind}")
            if not 0.0 <= float(rate) <= 1.0:
                raise ValueError(f"rate_{kind} must be between 0 and 1")
        if self.phase not in PHASES:
            raise ValueError("phase must be 'before' or 'after'")
        self.methods = [method.upper() for method in self.methods]
        for pattern in self.paths:
            re.compile(pattern)
        for item in self.script:
            kind, phase = _script_item(item, self.phase)
            if kind not in SCRIPT_KINDS or phase not in PHASES:
                raise ValueError(f"bad script entry {item!r}: kind in {SCRIPT_KINDS}, phase in {PHASES}")
            if isinstance(item, dict):
                unknown = set(item) - {"kind", "phase", "method", "path"}
                if unknown:
                    raise ValueError(f"bad script entry {item!r}: unknown keys {sorted(unknown)}")
                re.compile(str(item.get("path") or ""))


def _script_item(item: Any, default_phase: str) -> tuple[str, str]:
    if isinstance(item, dict):
        return str(item.get("kind")), str(item.get("phase", default_phase))
    return str(item), default_phase


def _script_matches(item: Any, method: str, path: str) -> bool:
    """Whether a scripted fault waits for this request (entries without method/path take any)."""
    if not isinstance(item, dict):
        return True
    wanted_method = str(item.get("method") or method).upper()
    return wanted_method == method.upper() and re.search(str(item.get("path") or ""), path) is not None


@dataclass(frozen=True)
class Fault:
    """The decision for one request: an optional fault kind, its phase, and latency."""

    kind: str | None
    phase: str
    latency_s: float
    retry_after: float


class FaultInjector:
    """Draws faults for requests from the current configuration, thread-safely."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self._lock = threading.Lock()
        self._releases = 0
        self.holding = 0
        self.configure(config or FaultConfig())

    def configure(self, config: FaultConfig) -> None:
        """Replace the settings; counters start again and every held request goes on."""
        with self._lock:
            self.config = config
            self._random = random.Random(config.seed)  # noqa: S311  # fault simulation, not security  # nosec B311
            self._script = list(config.script)
            self._paths = [re.compile(pattern) for pattern in config.paths]
            self.stats: dict[str, int] = {"matched": 0, **dict.fromkeys(SCRIPT_KINDS, 0)}
            self._releases += 1

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "config": asdict(self.config),
                "script_left": list(self._script),
                "stats": dict(self.stats),
                "holding": self.holding,
            }

    async def hold(self) -> None:
        """Wait until :meth:`release` (or a new configuration, or :data:`HOLD_LIMIT_S`)."""
        loop = asyncio.get_running_loop()
        release, give_up = self._releases, loop.time() + HOLD_LIMIT_S
        self.holding += 1
        try:
            while self._releases == release and loop.time() < give_up:
                await asyncio.sleep(0.01)
        finally:
            self.holding -= 1

    def release(self) -> int:
        """Let every held request go on; return how many were held."""
        held, self._releases = self.holding, self._releases + 1
        return held

    def draw(self, method: str, path: str) -> Fault | None:
        """The fault for this request, or ``None`` when it does not match the filters."""
        config = self.config
        if path.startswith("/_sandbox"):
            return None
        if config.methods and method.upper() not in config.methods:
            return None
        if self._paths and not any(pattern.search(path) for pattern in self._paths):
            return None
        with self._lock:
            self.stats["matched"] += 1
            kind: str | None = None
            phase = config.phase
            waiting = next(
                (i for i, item in enumerate(self._script) if _script_matches(item, method, path)), None
            )
            if waiting is not None:
                kind, phase = _script_item(self._script.pop(waiting), config.phase)
            else:
                roll = self._random.random()
                threshold = 0.0
                for name in KINDS:
                    threshold += float(getattr(config, f"rate_{name}"))
                    if roll < threshold:
                        kind = name
                        break
            if kind is not None:
                self.stats[kind] += 1
        return Fault(kind, phase, config.latency_ms / 1000.0, config.retry_after)
