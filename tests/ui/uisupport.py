"""A real Airflow for the UI tests: its own ``AIRFLOW_HOME``, the FAB auth manager, users, an api-server.

Imported by name (``from uisupport import ...``). Everything runs in child
processes with the environment :meth:`AirflowUI.env` gives, never in the test
process (whose Airflow is configured for the rest of the suite).

The FAB auth manager is used because it has per-DAG permissions (Airflow's
default simple auth manager has none), so "a user without access to a DAG"
can be tested. Users:

* ``admin`` (role ``Admin``): every DAG;
* ``panel_lab`` (role ``PanelLab``): reads ``example_fabric_panel`` only;
* ``no_dags`` (role ``NoDags``): may log in, reads no DAG.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = [sys.executable, "-m", "airflow"]
PASSWORD = "ui-test-password"  # noqa: S105 - a throw-away test user
USERS = {"admin": "Admin", "panel_lab": "PanelLab", "no_dags": "NoDags"}
ROLES = [
    {"name": "PanelLab", "resource": "DAG:example_fabric_panel", "action": "can_read"},
    {"name": "PanelLab", "resource": "Website", "action": "can_read"},
    {"name": "NoDags", "resource": "Website", "action": "can_read"},
]
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"
#: The Fabric Enterprise web app the connection names (links only; never visited).
UI_URL = "https://enterprise.fabric.invalid"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AirflowUI:
    """One throw-away Airflow installation with the plugin, and its api-server.

    :param home: the ``AIRFLOW_HOME`` (created).
    :param conn_json: the ``fabric_genomics_default`` connection as JSON.
    :param extra_env: more environment variables (``[fabric_genomics]`` settings...).
    """

    def __init__(self, home: Path, conn_json: str, extra_env: dict[str, str] | None = None) -> None:
        self.home = home
        self.port = free_port()
        self.conn_json = conn_json
        self.extra_env = dict(extra_env or {})
        self.server: subprocess.Popen[bytes] | None = None
        self.seeded: dict[str, Any] = {}
        self.log_path = home / "api-server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        return {
            **keep,
            "AIRFLOW_HOME": str(self.home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags_examples"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "AIRFLOW__CORE__AUTH_MANAGER": FAB_AUTH_MANAGER,
            "AIRFLOW__API__PORT": str(self.port),
            "AIRFLOW__API__BASE_URL": self.url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API_AUTH__JWT_SECRET": "ui-tests-jwt-secret-" + "x" * 32,
            "AIRFLOW__API__SECRET_KEY": "ui-tests-secret-key",
            "AIRFLOW__FAB__SESSION_BACKEND": "securecookie",
            "AIRFLOW_CONN_FABRIC_GENOMICS_DEFAULT": self.conn_json,
            "FABRIC_EXAMPLE_POKE_INTERVAL": "0.2",
            "FABRIC_EXAMPLE_RETRY_DELAY": "1",
            **self.extra_env,
        }

    def airflow(self, *args: str, timeout: float = 300) -> str:
        """Run an ``airflow`` CLI command in this installation; return its output (fail loudly)."""
        done = subprocess.run(  # noqa: S603 - our own interpreter
            [*AIRFLOW, *args], env=self.env(), capture_output=True, text=True, timeout=timeout, check=False
        )
        assert done.returncode == 0, (
            f"airflow {' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
        return done.stdout

    def prepare(self) -> None:
        """Migrate the DB."""
        self.home.mkdir(parents=True, exist_ok=True)
        self.airflow("db", "migrate")

    def add_users(self) -> None:
        """The roles and users (after the DAGs are in the DB: a role names a DAG's permission)."""
        self.airflow("sync-perm", "--include-dags")
        roles = self.home / "roles.json"
        roles.write_text(json.dumps(ROLES))
        self.airflow("roles", "import", str(roles))
        for name, role in USERS.items():
            self.airflow(
                "users",
                "create",
                "--username",
                name,
                "--password",
                PASSWORD,
                "--role",
                role,
                "--firstname",
                name,
                "--lastname",
                "Test",
                "--email",
                f"{name}@example.invalid",
            )

    def seed(self, work: Path, timeout: float = 600) -> dict[str, Any]:
        """Run the example DAGs against the sandbox (``seed_runs.py``); return their run states."""
        work.mkdir(parents=True, exist_ok=True)
        log = self.home / "seed.log"
        with log.open("wb") as out:
            code = subprocess.call(  # noqa: S603 - our own interpreter and script
                [sys.executable, str(Path(__file__).with_name("seed_runs.py")), str(work)],
                env=self.env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=timeout,
            )
        assert code == 0, log.read_text()[-5000:]
        return json.loads((work / "seeded.json").read_text())

    def start(self, timeout: float = 120) -> None:
        """Start ``airflow api-server`` and wait (bounded) until it answers."""
        out = self.log_path.open("ab")
        self.server = subprocess.Popen(  # noqa: S603 - our own interpreter
            [*AIRFLOW, "api-server", "--port", str(self.port)],
            env=self.env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise AssertionError(f"api-server exited:\n{self.log_path.read_text()[-5000:]}")
            try:
                with urllib.request.urlopen(self.url + "/api/v2/monitor/health", timeout=5):  # noqa: S310
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.5)
        self.stop()
        raise AssertionError(
            f"api-server did not answer in {timeout} s:\n{self.log_path.read_text()[-5000:]}"
        )

    def stop(self) -> None:
        """Stop the api-server (its whole process group: it runs worker processes), bounded."""
        if self.server is None or self.server.poll() is not None:
            return
        os.killpg(self.server.pid, 15)
        try:
            self.server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.server.pid, 9)
            self.server.wait(timeout=10)

    # -- HTTP as a user -----------------------------------------------------------------------

    def token(self, username: str) -> str:
        """A JWT for ``username`` from Airflow's own ``/auth/token``."""
        body = json.dumps({"username": username, "password": PASSWORD}).encode()
        request = urllib.request.Request(  # noqa: S310 - our local server
            self.url + "/auth/token", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return str(json.loads(answer.read())["access_token"])

    def get(
        self, path: str, token: str | None = None, *, cookie: bool = False
    ) -> tuple[int, dict[str, str], str]:
        """``GET path`` (no redirects followed) with the token as a bearer header or as the UI's cookie."""
        request = urllib.request.Request(self.url + path)  # noqa: S310 - our local server
        if token and cookie:
            request.add_header("Cookie", f"_token={token}")
        elif token:
            request.add_header("Authorization", f"Bearer {token}")

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: Any, **kwargs: Any) -> None:
                return None

        opener = urllib.request.build_opener(NoRedirect)
        try:
            with opener.open(request, timeout=60) as answer:
                return answer.status, dict(answer.headers), answer.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers), err.read().decode()
