"""Fault injection: the panel and trio DAGs end to end through 503s, 429s, dropped connections and latency.

Each seed runs against the sandbox with faults on every API request (``/_sandbox`` excepted):
20 % 503, 5 % 429 with a small ``Retry-After``, 2 % dropped connections, added latency; odd
seeds fault *before* the server acts, even seeds *after* it (the object is created, the client
still sees the error — the case idempotency is for). On top of the dice, every run gets scripted
faults that always fire: the answers to the project creation, the upload and the report creation
are lost after the server acted, so every run exercises the "find what the lost try created"
path, whatever the dice say. Tasks get enough immediate Airflow retries (the example DAGs' 30 s
``retry_delay`` set to zero) that every seed's run must succeed, and the connection small retry
waits.

Every seed runs a full example DAG through ``dag.test()``: odd seeds the panel DAG (sensors in
poke mode), even seeds the trio DAG (sensors deferrable, so the async hook and triggers are under
fault too). ``scripts/soak.py`` runs hundreds of seeds (``FABRIC_FAULT_SEEDS``).

After each run, with faults off: the run succeeded; every scripted fault fired; the server holds
exactly one project per name, one genome per sample and one report per accession; every exported
file is byte for byte what the server sends for the same export now; no temporary file is left.
Nothing here depends on timing or on how many polls happened: the sandbox counts time in looks.
"""

from __future__ import annotations

import csv
import os
import sys
from pathlib import Path
from typing import Any

import pytest
from relsupport import failed_tasks, load_example, one, run_dag


def _seeds(spec: str) -> list[int]:
    """``"1-20"`` or ``"3,7,9"``: the soak script (``scripts/soak.py``) asks for many more."""
    seeds: list[int] = []
    for part in spec.split(","):
        first, _, last = part.partition("-")
        seeds.extend(range(int(first), int(last or first) + 1))
    return seeds


SEEDS = _seeds(os.environ.get("FABRIC_FAULT_SEEDS", "1-20"))
FAULTS = {"rate_503": 0.20, "rate_429": 0.05, "rate_drop": 0.02, "latency_ms": 15, "retry_after": 0.05}
# Answers lost after the server acted, on every call that creates something (neither the hook nor
# the server may turn them into a second object). They wait for their request, whatever comes first.
SCRIPTED = [
    {"kind": "drop", "phase": "after", "method": "POST", "path": "^/projects/?$"},
    {"kind": "503", "phase": "after", "method": "PUT", "path": "^/projects/[0-9]+/genomes$"},
    {"kind": "drop", "phase": "after", "method": "POST", "path": "^/reports/?$"},
]
# The panel DAG also posts the case's patient fields and QC data: a lost answer there must not
# leave a second QC entry either (the operators read them back before trying again).
PANEL_SCRIPTED = [
    {"kind": "drop", "phase": "after", "method": "POST", "path": "^/reports/[0-9]+/patient_fields$"},
    {"kind": "503", "phase": "after", "method": "POST", "path": "^/reports/[0-9]+/qc_data$"},
]
# Each task attempt fails with a probability of about 0.27 when it sends one unretried request
# (a POST or an upload): eleven attempts leave a failure chance of about 1e-6 per task.
TASK_RETRIES = 10
_totals: dict[str, int] = {}


def exported_matches_server(folder: Path, report_id: int, approved: bool) -> list[str]:
    """Compare every export in ``folder`` with a fresh fetch of the same export; return the files checked."""
    from airflow_provider_fabric.hooks.fabric import FabricHook

    hook = FabricHook()
    checked = []
    fetch = {
        "variants.vcf": lambda: hook.get_variants(report_id, format="VCF"),
        "variants.csv": lambda: hook.get_variants(report_id, format="CSV"),
        "report.pdf": lambda: hook.get_report_pdf(report_id),
    }
    if not approved:  # a signed-out report has only its final PDF
        fetch["report-preview.pdf"] = lambda: hook.get_report_pdf(report_id, preview=True)
    for name, again in fetch.items():
        path = folder / name
        if not path.exists():
            continue
        with again() as answer:
            expected = answer.content
        assert path.read_bytes() == expected, f"{name} differs from the server's export"
        checked.append(name)
    return checked


def panel_conf(tmp: Path, seed: int) -> dict[str, Any]:
    from airflow_provider_fabric.testing.vcfgen import write_vcf

    vcf = write_vcf(tmp / f"sample-{seed}.vcf.gz", 25, compression="gz", seed=seed)
    (tmp / "fields.json").write_text('{"First Name": "Synthetic", "Indication for Testing": "fault runs"}')
    (tmp / "qc.json").write_text('{"Total Reads": 1000, "Mean Coverage": 250.5}')
    return {
        "project_name": f"Fault runs {seed}: panels",  # a project of its own: it is always created
        "vcf_path": str(vcf),
        "genome_label": f"fault-label-{seed}",
        "genome_sex": "female",
        "external_id": f"fault-sample-{seed}",
        "accession_id": f"fault-accession-{seed}",
        "panel_test_code": "HC-101",
        "patient_fields_path": str(tmp / "fields.json"),
        "qc_data_path": str(tmp / "qc.json"),
        "output_base": str(tmp / "exports"),
    }


