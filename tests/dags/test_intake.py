"""The scheduled intake DAG and its Asset-scheduled LIMS sync, parsed and run against a real sandbox.

The end-to-end test runs two consecutive scheduled intake runs over the same
landing folder (the second with one new run folder), with a deliberately bad
VCF (GRCh38) in the manifest, and checks what a lab relies on: one genome per
sample and one report per case on the server however many runs see them, the
bad sample failing only its own tasks, the exports filed by accession, the
Asset events that schedule the LIMS sync DAG, and the LIMS drop folder filled
by that DAG.
"""

from __future__ import annotations

import json
import warnings
from typing import Any

import pendulum
from dagsupport import DAGS_FOLDER, DEFERRABLE_ENV, load_dag, read_vcf_keys, task_log_text
from intakesupport import write_manifest

ASSET_URI = "fabric://intake/reports"
TRIGGER_LINE = "running trigger in line"  # what dag.test() logs when a task deferred


# -- parsing (no server; the manifest and the cases: tests/unit/test_intake_*.py) --------------------


def test_intake_is_hourly_and_its_exports_schedule_the_lims_sync(airflow_db):
    from airflow_provider_fabric.testing.dagbag import dag_bag

    bag = dag_bag(DAGS_FOLDER)
    assert bag.import_errors == {}
    intake, lims = bag.get_dag("example_fabric_intake"), bag.get_dag("example_fabric_lims_sync")
    # Airflow 3.3 parses into the task SDK's timetable (``expression``), 3.1 into the core one (``summary``).
    cron = getattr(intake.timetable, "expression", None) or intake.timetable.summary
    assert cron == "0 * * * *" and intake.catchup is False
    exports = [task for task in intake.tasks if task.task_id.startswith("case.export_")]
    assert len(exports) == 3
    assert all([outlet.uri for outlet in task.outlets] == [ASSET_URI] for task in exports)
    assert [asset.uri for asset in lims.timetable.asset_condition.objects] == [ASSET_URI]
    # Everything after the mapped samples runs whatever happened to them.
    assert intake.get_task("plan_cases").trigger_rule == "all_done"
    assert intake.get_task("summary").trigger_rule == "all_done"


# -- end to end -----------------------------------------------------------------------------------


def states_of(run: Any) -> dict[str, dict[int, str]]:
    states: dict[str, dict[int, str]] = {}
    for ti in run.get_task_instances():
        states.setdefault(ti.task_id, {})[ti.map_index] = str(ti.state)
    return states


