"""A distributed Airflow on one machine, every process started and stopped by PID.

What :class:`Deployment` runs, each as its own process with its own log in ``OUTPUT/logs/``:

* PostgreSQL (Debian's server binaries, a throw-away cluster) as the metadata database;
* Redis as the Celery broker;
* a moto S3 server (inputs and exports live there, never on a disk two tasks share);
* ``fabric-sandbox`` (:class:`~airflow_provider_fabric.sandbox.process.SandboxProcess`);
* Airflow's api-server, scheduler, dag-processor and triggerer, and two Celery workers, each worker
  in its own working directory with its own ``TMPDIR`` and hostname (``worker-1``, ``worker-2``).

Every process gets ``FABRIC_E2E_RUN=<run dir>`` in its environment, and its children inherit it:
:func:`sweep` (and ``scripts/e2e.sh`` when pytest itself dies) finds and ends exactly those
processes, whatever became of their parents. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
RUN_MARKER = "FABRIC_E2E_RUN"
WORKERS = ("worker-1", "worker-2")
BUCKETS = ("lab-sequencing", "lab-lims", "lab-fabric-exports")
#: Base URL of Fabric Enterprise for the extra links (never opened: the links' URLs are checked).
UI_URL = "https://enterprise.fabric.example"
#: The S3 credentials every process gets from its environment, as workers get theirs from an IAM role.
AWS_ENV = {
    "AWS_ACCESS_KEY_ID": "e2e-key",
    "AWS_SECRET_ACCESS_KEY": "e2e-secret",  # a local fake server
    "AWS_DEFAULT_REGION": "us-east-1",
}


class DeploymentError(RuntimeError):
    """A process did not start, or a bounded wait ran out."""


def free_port() -> int:
    """A TCP port free on the loopback interface right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(what: str, check: Callable[[], Any], timeout: float, interval: float = 0.25) -> Any:
    """Call ``check`` until it returns something truthy (exceptions count as "not yet").

    :raises DeploymentError: ``timeout`` seconds passed; the message names ``what`` and the last error.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            value = check()
            if value:
                return value
            last = value
        except DeploymentError:  # a process died: waiting longer cannot help
            raise
        except Exception as err:  # not up yet
            last = err
        if time.monotonic() > deadline:
            raise DeploymentError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r:.500})")
        time.sleep(interval)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for stat in glob.glob("/proc/[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            text = Path(stat).read_text()
            pid = int(text.split(" ", 1)[0])
            ppid = int(text.rsplit(")", 1)[1].split()[1])
            tree.setdefault(ppid, []).append(pid)
    return tree


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its descendants (read from ``/proc``), parents first."""
    tree, found, todo = _children(), [], [pid]
    while todo:
        current = todo.pop(0)
        found.append(current)
        todo += tree.get(current, [])
    return found


