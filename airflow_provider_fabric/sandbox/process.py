"""Run the real ``fabric-sandbox`` process from tests and scripts.

>>> with SandboxProcess(tmp_path, annotation_seconds=0.5, report_seconds=0.5) as sandbox:
...     os.environ["AIRFLOW_CONN_FABRIC_GENOMICS_DEFAULT"] = sandbox.conn_json()
...     sandbox.set_faults(rate_503=0.3, methods=["GET"])
...     sandbox.state()["counts"]

Standard library only (no HTTP client dependency); importing it is cheap.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import ssl
import subprocess  # starts our own sandbox server, never a shell  # nosec B404
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

#: The environment variable of Airflow's default Fabric connection (``fabric_genomics_default``).
CONN_ENV = "AIRFLOW_CONN_FABRIC_GENOMICS_DEFAULT"


class SandboxError(RuntimeError):
    """The sandbox did not start, or an admin call failed."""


class SandboxProcess:
    """A ``fabric-sandbox`` subprocess in a data directory, with helpers for tests.

    :param data_dir: state directory (a new temporary one when ``None``); reused across restarts.
    :param login: API key of the test user (random when ``None``).
    :param secret: its secret (random when ``None``).
    :param annotation_seconds: upload to ``ANNOTATED``.
    :param report_seconds: annotated to ``READY TO REVIEW``.
    :param looks: count time in looks instead of seconds (``--looks``): a genome is annotated at its
        Nth look, a report ready at its Nth look once its genomes are; ``0`` uses the seconds.
    :param http_port: also serve the plain-HTTP 302 redirector (``0`` picks a free port).
    :param record_requests: keep raw request lines for ``requests_seen()``.
    :param extra_users: more ``LOGIN:SECRET[:FLAGS]`` specs, e.g. ``"nokey:pw:noaccess"``.
    :param extra_args: more command-line flags (fault flags...).
    :param port: HTTPS port (``0`` picks a free one; after :meth:`start` it holds the port in use,
        so a restart keeps the URL).
    :param startup_timeout: seconds to wait for ``ready.json``.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        login: str | None = None,
        secret: str | None = None,
        annotation_seconds: float = 0.5,
        report_seconds: float = 0.5,
        looks: int = 0,
        http_port: int | None = None,
        record_requests: bool = False,
        extra_users: Sequence[str] = (),
        extra_args: Sequence[str] = (),
        port: int = 0,
        startup_timeout: float = 30.0,
    ) -> None:
        self.data_dir = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="fabric-sandbox-"))
        self.login = login or f"sandbox-{secrets.token_hex(4)}"
        self.secret = secret or secrets.token_urlsafe(16)
        self.annotation_seconds = annotation_seconds
        self.report_seconds = report_seconds
        self.looks = looks
        self.http_port = http_port
        self.record_requests = record_requests
        self.extra_users = list(extra_users)
        self.extra_args = list(extra_args)
        #: The HTTPS port: as given until :meth:`start`, then the one in use.
        self.port = port
        self.startup_timeout = startup_timeout
        #: The running process, ``None`` before :meth:`start` and after :meth:`stop`.
        self.process: subprocess.Popen[bytes] | None = None
        #: The contents of ``ready.json`` from the last start (``url``, ``ca_path``, ``pid``...).
        self.info: dict[str, Any] = {}

    # -- lifecycle ---------------------------------------------------------------------------

    def command(self) -> list[str]:
        """The command line that starts the sandbox with these settings.

        :return: this Python interpreter running ``-m airflow_provider_fabric.sandbox`` with
            the data directory, port, users, timings and flags of this object.
        """
        cmd = [sys.executable, "-m", "airflow_provider_fabric.sandbox", "--data-dir", str(self.data_dir)]
        # Users go in a private file, never on the command line where any local user can read them.
        cmd += ["--port", str(self.port), "--config", str(self.users_file)]
        cmd += ["--annotation-seconds", str(self.annotation_seconds)]
        cmd += ["--report-seconds", str(self.report_seconds)]
        if self.looks:
            cmd += ["--looks", str(self.looks)]
        if self.http_port is not None:
            cmd += ["--http-port", str(self.http_port)]
        if self.record_requests:
            cmd.append("--record-requests")
        return cmd + self._passed_args()[0]

    def _passed_args(self) -> tuple[list[str], Path | None]:
        """``extra_args`` without a ``--config FILE`` (merged into :attr:`users_file`), and that file."""
        args, config = list(self.extra_args), None
        if "--config" in args:
            at = args.index("--config")
            config = Path(args[at + 1])
            del args[at : at + 2]
        return args, config

    @property
    def users_file(self) -> Path:
        """The owner-only config file holding the users, with scrypt-hashed secrets only.

        A ``--config FILE`` in ``extra_args`` is merged into it (its users and settings kept).
        """
        return self.data_dir / "users.json"

    def _write_users_file(self) -> None:
        from .auth import parse_user_spec, user_from_config

        given = self._passed_args()[1]
        config: dict[str, Any] = json.loads(given.read_text()) if given else {}
        users = [user_from_config(item) for item in config.get("users", [])]
        users += [parse_user_spec(spec) for spec in (f"{self.login}:{self.secret}", *self.extra_users)]
        config["users"] = [
            {"login": u.login, "secret_hash": u.secret_hash, "access": u.access, "workspace": u.workspace_id}
            for u in users
        ]
        fd = os.open(self.users_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(config, handle)

    def start(self) -> SandboxProcess:
        """Start the process and wait until it has written ``ready.json``.

        The data directory is created if missing; the process's output is appended to
        ``sandbox.log`` in it, and ``AIRFLOW_HOME`` defaults to its ``airflow-home`` folder.
        Afterwards :attr:`info` holds ``ready.json`` and :attr:`port` the port in use.

        :return: this object.
        :raises SandboxError: the process exited, or was not ready within ``startup_timeout``
            (it is then stopped); the message ends with the log's last lines.
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._write_users_file()
        ready = self.data_dir / "ready.json"
        ready.unlink(missing_ok=True)
        env = dict(os.environ)
        env.setdefault("AIRFLOW_HOME", str(self.data_dir / "airflow-home"))
        log = (self.data_dir / "sandbox.log").open("ab")
        self.process = subprocess.Popen(  # noqa: S603  # our interpreter and module, no shell  # nosec B603
            self.command(), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
        log.close()
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SandboxError(
                    f"fabric-sandbox exited with {self.process.returncode}:\n{self.log_tail()}"
                )
            if ready.exists():
                info = json.loads(ready.read_text())
                if info.get("pid") == self.process.pid:
                    self.info = info
                    self.port = int(info["port"])  # a restart keeps the URL
                    return self
            time.sleep(0.05)
        self.stop()
        raise SandboxError(
            f"fabric-sandbox did not become ready in {self.startup_timeout}s:\n{self.log_tail()}"
        )

    def stop(self, timeout: float = 10.0) -> int | None:
        """Stop the process with SIGTERM (SIGKILL after ``timeout``); return its exit code.

        :param timeout: seconds to wait for the process to exit after SIGTERM.
        :return: the exit code, or ``None`` when no process was running.
        """
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        code = self.process.returncode
        self.process = None
        return code

    def restart(self) -> SandboxProcess:
        """Stop and start again on the same data directory and port.

        :return: this object.
        :raises SandboxError: as :meth:`start`.
        """
        self.stop()
        return self.start()

    def __enter__(self) -> SandboxProcess:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 40) -> str:
        """The end of ``sandbox.log`` (the process's output), ``""`` when there is no log.

        :param lines: how many of the last lines to return.
        """
        path = self.data_dir / "sandbox.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    # -- where and how to connect --------------------------------------------------------------

    @property
    def url(self) -> str:
        """The HTTPS base URL, e.g. ``https://127.0.0.1:PORT`` (only after :meth:`start`).

        :raises KeyError: the sandbox was never started.
        """
        return str(self.info["url"])

    @property
    def http_url(self) -> str | None:
        """The plain-HTTP redirector's URL, ``None`` unless started with ``http_port``."""
        return self.info.get("http_url")

    @property
    def ca_path(self) -> str:
        """The path of the CA certificate that signed the server's certificate (only after :meth:`start`).

        :raises KeyError: the sandbox was never started.
        """
        return str(self.info["ca_path"])

    @property
    def pid(self) -> int:
        """The process ID written to ``ready.json`` by the last start.

        :raises KeyError: the sandbox was never started.
        """
        return int(self.info["pid"])

    def conn_json(self) -> str:
        """The Airflow connection as JSON, for ``AIRFLOW_CONN_FABRIC_GENOMICS_DEFAULT``.

        :return: ``conn_type``, ``host`` (:attr:`url`), ``login``, ``password`` and
            ``extra.verify`` (:attr:`ca_path`) as a JSON object.
        """
        return json.dumps(
            {
                "conn_type": "fabric_genomics",
                "host": self.url,
                "login": self.login,
                "password": self.secret,
                "extra": {"verify": self.ca_path},
            }
        )

    def conn_uri(self) -> str:
        """The Airflow connection as a URI (``fabric-genomics://https://KEY:SECRET@host:port/?verify=CA``).

        The scheme is spelled with a hyphen because URL schemes cannot hold ``_``;
        Airflow turns it back into ``fabric_genomics``.
        """
        user = f"{quote(self.login, safe='')}:{quote(self.secret, safe='')}"
        address = self.url.split("://", 1)[1]
        return f"fabric-genomics://https://{user}@{address}/?verify={quote(self.ca_path, safe='')}"

    def env(self) -> dict[str, str]:
        """Environment variables that point Airflow's default Fabric connection at this sandbox.

        :return: :data:`CONN_ENV` mapped to :meth:`conn_json`.
        """
        return {CONN_ENV: self.conn_json()}

    def peak_rss_kb(self) -> int:
        """The process's peak resident memory (``VmHWM``), in KiB.

        Linux only: read from ``/proc/PID/status`` while the process runs.

        :raises OSError: no such process (stopped, or not Linux).
        :raises SandboxError: the status file has no ``VmHWM`` line.
        """
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
        raise SandboxError("VmHWM not found")

    # -- admin calls ------------------------------------------------------------------------------

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        """Call a sandbox endpoint as the test user and return its JSON answer.

        Basic auth with ``login`` and ``secret``, TLS verified against :attr:`ca_path`,
        30-second timeout.

        :param method: the HTTP method.
        :param path: appended to :attr:`url`, e.g. ``/_sandbox/state``.
        :param body: a JSON-serialisable body; ``None`` sends none.
        :return: the decoded JSON answer (``None`` for an empty one).
        :raises SandboxError: the server answered with an HTTP error status.
        """
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, method=method)  # noqa: S310
        token = base64.b64encode(f"{self.login}:{self.secret}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        context = ssl.create_default_context(cafile=self.ca_path)
        try:
            with urllib.request.urlopen(request, context=context, timeout=30) as answer:  # noqa: S310  # https URL we built  # nosec B310
                return json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as err:
            raise SandboxError(f"{method} {path}: HTTP {err.code}: {err.read()[:500]!r}") from err

    def set_faults(self, **settings: Any) -> dict[str, Any]:
        """Replace the fault settings (``rate_503=0.2, phase="after", methods=["PUT"], script=[...]``).

        Settings left out take their defaults (no fault); the counters start again.

        :param settings: ``rate_429``, ``rate_500``, ``rate_502``, ``rate_503``, ``rate_drop``
            (0 to 1), ``latency_ms``, ``phase`` (``before``/``after``), ``methods``, ``paths``
            (regular expressions), ``retry_after``, ``script`` and ``seed``.
        :return: the new settings, scripted faults left and counters, as :meth:`faults` gives them.
        :raises SandboxError: an unknown or invalid setting (HTTP 422).
        """
        return self.admin("PUT", "/_sandbox/faults", settings)

    def clear_faults(self) -> dict[str, Any]:
        """Turn every fault off (all settings back to their defaults, counters reset).

        :return: the new settings, as :meth:`faults` gives them.
        """
        return self.admin("DELETE", "/_sandbox/faults")

    def release_held(self) -> int:
        """Let every request held by a scripted ``hold`` fault go on; return how many were held."""
        return int(self.admin("POST", "/_sandbox/faults/release")["released"])

    def faults(self) -> dict[str, Any]:
        """The current fault settings.

        :return: ``config`` (the settings), ``script_left`` (scripted faults not yet used) and
            ``stats`` (requests matched and faults injected, by kind).
        """
        return self.admin("GET", "/_sandbox/faults")

    def state(self) -> dict[str, Any]:
        """Every project, genome and report of the test user's workspace, with counts."""
        return self.admin("GET", "/_sandbox/state")

    def advance_clock(self, seconds: float) -> dict[str, Any]:
        """Move the sandbox's time on by ``seconds`` (statuses and timestamps), without waiting.

        :return: ``now`` (a server timestamp), ``offset_seconds`` and ``looks``.
        :raises SandboxError: a negative or non-numeric value (HTTP 422).
        """
        return self.admin("POST", "/_sandbox/clock", {"advance_seconds": seconds})

    def requests_seen(self, clear: bool = False) -> list[dict[str, Any]]:
        """Raw request lines (method, URL with query, arrival) — needs ``record_requests=True``.

        :param clear: forget the recorded requests after returning them.
        :return: ``{"method": ..., "url": ..., "at": ...}`` for each request recorded (path and query
            string; ``at`` is the arrival on this machine's ``time.monotonic()`` clock), oldest
            first; the last 100,000 at most.
        :raises SandboxError: recording is off (HTTP 404).
        """
        return self.admin("DELETE" if clear else "GET", "/_sandbox/requests")["objects"]
