"""The one-command demo's driver: example clinical DAGs end to end against a local fabric-sandbox.

Run through ``make demo`` / ``bash scripts/demo.sh`` (which builds the
environment, makes a throw-away ``AIRFLOW_HOME`` pointing at
``dags_examples/`` and migrates its database), or directly with those set::

    python scripts/demo.py [--output demo-output] [--records 300] [--fail-annotation]

It generates synthetic hg19 VCFs (no PHI anywhere), starts ``fabric-sandbox``
on a free port with its own private CA, points ``fabric_genomics_default`` at
it, runs ``example_fabric_panel``, ``example_fabric_trio`` and
``example_fabric_confirmation`` one after the other with ``dag.test()`` (each
in its own process, its log in ``OUTPUT/logs/``), then two hourly runs of the
scheduled ``example_fabric_intake`` over a landing folder (the second run
finds one new sequencing run; a GRCh38 VCF in the first is refused on its
own while the other samples go through) and the Asset-scheduled
``example_fabric_lims_sync``; then it stops the sandbox and prints a
one-screen summary. ``--fail-annotation`` also runs the panel DAG on a VCF
whose annotation the sandbox fails, to show the DAG failing fast with the
reason. Exit status 0 when every DAG ended as expected.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DAGS = {
    "panel": "example_fabric_panel",
    "trio": "example_fabric_trio",
    "confirmation": "example_fabric_confirmation",
    "intake": "example_fabric_intake",
    "lims_sync": "example_fabric_lims_sync",
}
#: Logical dates of the two scheduled intake runs shown, an hour apart.
INTAKE_RUNS = ("2026-01-05T10:00:00+00:00", "2026-01-05T11:00:00+00:00")


# -- inputs -------------------------------------------------------------------------------------------


def make_inputs(inputs: Path, records: int) -> dict[str, Any]:
    """Write the synthetic VCFs, manifest, patient fields and QC files; return the DAG confs."""
    from airflow_provider_fabric.sandbox.lifecycle import FAIL_ANNOTATION_MARKER
    from airflow_provider_fabric.testing.vcfgen import write_vcf

    panel = inputs / "panel"
    panel.mkdir(parents=True)
    write_vcf(panel / "DEMO-0001.vcf.gz", records, sample="DEMO-0001", compression="gz", seed=7)
    write_vcf(
        panel / "DEMO-0002-bad.vcf.gz",
        records,
        sample="DEMO-0002",
        compression="gz",
        seed=8,
        source=FAIL_ANNOTATION_MARKER,
    )
    fields = {  # made up: the demo has no patients
        "First Name": "Demo",
        "Last Name": "Patient",
        "Patient DOB": "1980-01-01",
        "Patient Sex": "Female",
        "Indication for Testing": "Family history of breast cancer (synthetic demo)",
        "Accession ID": "ACC-DEMO-0001",
        "Ordering Physician": "Dr. Demo",
        "Specimen Type": "Blood",
    }
    (panel / "patient_fields.json").write_text(json.dumps(fields, indent=2))
    # Named as the panel's assay type defines them (the sandbox's "Targeted Panel", GET /assay_types/1).
    qc = {"Total Reads": 5_200_000, "Mean Coverage": 412.5, "Percent Bases 100x": 97.3, "Percent Q30": 93.1}
    (panel / "qc.json").write_text(json.dumps(qc, indent=2))

    sys.path.insert(0, str(ROOT / "dags_examples"))
    from example_fabric_trio import build_demo_family

    manifest = build_demo_family(str(inputs / "family"), "FAM-DEMO", records=records)

    outputs = str(inputs.parent / "exports")
    panel_conf = {
        "project_name": "Demo hereditary cancer panels",
        "vcf_path": str(panel / "DEMO-0001.vcf.gz"),
        "genome_label": "DEMO-0001",
        "genome_sex": "female",
        "external_id": "LAB-DEMO-0001",
        "accession_id": "ACC-DEMO-0001",
        "panel_test_code": "HC-101",  # the sandbox catalogue's Hereditary Cancer Panel
        "patient_fields_path": str(panel / "patient_fields.json"),
        "qc_data_path": str(panel / "qc.json"),
        "output_base": outputs,
    }
    return {
        "panel": panel_conf,
        "panel_failing": {
            **panel_conf,
            "vcf_path": str(panel / "DEMO-0002-bad.vcf.gz"),
            "genome_label": "DEMO-0002",
            "external_id": "LAB-DEMO-0002",
            "accession_id": "ACC-DEMO-0002",
        },
        "trio": {
            "project_name": "Demo exome family studies",
            "manifest_path": manifest,
            "accession_id": "ACC-DEMO-FAM-0001",
            "output_base": outputs,
        },
        "confirmation": {"output_base": outputs},  # report_id added once the trio report exists
    }


# -- running one DAG ------------------------------------------------------------------------------------


def run_dag_here(dag_id: str, conf: dict[str, Any], result_path: Path, logical_date: str | None) -> int:
    """Child process: ``dag.test()`` one DAG from the configured dags folder; write its task states."""
    from datetime import datetime

    from airflow_provider_fabric.testing.dagbag import dag_bag

    bag = dag_bag(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        result_path.write_text(json.dumps({"state": "import_error", "errors": bag.import_errors}))
        return 1
    dag = bag.get_dag(dag_id)
    assert dag is not None, dag_id
    when = datetime.fromisoformat(logical_date) if logical_date else None
    run = dag.test(run_conf=conf, logical_date=when) if when else dag.test(run_conf=conf)
    tasks = [
        {"task_id": ti.task_id, "map_index": ti.map_index, "state": str(ti.state)}
        for ti in run.get_task_instances()
    ]
    result_path.write_text(json.dumps({"state": str(run.state), "tasks": tasks}))
    return 0 if str(run.state) == "success" else 1


def run_dag(
    name: str,
    dag_id: str,
    conf: dict[str, Any],
    logs: Path,
    env: dict[str, str],
    logical_date: str | None = None,
) -> dict[str, Any]:
    """Run one DAG in a child process (its output to ``logs/NAME.log``) and return its outcome."""
    log, result = logs / f"{name}.log", logs / f"{name}.result.json"
    print(f"  running {dag_id:<30} ", end="", flush=True)
    started = time.monotonic()
    with log.open("wb") as out:
        code = subprocess.call(  # noqa: S603 - our own interpreter and script
            [
                sys.executable,
                __file__,
                "--run-dag",
                dag_id,
                "--conf",
                json.dumps(conf),
                "--result",
                str(result),
                *(["--logical-date", logical_date] if logical_date else []),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    seconds = time.monotonic() - started
    outcome = (
        json.loads(result.read_text()) if result.exists() else {"state": f"crashed ({code})", "tasks": []}
    )
    outcome.update(name=name, dag_id=dag_id, seconds=seconds, log=str(log))
    print(f"{outcome['state']:<8} {seconds:5.1f} s")
    return outcome


def run_intake(
    output: Path, logs: Path, env: dict[str, str], records: int
) -> tuple[bool, list[dict[str, Any]]]:
    """Two hourly runs of the intake DAG over a landing folder, then the LIMS sync its Assets schedule."""
    from airflow_provider_fabric.testing.intake import build_demo_landing

    landing = output / "intake" / "landing"
    env = {
        **env,
        "AIRFLOW_VAR_FABRIC_INTAKE_LANDING_URL": str(landing),
        "AIRFLOW_VAR_FABRIC_INTAKE_OUTPUT_URL": str(output / "intake" / "exports"),
        "AIRFLOW_VAR_FABRIC_LIMS_DROP_URL": str(output / "intake" / "lims-drop"),
        "FABRIC_EXAMPLE_RETRY_DELAY": "1",
    }
    # Run 1 holds a GRCh38 VCF: only its own tasks fail; the run reports it and goes on
    # (fail_on_errors=False keeps the demo's exit status 0; by default the run fails to alert the lab).
    build_demo_landing(str(landing), "run-0001", records=min(records, 60))
    first = run_dag("intake_hour_1", DAGS["intake"], {"fail_on_errors": False}, logs, env, INTAKE_RUNS[0])
    first["note"] = "the GRCh38 sample is refused on its own"
    build_demo_landing(str(landing), "run-0002", bad=False, records=min(records, 60), seed=100)
    second = run_dag("intake_hour_2", DAGS["intake"], {"fail_on_errors": False}, logs, env, INTAKE_RUNS[1])
    second["note"] = "takes in run-0002 only; run-0001's samples are skipped, its GRCh38 VCF refused again"
    lims = run_dag("lims_sync", DAGS["lims_sync"], {}, logs, env)
    outcomes = [first, second, lims]
    return all(o["state"] == "success" for o in outcomes), outcomes


# -- summary --------------------------------------------------------------------------------------------


def count_records(path: Path) -> int:
    """Variant records in a VCF, rows in a CSV, objects in a JSON export."""
    if path.suffix == ".vcf":
        with path.open() as handle:
            return sum(1 for line in handle if line.strip() and not line.startswith("#"))
    if path.suffix == ".csv":
        with path.open(newline="") as handle:
            return max(sum(1 for _ in csv.reader(handle)) - 1, 0)
    return -1


def describe_file(path: Path, output: Path) -> str:
    size = path.stat().st_size
    what = f"{size / 1024:7.1f} KiB"
    if path.suffix in (".vcf", ".csv"):
        what += f"  {count_records(path):5d} variants"
    elif path.suffix == ".pdf":
        what += "  PDF" if path.read_bytes()[:5] == b"%PDF-" else "  NOT A PDF"
    name = str(path.relative_to(output))
    if len(name) > 56:  # confirmation folders are named after the run: keep the line on one row
        name = "..." + name[-53:]
    return f"    {name:<56} {what}"


def summary(output: Path, state: dict[str, Any], outcomes: list[dict[str, Any]], total: float) -> str:
    lines = ["", "=" * 78, "Fabric Genomics provider demo: summary", "=" * 78, "DAG runs:"]
    for outcome in outcomes:
        tasks = outcome.get("tasks", [])
        ok = sum(1 for task in tasks if task["state"] == "success")
        lines.append(
            f"  {outcome['dag_id']:<30} {outcome['state']:<8} {outcome['seconds']:6.1f} s  "
            f"{ok}/{len(tasks)} task instances succeeded"
        )
        if outcome.get("note"):
            lines.append(f"    ({outcome['note']})")
        for bad in ("failed", "upstream_failed"):
            names = sorted({task["task_id"] for task in tasks if task["state"] == bad})
            if names:
                shown = (
                    ", ".join(names)
                    if len(names) <= 4
                    else f"{', '.join(names[:3])} and {len(names) - 3} more"
                )
                lines.append(f"    {bad}: {shown}")
    projects = {project["id"]: project for project in state.get("projects", [])}
    lines.append(
        f"Sandbox: {len(projects)} projects, {len(state.get('genomes', []))} genomes, "
        f"{len(state.get('reports', []))} reports"
    )
    by_project: dict[Any, list[dict[str, Any]]] = {}
    for genome in state.get("genomes", []):
        by_project.setdefault(genome.get("project_id"), []).append(genome)
    for project_id, genomes in by_project.items():
        statuses = sorted({str(g.get("status")) for g in genomes})
        counts = ", ".join(f"{sum(str(g.get('status')) == st for g in genomes)} {st}" for st in statuses)
        ids = f"{genomes[0]['id']}-{genomes[-1]['id']}" if len(genomes) > 1 else str(genomes[0]["id"])
        lines.append(f"  project {project_id}: genomes {ids} ({counts})")
        lines += [
            f"    genome {g['id']}: {g['status_description']}" for g in genomes if g.get("status_description")
        ]
    for report in state.get("reports", []):
        kind = report.get("report_type") or report.get("test_type") or "report"
        lines.append(
            f"  report {report['id']:>3}  {str(kind):<8} {str(report.get('status')):<16} "
            f"variants {report.get('variant_count')}"
        )
    lines.append(f"Outputs under {output}:")
    exports = output / "exports"
    for path in sorted(p for p in exports.rglob("*") if p.is_file()) if exports.exists() else []:
        lines.append(describe_file(path, output))
    for folder in ("intake/exports", "intake/lims-drop"):
        cases = sorted(p for p in (output / folder).glob("*") if p.is_dir())
        files = sum(1 for case in cases for p in case.iterdir() if p.is_file())
        lines.append(f"    {folder + '/':<40} {len(cases)} accessions, {files} files (VCF, report JSON, PDF)")
    lines.append(f"Task logs: {output / 'logs'}   Sandbox data and log: {output / 'sandbox'}")
    lines.append(f"Total time: {total:.1f} s")
    return "\n".join(lines)


# -- main -----------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output", type=Path, default=ROOT / "demo-output", help="output folder (emptied)")
    parser.add_argument("--records", type=int, default=300, help="variants per generated VCF")
    parser.add_argument(
        "--fail-annotation", action="store_true", help="also run a panel whose annotation fails"
    )
    parser.add_argument("--annotation-seconds", type=float, default=2.0, help="sandbox annotation time")
    parser.add_argument("--report-seconds", type=float, default=2.0, help="sandbox report processing time")
    parser.add_argument("--run-dag", help=argparse.SUPPRESS)
    parser.add_argument("--conf", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--logical-date", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.run_dag:
        return run_dag_here(args.run_dag, json.loads(args.conf or "{}"), args.result, args.logical_date)

    for var in ("AIRFLOW_HOME", "AIRFLOW__CORE__DAGS_FOLDER"):
        if var not in os.environ:
            print(f"demo: {var} is not set; run `make demo` (scripts/demo.sh)", file=sys.stderr)
            return 2
    from airflow_provider_fabric.sandbox.process import SandboxProcess

    started = time.monotonic()
    output = args.output.resolve()
    if output.exists():
        shutil.rmtree(output)
    logs = output / "logs"
    logs.mkdir(parents=True)
    print(f"Generating synthetic hg19 VCFs ({args.records} variants each) in {output / 'inputs'}")
    confs = make_inputs(output / "inputs", args.records)

    sandbox = SandboxProcess(
        output / "sandbox",
        login="demo-api-key",
        annotation_seconds=args.annotation_seconds,
        report_seconds=args.report_seconds,
    )
    outcomes: list[dict[str, Any]] = []
    expected_ok = True
    with sandbox:
        (output / "sandbox" / "pid").write_text(str(sandbox.pid))
        print(f"fabric-sandbox running at {sandbox.url} (pid {sandbox.pid}, CA {sandbox.ca_path})")
        env = dict(os.environ)
        env.update(sandbox.env())
        env["FABRIC_EXAMPLE_POKE_INTERVAL"] = "1"
        env["AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE"] = "True"  # sensors wait in the (in-process) triggerer
        env.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        print("Running the example DAGs with dag.test() (deferrable sensors):")
        outcomes.append(run_dag("panel", DAGS["panel"], confs["panel"], logs, env))
        outcomes.append(run_dag("trio", DAGS["trio"], confs["trio"], logs, env))
        expected_ok = all(outcome["state"] == "success" for outcome in outcomes)
        reports = [r for r in sandbox.state()["reports"] if r.get("status") == "READY TO REVIEW"]
        if reports:
            conf = {**confs["confirmation"], "report_id": reports[-1]["id"]}
            outcomes.append(run_dag("confirmation", DAGS["confirmation"], conf, logs, env))
            expected_ok = expected_ok and outcomes[-1]["state"] == "success"
        else:
            print("  skipping the confirmation loop: no report is READY TO REVIEW")
            expected_ok = False
        if args.fail_annotation:
            print("  (expected to fail: the sandbox fails this VCF's annotation; retries take a minute)")
            failing = run_dag("panel_failing", DAGS["panel"], confs["panel_failing"], logs, env)
            failing["note"] = "expected to fail: the sandbox fails this genome's annotation"
            outcomes.append(failing)
            expected_ok = expected_ok and failing["state"] == "failed"
        ok, intake_outcomes = run_intake(output, logs, env, args.records)
        outcomes += intake_outcomes
        expected_ok = expected_ok and ok
        state = sandbox.state()
    print(summary(output, state, outcomes, time.monotonic() - started))
    print("All DAG runs ended as expected." if expected_ok else "Some DAG runs did not end as expected.")
    return 0 if expected_ok else 1


if __name__ == "__main__":
    sys.exit(main())