def _signal_all(pids: Sequence[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def kill_tree(pid: int) -> list[int]:
    """Freeze, then SIGKILL ``pid`` and every descendant, as if its machine had died; return the PIDs."""
    pids = process_tree(pid)
    _signal_all(pids, signal.SIGSTOP)  # nothing forks or exits cleanly in between
    pids = sorted(set(pids) | set(process_tree(pid)))
    _signal_all(pids, signal.SIGKILL)
    return pids


def sweep(run_dir: str | os.PathLike[str]) -> list[int]:
    """SIGKILL every process whose environment carries this run's marker (never the caller); return them."""
    marker = f"{RUN_MARKER}={run_dir}".encode()
    me = {os.getpid(), os.getppid()}
    found = []
    for environ in glob.glob("/proc/[0-9]*/environ"):
        with contextlib.suppress(OSError, ValueError):
            pid = int(environ.split("/")[2])
            if pid not in me and marker in Path(environ).read_bytes().split(b"\0"):
                found.append(pid)
    _signal_all(found, signal.SIGKILL)
    return found


class Service:
    """One long-running process: started in its own session, its output in ``LOG_DIR/NAME.log``.

    :param name: the service's name (also its log's name).
    :param argv: the command line (no shell).
    :param env: its whole environment.
    :param cwd: its working directory.
    :param log_dir: where its log goes.
    :param user: run as this user (PostgreSQL refuses to run as root).
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        env: dict[str, str],
        cwd: Path,
        log_dir: Path,
        user: str | None = None,
    ) -> None:
        self.name, self.argv, self.env, self.cwd, self.user = name, list(argv), env, cwd, user
        self.log_path = log_dir / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None
        #: PIDs of every start, oldest first.
        self.pids: list[int] = []

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} is not running"
        return self.process.pid

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> Service:
        self.cwd.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"\n==== start {' '.join(self.argv)}\n".encode())
            log.flush()
            self.process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                self.argv,
                env=self.env,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                user=self.user,
            )
        self.pids.append(self.process.pid)
        return self

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, wait up to ``timeout``, then SIGKILL what is left of its tree; return the exit code."""
        if self.process is None:
            return None
        tree = process_tree(self.process.pid)
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        _signal_all(tree[1:], signal.SIGKILL)  # children it left behind
        code = self.process.returncode
        self.process = None
        return code

    def kill(self) -> list[int]:
        """SIGKILL the whole process tree at once (a lost machine); return the PIDs killed."""
        assert self.process is not None, f"{self.name} is not running"
        pids = kill_tree(self.process.pid)
        self.process.wait(10)
        self.process = None
        return pids

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            tail = "\n".join(self.log_text().splitlines()[-40:])
            raise DeploymentError(f"{self.name} exited with {self.process.returncode}:\n{tail}")


class Deployment:
    """The whole distributed deployment; see the module docstring.

    :param run_dir: scratch space (databases, homes, workers' folders); removed by :meth:`stop`.
    :param output: kept after the run: ``logs/`` of every process, and whatever the tests save.
    :param dags: DAG files copied into the dags folder (the example DAGs and the e2e ones).
    """

    def __init__(self, run_dir: Path, output: Path, dags: Sequence[Path]) -> None:
        self.run_dir, self.output, self.dags = run_dir, output, list(dags)
        self.logs = output / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.services: dict[str, Service] = {}
        self.ports = {name: free_port() for name in ("postgres", "redis", "s3", "api")}
        self.sandbox: Any = None
        self.base_env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("AIRFLOW", "AWS_", "PYTEST", "FABRIC_"))
        }
        self.base_env[RUN_MARKER] = str(run_dir)
        self.airflow_env: dict[str, str] = {}
        self.api_url = f"http://127.0.0.1:{self.ports['api']}"
        self.s3_url = f"http://127.0.0.1:{self.ports['s3']}"
        self.http = requests.Session()

    # ------------------------------------------------------------------ services

    def _service(self, name: str, argv: Sequence[str], env: dict[str, str], **kwargs: Any) -> Service:
        service = Service(name, argv, env=env, log_dir=self.logs, **kwargs)
        self.services[name] = service
        return service.start()

    def start(self) -> Deployment:
        """Start everything and wait until each part answers (bounded); :meth:`stop` cleans up on failure."""
        self.run_dir.chmod(0o755)  # PostgreSQL runs as its own user and must reach its data directory
        self._start_postgres()
        self._start_redis()
        self._start_s3()
        self._start_sandbox()
        self._wait_postgres()
        self._configure_airflow()
        self._migrate()
        self._start_airflow()
        return self

    def stop(self) -> None:
        """Stop every process (Airflow first, then the servers), sweep leftovers, remove the run dir."""
        order = [name for name in self.services if name.startswith(("worker", "airflow"))]
        order += [name for name in self.services if name not in order]
        for name in order:
            with contextlib.suppress(Exception):
                self.services[name].stop()
        if self.sandbox is not None:
            with contextlib.suppress(Exception):
                self.sandbox.stop()
            for log in self.sandbox.data_dir.glob("*.log"):
                shutil.copy(log, self.logs / f"sandbox-{log.name}")
        sweep(self.run_dir)
        task_logs = self.run_dir / "airflow-home" / "logs"
        if task_logs.is_dir():
            shutil.copytree(task_logs, self.logs / "tasks", dirs_exist_ok=True)
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def _start_postgres(self) -> None:
        versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
        if not versions:
            raise DeploymentError(
                "PostgreSQL server binaries not found: run scripts/system_deps.sh postgresql"
            )
        bindir = Path(versions[-1]).parent
        data, sockets = self.run_dir / "pgdata", self.run_dir / "pgsock"
        user = "postgres" if os.geteuid() == 0 else None
        for folder in (data, sockets):
            folder.mkdir(mode=0o700)
            if user:
                shutil.chown(folder, user, user)
        env = {**self.base_env, "LC_ALL": "C.UTF-8"}
        subprocess.run(  # noqa: S603 - fixed argv
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "airflow",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            env=env,
            cwd=self.run_dir,
            user=user,
            check=True,
            capture_output=True,
            timeout=120,
        )
        argv = [
            str(bindir / "postgres"),
            "-D",
            str(data),
            "-p",
            str(self.ports["postgres"]),
            "-k",
            str(sockets),
        ]
        # a test database: durability settings off, connections for 6 Airflow processes and their tasks
        for setting in (
            "listen_addresses=127.0.0.1",
            "fsync=off",
            "synchronous_commit=off",
            "full_page_writes=off",
            "max_connections=300",
        ):
            argv += ["-c", setting]
        self._service("postgres", argv, env, cwd=self.run_dir, user=user)

    def _wait_postgres(self) -> None:
        import psycopg2

        def create_db() -> bool:
            self.services["postgres"].check_alive()
            conn = psycopg2.connect(
                host="127.0.0.1", port=self.ports["postgres"], user="airflow", dbname="postgres"
            )
            conn.autocommit = True  # CREATE DATABASE cannot run in a transaction
            try:
                with conn.cursor() as cursor:
                    cursor.execute("SELECT 1 FROM pg_database WHERE datname = 'airflow'")
                    if cursor.fetchone() is None:
                        cursor.execute("CREATE DATABASE airflow")
            finally:
                conn.close()
            return True

        wait_for("PostgreSQL", create_db, timeout=60)

    def _start_redis(self) -> None:
        server = shutil.which("redis-server")
        if not server:
            raise DeploymentError("redis-server not found: run scripts/system_deps.sh redis-server")
        folder = self.run_dir / "redis"
        folder.mkdir()
        argv = [
            server,
            "--port",
            str(self.ports["redis"]),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
            "--daemonize",
            "no",
        ]
        self._service("redis", argv, dict(self.base_env), cwd=folder)

        def ping() -> bool:
            self.services["redis"].check_alive()
            with socket.create_connection(("127.0.0.1", self.ports["redis"]), timeout=2) as conn:
                conn.sendall(b"PING\r\n")
                return conn.recv(16).startswith(b"+PONG")

        wait_for("Redis", ping, timeout=30)

    def _start_s3(self) -> None:
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.ports["s3"])]
        self._service("s3", argv, dict(self.base_env), cwd=self.run_dir / "s3")
        client = self.s3()

        def ready() -> bool:
            self.services["s3"].check_alive()
            for bucket in BUCKETS:
                client.create_bucket(Bucket=bucket)
            return True

        wait_for("the moto S3 server", ready, timeout=60)

    def s3(self) -> Any:
        """A boto3 S3 client of the moto server."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.s3_url,
            region_name=AWS_ENV["AWS_DEFAULT_REGION"],
            aws_access_key_id=AWS_ENV["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=AWS_ENV["AWS_SECRET_ACCESS_KEY"],
        )

    def _start_sandbox(self) -> None:
        from airflow_provider_fabric.sandbox.process import SandboxProcess

        # The sandbox helper starts its process from this one's environment: mark it as ours too.
        os.environ[RUN_MARKER] = str(self.run_dir)
        self.sandbox = SandboxProcess(self.run_dir / "sandbox", looks=2, record_requests=True).start()

    def connection(self) -> dict[str, Any]:
        """The ``fabric_genomics_default`` connection every Airflow process gets (with ``ui_url``)."""
        conn = json.loads(self.sandbox.conn_json())
        conn["extra"]["ui_url"] = UI_URL
        return conn

    # ------------------------------------------------------------------ Airflow

    def _configure_airflow(self) -> None:
        home, dags = self.run_dir / "airflow-home", self.run_dir / "dags"
        (home / "config").mkdir(parents=True)
        dags.mkdir()
        for dag in self.dags:
            shutil.copy(dag, dags / dag.name)
        # Cluster policy of this deployment (routes the trio's uploads to alternate workers).
        shutil.copy(HERE / "airflow_local_settings.py", home / "config" / "airflow_local_settings.py")
        db = f"airflow@127.0.0.1:{self.ports['postgres']}/airflow"
        self.airflow_env = {
            **self.base_env,
            **AWS_ENV,
            "AWS_ENDPOINT_URL": self.s3_url,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://{db}",
            "AIRFLOW__CELERY__BROKER_URL": f"redis://127.0.0.1:{self.ports['redis']}/0",
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{db}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
            "AIRFLOW__CORE__FERNET_KEY": _fernet_key(),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__API__WORKERS": "1",
            # Everyone is an admin of this throw-away deployment: the browser and REST calls need no login.
            "AIRFLOW__CORE__AUTH_MANAGER": (
                "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
            ),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
            "AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE": "True",
            # A killed worker's task is declared lost after 30 s without heartbeat (default 5 min).
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
            "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "2",
            # Airflow calls a triggerer down after 10 s without heartbeat (default 30 s).
            "AIRFLOW__TRIGGERER__TRIGGERER_HEALTH_CHECK_THRESHOLD": "10",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW_CONN_FABRIC_GENOMICS_DEFAULT": json.dumps(self.connection()),
            "FABRIC_EXAMPLE_POKE_INTERVAL": "1",
            "FABRIC_EXAMPLE_RETRY_DELAY": "1",
            "PYTHONPATH": str(HERE / "workers"),
        }

    def airflow(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        """Run an ``airflow`` CLI command against this deployment (bounded); fail with its output."""
        done = subprocess.run(  # noqa: S603 - our own interpreter
            [sys.executable, "-m", "airflow", *args],
            env=self.airflow_env,
            cwd=self.run_dir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise DeploymentError(
                f"airflow {' '.join(args)}: exit {done.returncode}\n"
                f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        return done

    def _migrate(self) -> None:
        done = self.airflow("db", "migrate", timeout=600)
        (self.logs / "db-migrate.log").write_text(done.stdout + done.stderr)

    def _start_airflow(self) -> None:
        airflow = [sys.executable, "-m", "airflow"]
        env, home = self.airflow_env, self.run_dir / "airflow-home"
        self._service(
            "airflow-api-server",
            [*airflow, "api-server", "--host", "127.0.0.1", "--port", str(self.ports["api"])],
            env,
            cwd=home,
        )
        self._service("airflow-scheduler", [*airflow, "scheduler", "--skip-serve-logs"], env, cwd=home)
        self._service("airflow-dag-processor", [*airflow, "dag-processor"], env, cwd=home)
        self.start_triggerer()
        for worker in WORKERS:
            self.start_worker(worker)
        wait_for("the api-server", lambda: self.health(), timeout=180)
        wait_for("scheduler, dag-processor and triggerer heartbeats", self._healthy, timeout=180)

    def start_triggerer(self) -> Service:
        home = self.run_dir / "airflow-home"
        argv = [sys.executable, "-m", "airflow", "triggerer", "--skip-serve-logs"]
        return self._service("airflow-triggerer", argv, self.airflow_env, cwd=home)

    def start_worker(self, name: str) -> Service:
        """Start (or restart) a Celery worker in its own folder, with its own TMPDIR and hostname.

        It serves the ``default`` queue and one named after itself (see ``airflow_local_settings.py``).
        """
        folder = self.run_dir / name
        (folder / "tmp").mkdir(parents=True, exist_ok=True)
        env = {
            **self.airflow_env,
            "TMPDIR": str(folder / "tmp"),
            "FABRIC_E2E_WORKER": name,
            # Task instances record the worker's name as their hostname (both workers share this host).
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "workerhost.hostname",
        }
        argv = [
            sys.executable,
            "-m",
            "airflow",
            "celery",
            "worker",
            "--skip-serve-logs",
            "--celery-hostname",
            f"{name}@%h",
            "--queues",
            f"default,{name}",
            "--concurrency",
            "2",
        ]
        service = self._service(name, argv, env, cwd=folder)
        wait_for(f"{name} to join the Celery cluster", lambda: self._worker_ready(name), timeout=120)
        return service

    def _worker_ready(self, name: str) -> bool:
        service = self.services[name]
        service.check_alive()
        this_start = service.log_text().rsplit("==== start", 1)[-1]
        return re.search(rf"{re.escape(name)}@\S+ ready\.", this_start) is not None

    def health(self) -> dict[str, Any]:
        return self.http.get(f"{self.api_url}/api/v2/monitor/health", timeout=10).json()

    def _healthy(self) -> bool:
        for service in self.services.values():
            service.check_alive()
        health = self.health()
        parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
        return all((health.get(part) or {}).get("status") == "healthy" for part in parts)

    # ------------------------------------------------------------------ REST API

    def api(self, method: str, path: str, **kwargs: Any) -> Any:
        """Call the REST API (``/api/v2`` + ``path``) and return its JSON; fail on an error status."""
        kwargs.setdefault("timeout", 30)
        answer = self.http.request(method, f"{self.api_url}/api/v2{path}", **kwargs)
        if answer.status_code >= 400:
            raise DeploymentError(f"{method} {path}: HTTP {answer.status_code}: {answer.text[:1000]}")
        return answer.json() if answer.content else None


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


@contextlib.contextmanager
def deployment(output: Path, dags: Sequence[Path]) -> Iterator[Deployment]:
    """Start a :class:`Deployment` (in a new run dir under ``TMPDIR``); stop it whatever happens."""
    import tempfile

    run_dir = Path(tempfile.mkdtemp(prefix="fabric-e2e-"))
    (output / "run-dir").write_text(str(run_dir))
    deploy = Deployment(run_dir, output, dags)
    try:
        yield deploy.start()
    finally:
        deploy.stop()