def trio_conf(tmp: Path, seed: int) -> dict[str, Any]:
    from airflow_provider_fabric.testing.vcfgen import write_family

    family = tmp / "family"
    paths = write_family(family, f"FAULTFAM{seed}", n_records=25, compression="gz", seed=seed)
    with (family / "manifest.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["role", "vcf_path", "genome_label", "genome_sex", "external_id", "affected"])
        for role, path, sex in zip(
            ("proband", "mother", "father"), paths, ("male", "female", "male"), strict=True
        ):
            writer.writerow(
                [role, path.name, f"fault-{role}-{seed}", sex, f"fault-{role}-{seed}", role == "proband"]
            )
    return {
        "project_name": f"Fault runs {seed}: families",
        "manifest_path": str(family / "manifest.csv"),
        "accession_id": f"fault-accession-{seed}",
        "output_base": str(tmp / "exports"),
    }


def phase_of(seed: int) -> str:
    """Half the runs of each DAG fault before the server acts, half after."""
    return "after" if (seed // 2) % 2 else "before"


@pytest.mark.parametrize("seed", SEEDS)
def test_run_under_faults(airflow_db, sandbox, tmp_path, request, seed):
    trio = seed % 2 == 0
    dag_id = "example_fabric_trio" if trio else "example_fabric_panel"
    conf = trio_conf(tmp_path, seed) if trio else panel_conf(tmp_path, seed)
    dag = load_example(dag_id, deferrable=trio)

    capture = request.config.pluginmanager.getplugin("capturemanager")
    capture.read_global_capture()
    scripted = SCRIPTED if trio else SCRIPTED + PANEL_SCRIPTED
    sandbox.set_faults(**FAULTS, seed=seed, phase=phase_of(seed), script=scripted)
    try:
        run = run_dag(dag, conf, retries=TASK_RETRIES)
    finally:
        faults = sandbox.faults()
        sandbox.clear_faults()
        printed, errors = capture.read_global_capture()
        sys.stdout.write((printed + errors)[-3000:])
    stats = faults["stats"]
    for kind, count in stats.items():
        _totals[kind] = _totals.get(kind, 0) + count
    retried = sum(max(ti.try_number - 1, 0) for ti in run.get_task_instances())
    _totals["task_retries"] = _totals.get("task_retries", 0) + retried

    # Every run succeeds: faults cost retries, never the run.
    assert failed_tasks(run) == {} and str(run.state) == "success", failed_tasks(run)
    # The scripted faults all fired. Each lost answer to a creation (never resent blindly) cost its
    # task an Airflow retry, which found what the lost try had created; the panel's lost patient
    # fields and QC answers are read back within the same try.
    assert faults["script_left"] == [], faults["script_left"]
    assert retried >= len(SCRIPTED), retried

    # Exactly one of everything the run created, however many tries it took.
    state = sandbox.state()
    one(state["projects"], name=conf["project_name"])
    if trio:
        for role in ("proband", "mother", "father"):
            one(state["genomes"], external_id=f"fault-{role}-{seed}")
    else:
        one(state["genomes"], external_id=conf["external_id"])
    report = one(state["reports"], accession_id=conf["accession_id"])
    if not trio:  # the lost QC answer was found again, not posted twice
        assert len(sandbox.admin("GET", f"/reports/{report['id']}/qc_data")["objects"]) == 1

    # Every exported file is what the server sends for the same export with faults off.
    folder = tmp_path / "exports" / ("family" if trio else "panel") / f"report-{report['id']}"
    checked = exported_matches_server(folder, report["id"], approved=report["status"] == "APPROVED")
    expected = {"variants.vcf", "variants.csv", "report-preview.pdf" if trio else "report.pdf"}
    assert expected <= set(checked), checked
    assert [p.name for p in (tmp_path / "exports").rglob(".*")] == [], "no temporary files left"


def test_faults_really_fired():
    """Across the seeds the dice injected every kind of fault and Airflow retried tasks."""
    if len(_totals) == 0:
        pytest.skip("run together with test_run_under_faults")
    runs = len(SEEDS)
    scripted = {kind: runs * sum(item["kind"] == kind for item in SCRIPTED) for kind in ("drop", "503")}
    # (the panel runs' own scripted faults come on top: the dice must beat the common ones alone)
    if runs >= 10:  # beyond the scripted faults, the dice fired too
        assert _totals["503"] > scripted["503"] and _totals["429"] >= 1, _totals
        assert _totals["drop"] > scripted["drop"], _totals
    print(f"fault totals over {len(SEEDS)} runs: {_totals}")
