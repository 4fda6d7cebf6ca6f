"""Re-running any example DAG with the same conf after it finished is a no-op; bad credentials fail at once.

A lab re-triggers a DAG after fixing something, or by mistake after sign-out.
Each example DAG is run, then run again with the same conf (the family DAGs
again after the report was approved), and the server shows it: the sandbox's
request log holds **no POST, PUT, PATCH or DELETE** from the second run (only
reads), and every object of the case — project, genomes, report, patient
fields, QC entries, each variant and the variant audit log — is exactly as
before. The second run still succeeds and files its exports again.
"""

from __future__ import annotations

import csv
import json
from typing import Any

from dagsupport import CONN_ENV, run_dag, task_log_text, task_states

WRITES = ("POST", "PUT", "PATCH", "DELETE")


def writes(sandbox: Any) -> list[str]:
    """The state-changing requests the sandbox received since the log was last cleared."""
    return [
        f"{r['method']} {r['url'].split('?')[0]}" for r in sandbox.requests_seen() if r["method"] in WRITES
    ]


def case_state(sandbox: Any, report_ids: list[int]) -> dict[str, Any]:
    """Everything a re-run could create or change: global counts, and each report's whole record."""
    from airflow_provider_fabric.hooks.fabric import FabricHook

    hook, state = FabricHook(), sandbox.state()
    reports = {}
    for report_id in report_ids:
        path = f"/reports/{report_id}"
        reports[report_id] = {
            "report": hook.get_json(path, {"extended": True}),
            "patient_fields": hook.get_json(f"{path}/patient_fields"),
            "qc_data": hook.get_json(f"{path}/qc_data"),
            "variants": list(hook.iter_variants(report_id)),
            "audit_log": hook.get_json(f"{path}/variants/scored", {"audit_log": "true"})["audit_log"],
        }
    projects = {r["report"]["project_id"] for r in reports.values()}
    return {
        "counts": state["counts"],
        "projects": [p for p in state["projects"] if p["id"] in projects],
        "genomes": [g for g in state["genomes"] if g["project_id"] in projects],
        "reports": reports,
    }


def rerun(
    sandbox: Any, report_ids: list[int], dag_id: str, conf: dict[str, Any], *, deferrable: bool = False
) -> dict[str, list[str]]:
    """Run ``dag_id`` again: assert it succeeded, sent nothing that writes, and changed nothing."""
    before = case_state(sandbox, report_ids)
    sandbox.requests_seen(clear=True)
    run = run_dag(dag_id, conf, deferrable=deferrable)
    sent = writes(sandbox)
    states = task_states(run)
    assert str(run.state) == "success", states
    assert sent == [], f"the re-run of {dag_id} sent state-changing requests"
    assert case_state(sandbox, report_ids) == before
    return states


def the_report(sandbox: Any, accession: str) -> int:
    (report,) = [r for r in sandbox.state()["reports"] if r["accession_id"] == accession]
    return int(report["id"])


# -- panel: again after sign-out ---------------------------------------------------------------------


def test_panel_dag_rerun_after_sign_out_changes_nothing(airflow_db, dag_sandbox, tmp_path):
    from airflow_provider_fabric.testing.vcfgen import write_vcf

    vcf = write_vcf(tmp_path / "proband.vcf.gz", 60, compression="gz", seed=21)
    (tmp_path / "fields.json").write_text(json.dumps({"First Name": "Rerun", "Patient DOB": "1980-01-01"}))
    (tmp_path / "qc.csv").write_text("metric,value\nTotal Reads,1000\nMean Coverage,250.50\n")
    conf = {
        "project_name": "DAG tests: re-runs",
        "vcf_path": str(vcf),
        "genome_label": "RERUN-PANEL",
        "genome_sex": "female",
        "external_id": "LAB-RERUN-PANEL",
        "accession_id": "ACC-RERUN-PANEL",
        "panel_test_code": "HC-101",
        "patient_fields_path": str(tmp_path / "fields.json"),
        "qc_data_path": str(tmp_path / "qc.csv"),  # CSV text: "250.50" must equal the stored value
        "output_base": str(tmp_path / "exports"),
    }
    first = run_dag("example_fabric_panel", conf, deferrable=False)
    assert str(first.state) == "success", task_states(first)
    report_id = the_report(dag_sandbox, conf["accession_id"])
    assert case_state(dag_sandbox, [report_id])["reports"][report_id]["report"]["status"] == "APPROVED"
    folder = tmp_path / "exports" / "panel" / f"report-{report_id}"
    (folder / "report.pdf").unlink()

    states = rerun(dag_sandbox, [report_id], "example_fabric_panel", conf)
    assert states["export_preview_pdf"] == ["skipped"], "no preview once signed out"
    assert states["approve_report"] == states["export_final_pdf"] == ["success"]
    assert (folder / "report.pdf").read_bytes()[:5] == b"%PDF-", "the exports are filed again"


# -- family, confirmation loop: again, and again after sign-out ---------------------------------------


