"""Fault injection: the panel and trio DAGs end to end through 503s, 429s, dropped connections and latency.

Each seed runs against the sandbox with faults on every API request (``/_sandbox`` excepted):
20 % 503, 5 % 429 with a small ``Retry-After``, 2 % dropped connections, added latency; odd
seeds fault *before* the server acts, even seeds *after* it (the object is created, the client
still sees the error — the case idempotency is for). Tasks get immediate Airflow retries (the
example DAGs' 30 s ``retry_delay`` set to zero) and the connection small retry waits.

Every seed runs a full example DAG through ``dag.test()``: odd seeds the panel DAG (sensors in
poke mode), even seeds the trio DAG (sensors deferrable, so the async hook and triggers are under
fault too). Twenty seeds take about a minute and a half on two cores; ``scripts/soak.py`` runs
hundreds (``FABRIC_FAULT_SEEDS``).

After each run, with faults off: the run succeeded or failed with a typed Fabric error; the server
holds exactly one project per name, one genome per sample and one report per accession; every
exported file is byte for byte what the server sends for the same export now.
"""

from __future__ import annotations

import csv
import os
import re
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
TASK_RETRIES = 4
TYPED = re.compile(r"airflow_provider_fabric\.exceptions\.Fabric\w+Error|Fabric\w+Error:")
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
        "project_name": "Fault runs: panels",
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
        "project_name": "Fault runs: families",
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
    sandbox.set_faults(**FAULTS, seed=seed, phase=phase_of(seed))
    try:
        run = run_dag(dag, conf, retries=TASK_RETRIES)
    finally:
        stats = sandbox.faults()["stats"]
        sandbox.clear_faults()
        printed, errors = capture.read_global_capture()
        sys.stdout.write((printed + errors)[-3000:])
    for kind, count in stats.items():
        _totals[kind] = _totals.get(kind, 0) + count
    assert stats["matched"] > 20 and stats["503"] > 0, stats
    retried = sum(max(ti.try_number - 1, 0) for ti in run.get_task_instances())
    _totals["task_retries"] = _totals.get("task_retries", 0) + retried

    # Success, or a clear typed failure (never an untyped crash).
    failed = failed_tasks(run)
    if str(run.state) != "success":
        assert failed, "a failed run names its failed tasks"
        assert TYPED.search(printed + errors), f"failed tasks {failed} raised a typed Fabric error"
        pytest.xfail(f"seed {seed}: clear typed failure after retries in {sorted(failed)}")
    assert failed == {}

    # Exactly one of everything the run created, however many tries it took.
    state = sandbox.state()
    one(state["projects"], name=conf["project_name"])
    if trio:
        for role in ("proband", "mother", "father"):
            one(state["genomes"], external_id=f"fault-{role}-{seed}")
    else:
        one(state["genomes"], external_id=conf["external_id"])
    report = one(state["reports"], accession_id=conf["accession_id"])

    # Every exported file is what the server sends for the same export with faults off.
    folder = tmp_path / "exports" / ("family" if trio else "panel") / f"report-{report['id']}"
    checked = exported_matches_server(folder, report["id"], approved=report["status"] == "APPROVED")
    expected = {"variants.vcf", "variants.csv", "report-preview.pdf" if trio else "report.pdf"}
    assert expected <= set(checked), checked
    assert [p.name for p in (tmp_path / "exports").rglob(".*")] == [], "no temporary files left"


def test_faults_really_fired():
    """Across the seeds every kind of fault was injected (the suite proves something)."""
    if len(_totals) == 0:
        pytest.skip("run together with test_run_under_faults")
    runs = len(SEEDS)
    assert _totals["503"] >= runs and _totals["429"] >= runs // 7, _totals
    if runs >= 10:
        assert _totals["drop"] >= 1, _totals
        # Some faults hit calls that are not resent (creates, uploads): Airflow retried those tasks,
        # and the one-of-everything checks above held anyway.
        assert _totals["task_retries"] >= 1, _totals
    print(f"fault totals over {len(SEEDS)} runs: {_totals}")
