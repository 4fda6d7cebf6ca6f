"""Run the sandbox: TLS files, uvicorn on a bound socket, the plain-HTTP redirector, ready.json."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import os
import shutil
import signal
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .auth import User
from .faults import FaultConfig
from .lifecycle import Clock

access_logger = logging.getLogger("fabric_sandbox.access")


@dataclass
class Settings:
    """Everything the command line and the config file can set."""

    data_dir: Path
    users: list[User]
    host: str = "127.0.0.1"
    port: int = 0
    http_port: int | None = None
    ca_out: Path | None = None
    annotation_seconds: float = 2.0
    report_seconds: float = 2.0
    looks: int = 0
    timezone: str = "America/Los_Angeles"
    record_requests: bool = False
    faults: FaultConfig = field(default_factory=FaultConfig)


def _setup_logging(data_dir: Path) -> None:
    handler = logging.FileHandler(data_dir / "access.log")
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    access_logger.addHandler(handler)
    access_logger.addHandler(logging.StreamHandler(sys.stderr))
    access_logger.setLevel(logging.INFO)
    access_logger.propagate = False


async def _redirector(host: str, port: int, https_url: str) -> Any:
    """Answer every plain-HTTP request with 302 to the HTTPS URL (path only) and an empty body."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            method, path = parts[0], (parts[1] if len(parts) > 1 else "/").split("?", 1)[0]
            writer.write(
                f"HTTP/1.1 302 Found\r\nLocation: {https_url}{path}\r\nContent-Length: 0\r\n"
                "Connection: close\r\n\r\n".encode("latin-1")
            )
            await writer.drain()
            access_logger.info("%s %s 302 (plain HTTP)", method, path)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port, reuse_address=True)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _url(host: str, port: int, scheme: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}"


def _warm_up() -> None:
    """Import the VCF module (and Airflow's exceptions with it) before the first upload needs it."""
    with contextlib.suppress(Exception):
        for module in ("airflow_provider_fabric.api.reports", "airflow_provider_fabric.vcf"):
            importlib.import_module(module)


def serve(settings: Settings) -> int:
    """Start the sandbox and block until SIGTERM/SIGINT. Returns the exit code."""
    import uvicorn

    from .app import create_app
    from .store import Store
    from .tls import ensure_tls

    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("AIRFLOW_HOME", str(data_dir / "airflow-home"))
    (data_dir / "ready.json").unlink(missing_ok=True)
    _setup_logging(data_dir)
    tls = ensure_tls(data_dir, settings.host)
    ca_path = tls.ca_cert
    if settings.ca_out is not None:
        settings.ca_out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(tls.ca_cert, settings.ca_out)
        ca_path = settings.ca_out
    store = Store(data_dir)
    clock = Clock(settings.annotation_seconds, settings.report_seconds, settings.timezone, settings.looks)
    app = create_app(store, clock, settings.users, settings.faults, settings.record_requests)
    sock = _bind(settings.host, settings.port)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        ssl_certfile=str(tls.server_cert),
        ssl_keyfile=str(tls.server_key),
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=1,
        server_header=False,
    )
    server = _make_server(config)
    info = {
        "url": _url(settings.host, port, "https"),
        "http_url": None,
        "ca_path": str(ca_path),
        "pid": os.getpid(),
        "host": settings.host,
        "port": port,
        "data_dir": str(data_dir),
    }
    try:
        asyncio.run(_run(server, sock, settings, info))
    finally:
        store.close()
        (data_dir / "ready.json").unlink(missing_ok=True)
    return 0


def _make_server(config: Any) -> Any:
    """A uvicorn.Server with our own signal handling (uvicorn re-raises signals after shutdown)."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return Server(config)


async def _run(server: Any, sock: socket.socket, settings: Settings, info: dict[str, Any]) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: setattr(server, "should_exit", True))
    redirector = None
    if settings.http_port is not None:
        redirector = await _redirector(settings.host, settings.http_port, info["url"])
        http_port = redirector.sockets[0].getsockname()[1]
        info["http_url"] = _url(settings.host, http_port, "http")
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():
        await asyncio.sleep(0.01)
    if server.started:
        ready = settings.data_dir / "ready.json"
        temp = ready.with_suffix(".tmp")
        temp.write_text(json.dumps(info, indent=2))
        os.replace(temp, ready)
        print(json.dumps({"fabric_sandbox": "ready", **info}), flush=True)
        threading.Thread(target=_warm_up, daemon=True).start()
    try:
        await task
    finally:
        if redirector is not None:
            redirector.close()
            await redirector.wait_closed()