def run_intake(logical_date: Any) -> Any:
    dag = load_dag("example_fabric_intake", deferrable=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Starlette.*", category=UserWarning)
        return dag.test(logical_date=logical_date)


def test_two_scheduled_runs_then_lims_sync(airflow_db, dag_sandbox, tmp_path, monkeypatch, capfd, caplog):
    from airflow_provider_fabric.testing.intake import build_demo_landing
    from airflow_provider_fabric.testing.vcfgen import write_vcf

    landing, output, drop = tmp_path / "landing", tmp_path / "exports", tmp_path / "lims"
    # Scheduled runs have no conf: the lab's settings come from Airflow Variables.
    monkeypatch.setenv("AIRFLOW_VAR_FABRIC_INTAKE_LANDING_URL", str(landing))
    monkeypatch.setenv("AIRFLOW_VAR_FABRIC_INTAKE_OUTPUT_URL", f"file://{output}")
    monkeypatch.setenv("AIRFLOW_VAR_FABRIC_LIMS_DROP_URL", str(drop))
    monkeypatch.setenv(DEFERRABLE_ENV, "True")
    monkeypatch.setenv("FABRIC_EXAMPLE_RETRY_DELAY", "1")
    build_demo_landing(str(landing), "run-0001", records=30)
    first = pendulum.datetime(2025, 3, 1, 10, tz="UTC")

    # -- first scheduled run: 4 good samples (a panel sample, a trio) and one GRCh38 VCF
    run1 = run_intake(first)
    states = states_of(run1)
    upload = states["sample.upload_genome"]
    assert sorted(upload.values()) == ["failed", "success", "success", "success", "success"]
    bad_index = next(index for index, state in upload.items() if state == "failed")
    assert states["sample.wait_for_annotation"][bad_index] == "upstream_failed"
    assert states["plan_cases"] == {-1: "success"}
    # Three cases: the panel sample, the trio, and the bad sample's panel case (which alone fails).
    assert sorted(states["case.check_case"].values()) == ["failed", "success", "success"]
    assert sorted(states["case.export_preview_pdf"].values()) == ["success", "success", "upstream_failed"]
    assert states["summary"] == {-1: "failed"}  # the run is failed, so the lab hears about the bad sample
    assert str(run1.state) == "failed"

    state = dag_sandbox.state()
    tag = "RUN0001"
    good = [f"LAB-{tag}-{name}" for name in ("panel", "proband", "mother", "father")]
    assert sorted(g["external_id"] for g in state["genomes"] if tag in (g["external_id"] or "")) == sorted(
        good
    )
    trio = [r for r in state["reports"] if r["accession_id"] == f"INTAKE-FAM-{tag}"]
    panel = [r for r in state["reports"] if r["accession_id"] == f"INTAKE-LAB-{tag}-panel"]
    assert len(trio) == 1 and len(panel) == 1
    assert trio[0]["report_type"] == "Trio" and panel[0]["panel_id"] == 101
    assert not [r for r in state["reports"] if "grch38" in (r["accession_id"] or "")]

    # Exports are filed by accession; the VCF holds exactly the uploaded variants.
    folder = output / f"INTAKE-LAB-{tag}-panel"
    assert read_vcf_keys(folder / "variants.vcf") == read_vcf_keys(landing / "run-0001" / "panel.vcf.gz")
    assert json.loads((folder / "report.json").read_text())["id"] == panel[0]["id"]
    assert (output / f"INTAKE-FAM-{tag}" / "report-preview.pdf").read_bytes()[:5] == b"%PDF-"
    assert (folder / "report-preview.pdf").read_bytes()[:5] == b"%PDF-"

    # A lab unpauses the LIMS sync DAG: from then on the intake's exports queue runs of it.
    _unpause("example_fabric_lims_sync")

    # -- second scheduled run, an hour later: the same landing folder plus one new sample
    run2_folder = landing / "run-0002"
    run2_folder.mkdir()
    write_vcf(run2_folder / "new.vcf", 20, sample="RUN0002-new", seed=99)
    write_manifest(
        run2_folder,
        [
            {
                "file": "new.vcf",
                "label": "RUN0002-new",
                "sex": "male",
                "external_id": "LAB-RUN0002-new",
                "test": "panel:101",  # the intake's panel_id param has no default
            },
            # A malformed row (sex outside the vocabulary): fails only its own check task.
            {
                "file": "new.vcf",
                "label": "RUN0002-odd",
                "sex": "x",
                "external_id": "LAB-RUN0002-odd",
                "test": "panel",
            },
        ],
    )
    run2 = run_intake(first.add(hours=1))
    states = states_of(run2)
    # Only the new samples and the (still) bad one are mapped: the four in Fabric are skipped.
    assert sorted(states["sample.check_sample"].values()) == ["failed", "success", "success"]
    assert sorted(states["sample.upload_genome"].values()) == ["failed", "success", "upstream_failed"]
    assert sorted(states["case.check_case"].values()) == ["failed", "success"]

    state = dag_sandbox.state()
    external = [g["external_id"] for g in state["genomes"] if "RUN000" in (g["external_id"] or "")]
    assert sorted(external) == sorted([*good, "LAB-RUN0002-new"]), "exactly one genome per sample"
    accessions = [r["accession_id"] for r in state["reports"] if "RUN000" in (r["accession_id"] or "")]
    assert sorted(accessions) == sorted(
        [f"INTAKE-FAM-{tag}", f"INTAKE-LAB-{tag}-panel", "INTAKE-LAB-RUN0002-new"]
    ), "exactly one report per case"

    summary = _xcom(run2, "summary", "intake_summary")
    assert sorted(summary["samples"]["skipped"]) == ["run-0001:2", "run-0001:3", "run-0001:4", "run-0001:5"]
    assert list(summary["samples"]["processed"]) == ["run-0002:2"]
    assert summary["samples"]["failed"] == ["run-0001:6", "run-0002:3"]
    assert sorted(summary["cases"]["skipped"]) == ["run-0001:2", "run-0001:3,4,5"]
    assert list(summary["cases"]["processed"]) == ["run-0002:2"]
    assert summary["cases"]["failed"] == ["run-0001:6"]

    # The bad sample's own log says why it failed; no label or external ID reached any log.
    captured = capfd.readouterr()
    text = captured.out + captured.err + caplog.text + task_log_text(airflow_db)
    assert "GRCh38" in text
    assert "manifest of run run-0002, line 3: sex must be one of male, female, unspecified" in text
    assert TRIGGER_LINE in text, "the sensors waited in the triggerer"
    for secret in ("RUN0001-proband", "LAB-RUN0001", "RUN0002-new", "RUN0002-odd", "FAM-RUN0001"):
        assert secret not in text, secret

    # -- the exports' Asset events queue the LIMS sync DAG
    assert _asset_events() >= 9  # 3 exports x (2 cases in run 1 + 1 in run 2)
    assert "example_fabric_lims_sync" in _queued_for_asset()

    lims = load_dag("example_fabric_lims_sync", deferrable=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*Starlette.*", category=UserWarning)
        lims_run = lims.test()
    assert str(lims_run.state) == "success"
    for accession in (f"INTAKE-FAM-{tag}", f"INTAKE-LAB-{tag}-panel", "INTAKE-LAB-RUN0002-new"):
        for name in ("report.json", "report-preview.pdf", "variants.vcf"):
            assert (drop / accession / name).read_bytes() == (output / accession / name).read_bytes()
    assert [p.name for p in drop.rglob(".*")] == [], "no half-written files in the LIMS drop"


def _xcom(run: Any, task_id: str, key: str) -> Any:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id, key=key)
            .one()
        )
        value = row.value
    return json.loads(value) if isinstance(value, str) else value


def _unpause(dag_id: str) -> None:
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session

    with create_session() as session:
        model = session.get(DagModel, dag_id)
        assert model is not None, f"{dag_id} was synced to the metadata DB with the dags folder"
        model.is_paused = False


def _asset_events() -> int:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        return (
            session.query(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .filter(AssetModel.uri == ASSET_URI)
            .count()
        )


def _queued_for_asset() -> list[str]:
    from airflow.models.asset import AssetDagRunQueue, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(AssetDagRunQueue.target_dag_id)
            .join(AssetModel, AssetDagRunQueue.asset_id == AssetModel.id)
            .filter(AssetModel.uri == ASSET_URI)
            .all()
        )
    return [row[0] for row in rows]