def test_trio_and_confirmation_reruns_change_nothing_even_after_sign_out(airflow_db, dag_sandbox, tmp_path):
    from airflow_provider_fabric.hooks.fabric import FabricHook
    from airflow_provider_fabric.testing.vcfgen import write_family

    family = tmp_path / "family"
    proband, mother, father = write_family(family, "RERUNFAM", n_records=60, compression="gz", seed=22)
    with (family / "manifest.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["role", "vcf_path", "genome_label", "genome_sex", "external_id", "affected"])
        for role, path, sex in (
            ("proband", proband, "male"),
            ("mother", mother, "female"),
            ("father", father, "male"),
        ):
            writer.writerow([role, path.name, f"RERUN-{role}", sex, f"LAB-RERUN-{role}", role == "proband"])
    trio_conf = {
        "project_name": "DAG tests: family re-runs",
        "manifest_path": str(family / "manifest.csv"),
        "accession_id": "ACC-RERUN-FAM",
        "output_base": str(tmp_path / "exports"),
    }
    assert str(run_dag("example_fabric_trio", trio_conf, deferrable=False).state) == "success"
    report_id = the_report(dag_sandbox, trio_conf["accession_id"])
    confirmation_conf = {"report_id": report_id, "output_base": str(tmp_path / "exports")}
    assert str(run_dag("example_fabric_confirmation", confirmation_conf, deferrable=False).state) == "success"
    confirmed = [v for v in FabricHook().iter_variants(report_id) if v["status"] == "CONFIRMED"]
    assert confirmed, "the first confirmation run confirmed the reviewed variants"

    rerun(dag_sandbox, [report_id], "example_fabric_trio", trio_conf)
    states = rerun(dag_sandbox, [report_id], "example_fabric_confirmation", confirmation_conf)
    assert states["sanger_confirmation"] == ["skipped"], "nothing is REVIEWED any more: nothing to confirm"

    FabricHook().update_report_status(report_id, "APPROVED")  # the director signs the report out
    states = rerun(dag_sandbox, [report_id], "example_fabric_trio", trio_conf, deferrable=True)
    assert states["export_preview_pdf"] == ["skipped"] and states["export_variants_vcf"] == ["success"]
    rerun(dag_sandbox, [report_id], "example_fabric_confirmation", confirmation_conf)


# -- scheduled intake and the LIMS sync ------------------------------------------------------------------


def test_intake_and_lims_sync_reruns_change_nothing(airflow_db, dag_sandbox, tmp_path, monkeypatch):
    from airflow_provider_fabric.testing.intake import build_demo_landing

    monkeypatch.setenv("FABRIC_EXAMPLE_RETRY_DELAY", "1")
    landing, output, drop = tmp_path / "landing", tmp_path / "exports", tmp_path / "lims"
    build_demo_landing(str(landing), "rerun-0001", bad=False, records=30, seed=23)
    intake_conf = {
        "landing_url": str(landing),
        "output_url": str(output),
        "project_name": "DAG tests: intake re-runs",
        "accession_prefix": "RERUN-",
    }
    first = run_dag("example_fabric_intake", intake_conf, deferrable=False)
    assert str(first.state) == "success", task_states(first)
    reports = [r["id"] for r in dag_sandbox.state()["reports"] if str(r["accession_id"]).startswith("RERUN-")]
    assert len(reports) == 2, "a panel case and a trio case"

    states = rerun(dag_sandbox, reports, "example_fabric_intake", intake_conf)
    for task_id in ("sample.upload_genome", "case.create_report"):
        assert set(states.get(task_id, ["skipped"])) == {"skipped"}, "nothing left to upload or report"

    lims_conf = {"output_url": str(output), "lims_drop_url": str(drop)}
    assert str(run_dag("example_fabric_lims_sync", lims_conf, deferrable=False).state) == "success"
    copied = {path: path.stat().st_mtime_ns for path in drop.rglob("*") if path.is_file()}
    assert len(copied) == 6, "report JSON, preview PDF and VCF of both cases"
    rerun(dag_sandbox, reports, "example_fabric_lims_sync", lims_conf)
    assert {path: path.stat().st_mtime_ns for path in drop.rglob("*") if path.is_file()} == copied


# -- errors that cannot heal ------------------------------------------------------------------------------


def test_a_wrong_secret_fails_the_task_at_once_with_its_message(
    airflow_db, dag_sandbox, tmp_path, monkeypatch, capfd
):
    conn = json.loads(dag_sandbox.conn_json())
    monkeypatch.setenv(CONN_ENV, json.dumps({**conn, "password": "not-the-secret"}))
    conf = {
        "project_name": "DAG tests: wrong secret",
        "vcf_path": str(tmp_path / "never-read.vcf"),
        "genome_label": "L",
        "genome_sex": "female",
        "external_id": "E",
        "accession_id": "A",
        "panel_test_code": "HC-101",
        "patient_fields_path": str(tmp_path / "fields.json"),
        "qc_data_path": str(tmp_path / "qc.json"),
        "output_base": str(tmp_path / "exports"),
    }
    run = run_dag("example_fabric_panel", conf, deferrable=False)
    (create,) = [ti for ti in run.get_task_instances() if ti.task_id == "create_project"]
    assert (str(run.state), str(create.state)) == ("failed", "failed")
    assert create.try_number == 1, "the task has retries=2, but a 401 is not retried"
    captured = capfd.readouterr()
    text = captured.out + captured.err + task_log_text(airflow_db)
    assert "rejected the API key or secret (HTTP 401)" in text
    assert "not-the-secret" not in text
