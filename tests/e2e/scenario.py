"""The distributed end-to-end scenario, step by step, against a running :class:`~deployment.Deployment`.

Every run is triggered through Airflow (REST API, or the scheduler itself), never ``dag.test()``;
every wait is gated on state someone can observe — task instance states from the REST API, the
sandbox's request log — and bounded. Nothing is asserted on timing or poll counts. Each step
records what it saw in :attr:`Scenario.record`; the tests assert on that record and on server
state (the sandbox's objects, the S3 bucket), and ``e2e-output/summary.json`` keeps it.

Steps (see ``docs/distributed.md``):

1. :meth:`Scenario.panel_with_worker_kill` — the panel DAG; the sandbox holds its upload (a
   scripted ``hold``) while the worker running it is SIGKILLed with all its processes; the task
   is retried, and the worker restarted.
2. :meth:`Scenario.start_trio` and :meth:`Scenario.start_intake` — the trio DAG (its mapped
   uploads routed to both workers) and the first scheduled intake run, in parallel.
3. :meth:`Scenario.start_signout` — a sign-out watch: twelve sensors deferred to the triggerer.
4. :meth:`Scenario.second_intake` — a new sequencing run lands; the second intake run, through
   the REST API; :meth:`Scenario.restart_triggerer` stops the triggerer while the twelve wait and
   until the new run's four annotation sensors have deferred too, starts it again, and the
   reports are signed out.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from deployment import ROOT, WORKERS, Deployment, wait_for

PANEL, TRIO, INTAKE, SIGNOUT = (
    "example_fabric_panel",
    "example_fabric_trio",
    "example_fabric_intake",
    "e2e_signout",
)
TERMINAL = ("success", "failed")
UPLOAD_PATH = r"^/projects/\d+/genomes$"
PANEL_RECORDS = 300
SIGNOUT_REPORTS = 12
SIGNOUT_POKE_INTERVAL = 2.0
RUN_TIMEOUT = 420.0


class Scenario:
    """The scenario's steps and what they saw (:attr:`record`).

    :param deploy: the running deployment.
    :param inputs: a scratch folder for generated inputs.
    """

    def __init__(self, deploy: Deployment, inputs: Path) -> None:
        self.deploy, self.inputs = deploy, inputs
        self.sandbox = deploy.sandbox
        self.s3 = deploy.s3()
        self.record: dict[str, Any] = {"runs": {}}

    # ------------------------------------------------------------------ Airflow through its REST API

    def unpause(self, dag_id: str) -> None:
        wait_for(f"{dag_id} to be parsed", lambda: self.deploy.api("GET", f"/dags/{dag_id}"), timeout=180)
        self.deploy.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Trigger a run through the REST API; return its run ID."""
        self.unpause(dag_id)
        run = self.deploy.api(
            "POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}}
        )
        self.record["runs"].setdefault(dag_id, []).append(run["dag_run_id"])
        return str(run["dag_run_id"])

    def run_state(self, dag_id: str, run_id: str) -> dict[str, Any]:
        return self.deploy.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        answer = self.deploy.api(
            "GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000}
        )
        return list(answer["task_instances"])

    def tries(self, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> list[dict[str, Any]]:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}"
        path += f"/{map_index}/tries" if map_index >= 0 else "/tries"
        return list(self.deploy.api("GET", path)["task_instances"])

    def wait_tis(
        self, dag_id: str, run_id: str, what: str, done: Callable[[list[dict[str, Any]]], Any], timeout: float
    ) -> Any:
        def check() -> Any:
            self._alive()
            return done(self.task_instances(dag_id, run_id))

        return wait_for(what, check, timeout=timeout, interval=0.5)

    def wait_run(self, dag_id: str, run_id: str, timeout: float = RUN_TIMEOUT) -> str:
        """Wait until the run ends (bounded); record its state and where each task ran."""

        def ended() -> str | None:
            self._alive()
            state = self.run_state(dag_id, run_id)["state"]
            return state if state in TERMINAL else None

        state = wait_for(f"{dag_id} run {run_id} to end", ended, timeout=timeout, interval=1.0)
        tis = self.task_instances(dag_id, run_id)
        self.record.setdefault("outcomes", {})[run_id] = {
            "dag_id": dag_id,
            "state": state,
            "run_type": self.run_state(dag_id, run_id).get("run_type"),
            "tasks": [
                {
                    "task_id": ti["task_id"],
                    "map_index": ti["map_index"],
                    "state": ti["state"],
                    "worker": ti["hostname"],
                    "try_number": ti["try_number"],
                }
                for ti in sorted(tis, key=lambda ti: (ti["task_id"], ti["map_index"]))
            ],
        }
        return str(state)

    def _alive(self) -> None:
        for service in self.deploy.services.values():
            service.check_alive()

    # ------------------------------------------------------------------ inputs in S3

    def put(self, bucket: str, key: str, path: Path) -> str:
        self.s3.upload_file(str(path), bucket, key)
        return f"s3://{bucket}/{key}"

    def panel_conf(self) -> dict[str, Any]:
        from airflow_provider_fabric.testing.vcfgen import write_vcf

        folder = self.inputs / "panel"
        folder.mkdir(parents=True, exist_ok=True)
        vcf = write_vcf(folder / "SAMPLE-0001.vcf", PANEL_RECORDS, sample="SAMPLE-0001", seed=7)
        pad_header(vcf, socket_buffers() + (8 << 20))
        (folder / "fields.json").write_text(
            json.dumps({"First Name": "Alexandra", "Patient DOB": "1980-01-01"})
        )
        (folder / "qc.json").write_text(
            json.dumps({"Total Reads": 5_200_000, "Mean Coverage": 412.5, "Percent Q30": 93.1})
        )
        return {
            "project_name": "E2E hereditary cancer panels",
            "vcf_path": self.put("lab-sequencing", "incoming/run-0001/SAMPLE-0001.vcf", vcf),
            "genome_label": "SAMPLE-0001",
            "genome_sex": "female",
            "external_id": "LAB-SAMPLE-0001",
            "accession_id": "ACC-0001",
            "panel_test_code": "HC-101",  # the sandbox catalogue's Hereditary Cancer Panel
            "patient_fields_path": self.put(
                "lab-lims", "orders/ACC-0001/patient_fields.json", folder / "fields.json"
            ),
            "qc_data_path": self.put(
                "lab-sequencing", "incoming/run-0001/SAMPLE-0001.qc.json", folder / "qc.json"
            ),
            "output_base": "s3://lab-fabric-exports",
        }

    def trio_conf(self) -> dict[str, Any]:
        """The family's VCFs and manifest in S3, where the trio DAG's mapped uploads read them."""
        sys.path.insert(0, str(ROOT / "dags_examples"))
        from example_fabric_trio import build_demo_family

        manifest = Path(build_demo_family(str(self.inputs / "family"), "FAM-0001"))
        for path in sorted(manifest.parent.iterdir()):
            self.put("lab-sequencing", f"families/FAM-0001/{path.name}", path)
        return {
            "project_name": "E2E exome family studies",
            "manifest_path": f"s3://lab-sequencing/families/FAM-0001/{manifest.name}",
            "accession_id": "ACC-FAM-0001",
            "output_base": "s3://lab-fabric-exports",
        }

    def land(self, run: str, seed: int) -> None:
        """A sequencing run's VCFs and manifest into the intake's landing area (the DAG's default)."""
        from airflow_provider_fabric.testing.intake import build_demo_landing

        folder = Path(build_demo_landing(str(self.inputs / "landing"), run, bad=False, seed=seed))
        for path in sorted(folder.iterdir()):
            self.put("lab-sequencing", f"landing/{run}/{path.name}", path)

    # ------------------------------------------------------------------ 1. panel, worker killed mid-upload

    def panel_with_worker_kill(self) -> str:
        """Trigger the panel DAG, SIGKILL the worker whose upload is in flight, restart it; return the run."""
        conf = self.panel_conf()
        # The sandbox holds the next upload before reading it, until released: the worker is stuck
        # mid-body (the VCF is larger than the socket buffers), the kill lands there for sure.
        self.sandbox.set_faults(script=[{"kind": "hold", "method": "PUT", "path": UPLOAD_PATH}])
        run_id = self.trigger(PANEL, conf)
        try:
            running = self.wait_tis(
                PANEL,
                run_id,
                "the panel's upload to be held by the sandbox, running on a worker",
                lambda tis: self._upload_held(tis),
                timeout=240,
            )
            victim = running["hostname"]
            killed = self.deploy.services[victim].kill()
            released = self.sandbox.release_held()
            wait_for("the sandbox to end the killed upload", lambda: self.uploads_answered() == 1, 60)
        finally:
            self.sandbox.clear_faults()
        self.record["kill"] = {
            "run_id": run_id,
            "task": "upload_genome",
            "worker": victim,
            "try_number": running["try_number"],
            "pids_killed": len(killed),
            "held_requests_released": released,
            "genomes_after_the_killed_try": len(self.genomes(conf["external_id"])),
        }
        self.deploy.start_worker(victim)  # as a supervisor (systemd, Kubernetes) would bring it back
        return run_id

    def _upload_held(self, tis: list[dict[str, Any]]) -> dict[str, Any] | None:
        upload = next((ti for ti in tis if ti["task_id"] == "upload_genome"), None)
        if not upload or upload["state"] != "running" or upload["hostname"] not in WORKERS:
            return None
        return upload if self.sandbox.faults()["holding"] == 1 else None

    def genomes(self, external_id: str) -> list[dict[str, Any]]:
        return [g for g in self.sandbox.state()["genomes"] if g["external_id"] == external_id]

    def uploads_answered(self) -> int:
        """Uploads the sandbox has finished with (its access log writes a line as each one ends)."""
        log = (self.sandbox.data_dir / "access.log").read_text()
        return len(re.findall(r" PUT /projects/\d+/genomes \S+ ", log))

    # ------------------------------------------------------------------ 2. trio and the first intake run

    def start_trio(self) -> str:
        return self.trigger(TRIO, self.trio_conf())

    def start_intake(self) -> str:
        """Land run-0001 and unpause the intake DAG: the scheduler creates its scheduled run."""
        self.land("run-0001", seed=0)
        self.unpause(INTAKE)

        def scheduled() -> str | None:
            runs = self.deploy.api("GET", f"/dags/{INTAKE}/dagRuns", params={"run_type": "scheduled"})[
                "dag_runs"
            ]
            return str(runs[0]["dag_run_id"]) if runs else None

        run_id = wait_for("the intake's scheduled run", scheduled, timeout=120)
        self.record["runs"].setdefault(INTAKE, []).append(run_id)
        return run_id

    def second_intake(self) -> str:
        """Land run-0002 and trigger the next intake run through the REST API."""
        self.land("run-0002", seed=100)
        return self.trigger(INTAKE)

    def intake_runs(self) -> list[str]:
        """Every intake run, oldest first. Besides the two above, the scheduler starts one more
        whenever the scenario crosses the top of an hour (the DAG is hourly): the checks count it."""
        runs = self.deploy.api("GET", f"/dags/{INTAKE}/dagRuns", params={"order_by": "run_after"})
        return [str(run["dag_run_id"]) for run in runs["dag_runs"]]

    def finish_intake(self) -> list[str]:
        """Wait for every intake run (bounded) and record them all, oldest first."""
        runs = self.intake_runs()
        for run_id in runs:
            self.wait_run(INTAKE, run_id)
        self.record["runs"][INTAKE] = runs
        return runs

    # ------------------------------------------------------------------ 3. sign-out, triggerer restarted

    def signout_reports(self) -> list[int]:
        """Twelve panel reports on one annotated genome (test set-up through the hook)."""
        from airflow_provider_fabric.hooks.fabric import FabricHook
        from airflow_provider_fabric.testing.vcfgen import write_vcf

        hook = FabricHook()
        project = hook.create_project("E2E sign-out")["id"]
        vcf = write_vcf(self.inputs / "SIGNOUT.vcf.gz", 200, sample="SIGNOUT", compression="gz", seed=3)
        genome = hook.upload_genome(
            project, vcf, genome_label="SIGNOUT", genome_sex="male", external_id="LAB-SO"
        )
        gid = genome["genome_id"]
        wait_for(
            "the sign-out genome's annotation", lambda: hook.get_genome(gid)["status"] == "ANNOTATED", 60
        )
        return [
            int(
                hook.create_panel_report(
                    panel_id=101, proband_genome_id=gid, accession_id=f"SIGNOUT-{n:02d}"
                )["id"]
            )
            for n in range(1, SIGNOUT_REPORTS + 1)
        ]

    def report_gets(self, report_ids: list[int]) -> dict[int, list[float]]:
        """Arrival times of every GET of each report, from the sandbox's request log."""
        wanted = {f"/reports/{rid}": rid for rid in report_ids}
        seen: dict[int, list[float]] = {rid: [] for rid in report_ids}
        for request in self.sandbox.requests_seen():
            path = request["url"].split("?")[0].rstrip("/")
            if request["method"] == "GET" and path in wanted:
                seen[wanted[path]].append(float(request["at"]))
        return seen

    def start_signout(self) -> str:
        """Trigger the sign-out watch over twelve reports; wait until all twelve sensors are deferred
        and each trigger has looked at its report (after the sensor's own look)."""
        reports = self.signout_reports()
        run_id = self.trigger(SIGNOUT, {"report_ids": reports, "output_base": "s3://lab-fabric-exports"})

        def deferred(tis: list[dict[str, Any]]) -> bool:
            sensors = [ti for ti in tis if ti["task_id"] == "wait_for_signout" and ti["map_index"] >= 0]
            return len(sensors) == len(reports) and all(ti["state"] == "deferred" for ti in sensors)

        self.wait_tis(SIGNOUT, run_id, f"{len(reports)} sign-out sensors to defer", deferred, timeout=300)
        wait_for(
            "every trigger's first look",
            lambda: all(len(times) >= 2 for times in self.report_gets(reports).values()),
            timeout=120,
        )
        self.record["triggerer"] = {
            "run_id": run_id,
            "reports": reports,
            "poke_interval": SIGNOUT_POKE_INTERVAL,
        }
        return run_id

    def restart_triggerer(self, first_intake: str) -> None:
        """Stop the triggerer under the deferred sign-out sensors; start it again once the next intake
        run (any after ``first_intake``) has deferred its four annotation sensors too; then sign the
        reports out."""
        from airflow_provider_fabric.hooks.fabric import FabricHook

        signout, reports = self.record["triggerer"]["run_id"], self.record["triggerer"]["reports"]
        triggerer = self.deploy.services["airflow-triggerer"]
        old_pid = triggerer.pid
        code = triggerer.stop()
        stopped_at = time.monotonic()

        def waiting() -> list[tuple[str, str]]:
            later = [(INTAKE, run_id) for run_id in self.intake_runs() if run_id != first_intake]
            return [
                (dag_id, ti["task_id"])
                for dag_id, run_id in ((SIGNOUT, signout), *later)
                for ti in self.task_instances(dag_id, run_id)
                if ti["state"] == "deferred"
            ]

        def piled_up() -> list[tuple[str, str]] | None:
            self._alive()
            deferred = waiting()
            annotations = sum(1 for _, task_id in deferred if task_id == "sample.wait_for_annotation")
            return deferred if annotations >= 4 else None

        # Down until new waits pile up behind it: the intake's sensors defer with no triggerer to run them.
        deferred = wait_for("the next intake run's sensors to defer", piled_up, timeout=300, interval=0.5)
        health = (self.deploy.health().get("triggerer") or {}).get("status")
        restarted_at = time.monotonic()
        self.deploy.start_triggerer()
        wait_for(
            "every trigger to look again after the restart",
            lambda: all(any(t > restarted_at for t in times) for times in self.report_gets(reports).values()),
            timeout=180,
        )
        # The director signs the reports out; Fabric allows it once they are processed.
        wait_for(
            "the sign-out reports to be processed", lambda: self._statuses(reports) == {"READY TO REVIEW"}, 60
        )
        hook = FabricHook()
        for report_id in reports:
            hook.update_report_status(report_id, "APPROVED")
        self.record["triggerer"].update(
            {
                "old_pid": old_pid,
                "new_pid": self.deploy.services["airflow-triggerer"].pid,
                "exit_code": code,
                "health_while_stopped": health,
                "stopped_at": stopped_at,
                "restarted_at": restarted_at,
                "stopped_s": round(restarted_at - stopped_at, 1),
                "deferred_while_stopped": dict(Counter(task for _, task in deferred)),
            }
        )

    def _statuses(self, report_ids: list[int]) -> set[str]:
        wanted = set(report_ids)
        return {r["status"] for r in self.sandbox.state()["reports"] if r["id"] in wanted}


def socket_buffers() -> int:
    """The most bytes of one TCP stream the kernel can hold on the way: the largest send buffer
    plus the largest receive buffer it grows to (``tcp_wmem`` and ``tcp_rmem``, third values)."""
    sysctl = Path("/proc/sys/net/ipv4")
    return sum(int((sysctl / name).read_text().split()[2]) for name in ("tcp_wmem", "tcp_rmem"))


def pad_header(vcf: Path, size: int) -> None:
    """Grow a VCF to ``size`` bytes with ``##`` comment lines after its first line (same records).

    An upload of it cannot fit in the socket buffers: a worker killed while the server holds the
    request is stuck mid-body, whatever the kernel buffered.
    """
    lines = vcf.read_bytes().split(b"\n", 1)
    filler = b"##e2e_padding=" + b"N" * 1000 + b"\n"
    count = max(size - vcf.stat().st_size, 0) // len(filler) + 1
    with vcf.open("wb") as out:
        out.write(lines[0] + b"\n")
        for _ in range(count):
            out.write(filler)
        out.write(lines[1])


def scratch() -> Path:
    return Path(tempfile.mkdtemp(prefix="fabric-e2e-inputs-"))
