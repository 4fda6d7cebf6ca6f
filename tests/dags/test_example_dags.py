"""The example DAGs run end to end with ``dag.test()`` against a real fabric-sandbox, in both sensor modes.

Each test checks what a lab relies on, not just the run's state: the files at
their destinations, exports that hold exactly the uploaded variants, real
PDFs, one genome/report/project on the server however the tasks ran, and no
PHI placed in the inputs anywhere in the task logs.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

import pytest
from dagsupport import panel_conf, read_vcf_keys, run_dag, task_log_text, task_states, trio_conf

MODES = [pytest.param(False, id="poke"), pytest.param(True, id="deferrable")]
TRIGGER_LOGGER = "airflow_provider_fabric.triggers.fabric"  # trigger status lines name their logger


def sentinel(what: str, deferrable: bool) -> str:
    """A PHI stand-in that must never reach a log line.

    The mode comes first, so no other test's sentinel (``PHISENTINELLABEL``...) is a part of this one:
    Airflow's secrets masker is process-wide and masks every part of a value it was given.
    """
    return f"PHISENTINEL{'D' if deferrable else 'P'}{what}"


def all_sentinels(deferrable: bool) -> list[str]:
    return [
        sentinel(what, deferrable)
        for what in ("LABEL", "EXTID", "ACCESSION", "FIRSTNAME", "LASTNAME", "SAMPLE", "FAMILY", "DOB")
    ]


def assert_no_phi(output: str, home: str, deferrable: bool) -> None:
    text = output + task_log_text(home)
    assert text.strip(), "the run's output was captured"
    leaked = [value for value in all_sentinels(deferrable) if value in text]
    assert leaked == [], f"PHI sentinels found in task logs: {leaked}"


def assert_succeeded(run: Any) -> dict[str, list[str]]:
    states = task_states(run)
    failed = {task: s for task, s in states.items() if set(s) != {"success"}}
    assert str(run.state) == "success" and failed == {}, failed
    return states


def assert_mode(output: str, deferrable: bool) -> None:
    """Deferrable sensors hand the annotation wait to a trigger; poke-mode sensors never do."""
    assert (TRIGGER_LOGGER in output) is deferrable, "sensors deferred if and only if deferrable"


def one(items: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    found = [item for item in items if all(item.get(key) == value for key, value in match.items())]
    assert len(found) == 1, f"expected exactly one object with {match}, found {len(found)}"
    return found[0]


def csv_keys(path: Path) -> list[tuple[str, int, str, str]]:
    with path.open(newline="") as handle:
        return [
            (row["chrom"].removeprefix("chr"), int(row["start_on_chrom"]), row["ref"], row["alt"])
            for row in csv.DictReader(handle)
        ]


def assert_pdf(path: Path) -> None:
    assert path.read_bytes()[:5] == b"%PDF-"


def no_partial_files(folder: Path) -> None:
    assert [p.name for p in folder.rglob(".*")] == [], "no half-written temporary files left"


# -- panel ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("deferrable", MODES)
def test_panel_dag_end_to_end(airflow_db, dag_sandbox, tmp_path, capfd, deferrable):
    conf = panel_conf(tmp_path, lambda what: sentinel(what, deferrable))
    vcf, outputs = Path(conf["vcf_path"]), tmp_path / "exports"

    run = run_dag("example_fabric_panel", conf, deferrable=deferrable)
    captured = capfd.readouterr()
    assert_succeeded(run)
    assert_mode(captured.out + captured.err, deferrable)

    state = dag_sandbox.state()
    project = one(state["projects"], name="DAG tests: panels")
    genome = one(state["genomes"], external_id=conf["external_id"])
    assert (genome["project_id"], genome["status"], genome["genome_label"]) == (
        project["id"],
        "ANNOTATED",
        conf["genome_label"],
    )
    report = one(state["reports"], accession_id=conf["accession_id"])
    assert (report["report_type"], report["panel_id"], report["proband_genome_id"]) == (
        "panel",
        101,
        genome["id"],
    )
    assert report["status"] == "APPROVED"

    folder = outputs / "panel" / f"report-{report['id']}"
    uploaded = read_vcf_keys(vcf)
    assert read_vcf_keys(folder / "variants.vcf") == uploaded
    assert sorted(csv_keys(folder / "variants.csv")) == sorted(uploaded)
    assert_pdf(folder / "report-preview.pdf")
    assert_pdf(folder / "report.pdf")
    filed = json.loads((folder / "report.json").read_text())
    assert filed["id"] == report["id"] and filed["status"] == "APPROVED"
    # The LIMS file is the full record, patient fields included (documented to hold PHI).
    assert filed["patient_fields"]["Last Name"] == sentinel("LASTNAME", deferrable)
    qc_entries = dag_sandbox.admin("GET", f"/reports/{report['id']}/qc_data")["objects"]
    assert [entry["data"] for entry in qc_entries] == [{"Total Reads": 1000, "Mean Coverage": 250.5}]
    no_partial_files(outputs)

    assert_no_phi(captured.out + captured.err, airflow_db, deferrable)
    # The UI's rendered-template view shows the PHI template fields masked.
    rendered = rendered_fields(run, "upload_genome")
    assert rendered["genome_label"] == "***" and rendered["external_id"] == "***"
    assert rendered_fields(run, "create_panel_report")["accession_id"] == "***"


def rendered_fields(run: Any, task_id: str) -> dict[str, Any]:
    """What Airflow stored for the task's rendered-template view."""
    from airflow.models.renderedtifields import RenderedTaskInstanceFields
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(RenderedTaskInstanceFields)
            .filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id)
            .one()
        )
        return dict(row.rendered_fields)


# -- trio -----------------------------------------------------------------------------------------

_trio_runs: dict[bool, dict[str, Any]] = {}


def run_trio(tmp_path: Path, deferrable: bool, capfd: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """Run the trio DAG once per mode (the confirmation loop reuses its report)."""
    if deferrable in _trio_runs:
        return _trio_runs[deferrable]
    conf, (proband, _, _) = trio_conf(tmp_path, lambda what: sentinel(what, deferrable))
    outputs = tmp_path / "exports"
    run = run_dag("example_fabric_trio", conf, deferrable=deferrable)
    captured = capfd.readouterr()
    result = {
        "run": run,
        "output": captured.out + captured.err,
        "conf": conf,
        "proband_vcf": proband,
        "outputs": outputs,
    }
    _trio_runs[deferrable] = result
    return result


@pytest.mark.parametrize("deferrable", MODES)
def test_trio_dag_end_to_end(airflow_db, dag_sandbox, tmp_path, capfd, deferrable):
    trio = run_trio(tmp_path, deferrable, capfd)
    states = assert_succeeded(trio["run"])
    assert len(states["upload_genomes"]) == 3, "one mapped upload per manifest row"
    assert_mode(trio["output"], deferrable)

    state = dag_sandbox.state()
    genomes = {
        role: one(state["genomes"], external_id=sentinel("EXTID", deferrable) + role)
        for role in ("proband", "mother", "father")
    }
    assert {genome["status"] for genome in genomes.values()} == {"ANNOTATED"}
    assert len({genome["project_id"] for genome in genomes.values()}) == 1
    one(state["projects"], name="DAG tests: families")
    report = one(state["reports"], accession_id=trio["conf"]["accession_id"])
    assert report["report_type"] == "Trio"
    assert report["proband_genome_id"] == genomes["proband"]["id"]
    members = {member["relationship"]: member for member in report["family"].values() if member}
    assert members["mother"]["genome_id"] == genomes["mother"]["id"]
    assert members["father"]["genome_id"] == genomes["father"]["id"]
    assert (members["mother"]["sex"], members["father"]["sex"]) == ("f", "m")
    assert report["status"] == "READY TO REVIEW"

    folder = trio["outputs"] / "family" / f"report-{report['id']}"
    uploaded = read_vcf_keys(trio["proband_vcf"])
    assert read_vcf_keys(folder / "variants.vcf") == uploaded
    assert sorted(csv_keys(folder / "variants.csv")) == sorted(uploaded)
    assert_pdf(folder / "report-preview.pdf")
    no_partial_files(trio["outputs"])

    assert_no_phi(trio["output"], airflow_db, deferrable)


# -- confirmation loop ----------------------------------------------------------------------------


def json_variants(report_id: int) -> dict[tuple[str, int, str, str], dict[str, Any]]:
    """What reviewers see in Fabric: the report's JSON export, keyed as the API matches variants."""
    from airflow_provider_fabric.hooks.fabric import FabricHook

    return {
        (str(v["chrom"]).removeprefix("chr"), int(v["start_on_chrom"]), v["ref"], v["alt"]): v
        for v in FabricHook().iter_variants(report_id)
    }


@pytest.mark.parametrize("deferrable", MODES)
def test_confirmation_dag_end_to_end(airflow_db, dag_sandbox, tmp_path, capfd, deferrable):
    trio = run_trio(tmp_path, deferrable, capfd)
    assert_succeeded(trio["run"])
    report = one(dag_sandbox.state()["reports"], accession_id=trio["conf"]["accession_id"])
    before = json_variants(report["id"])
    outputs = tmp_path / "confirmation-exports"
    conf = {"report_id": report["id"], "output_base": f"file://{outputs}"}

    run = run_dag("example_fabric_confirmation", conf, deferrable=deferrable)
    captured = capfd.readouterr()
    assert_succeeded(run)

    (folder,) = (outputs / "confirmation" / f"report-{report['id']}").iterdir()  # one folder per run
    reviewed = read_vcf_keys(folder / "reviewed.vcf")
    assert reviewed, "the report has reviewed variants to confirm"
    assert set(reviewed) == {key for key, v in before.items() if v["status"] == "REVIEWED"}
    # The status VCF is the vendor's format: the result in FILTER, declared; INFO empty.
    validated = (folder / "validated.vcf").read_text().splitlines()
    assert '##FILTER=<ID=CONFIRMED,Description="Passed external confirmation">' in validated
    records = [line.split("\t") for line in validated if not line.startswith("#")]
    assert {(r[6], r[7]) for r in records} == {("CONFIRMED", ".")}
    assert read_vcf_keys(folder / "validated.vcf") == reviewed
    assert isinstance(json.loads((folder / "scored.json").read_text()), dict)

    # Server-side, read independently of the DAG: exactly the reviewed variants are now CONFIRMED,
    # the first of them is a primary finding, and no other variant changed.
    after = json_variants(report["id"])
    assert {key for key, v in after.items() if v["status"] == "CONFIRMED"} == set(reviewed)
    assert after[reviewed[0]]["to_report"] == "PRIMARY_FINDING"
    untouched = [key for key in before if key not in reviewed]
    assert [after[key] for key in untouched] == [before[key] for key in untouched]
    no_partial_files(outputs)

    assert_no_phi(captured.out + captured.err, airflow_db, deferrable)


def test_rerunning_the_trio_dag_reuses_its_genomes_and_report(airflow_db, dag_sandbox, tmp_path, capfd):
    """A lab re-triggers a family run (after fixing a later step): nothing is uploaded or created twice."""
    first = run_trio(tmp_path, True, capfd)
    assert_succeeded(first["run"])
    before = dag_sandbox.state()["counts"]

    again = run_dag("example_fabric_trio", first["conf"], deferrable=True)
    captured = capfd.readouterr()
    assert_succeeded(again)
    assert dag_sandbox.state()["counts"] == before
    report = one(dag_sandbox.state()["reports"], accession_id=first["conf"]["accession_id"])
    folder = first["outputs"] / "family" / f"report-{report['id']}"
    assert read_vcf_keys(folder / "variants.vcf") == read_vcf_keys(first["proband_vcf"])
    assert_no_phi(captured.out + captured.err, airflow_db, True)


def test_confirmation_with_nothing_reviewed_skips_instead_of_failing(airflow_db, dag_sandbox, tmp_path):
    from airflow_provider_fabric.hooks.fabric import FabricHook
    from airflow_provider_fabric.testing.vcfgen import write_vcf

    hook = FabricHook()
    project = hook.create_project("DAG tests: nothing reviewed")
    vcf = write_vcf(tmp_path / "one.vcf", 1)  # its only variant starts REVIEWED in the sandbox
    genome = hook.upload_genome(project["id"], vcf, genome_label="one", genome_sex="male")
    report = hook.create_panel_report(panel_id=101, proband_genome_id=genome["genome_id"])
    report_id = report["id"]
    deadline_polls = 200
    while hook.get_report(report_id)["status"] != "READY TO REVIEW" and deadline_polls:
        deadline_polls -= 1
        time.sleep(0.1)
    (variant,) = hook.iter_variants(report_id)
    hook.update_variant(report_id, variant["report_variant_id"], status="NOT_REVIEWED")

    outputs = tmp_path / "exports"
    run = run_dag(
        "example_fabric_confirmation", {"report_id": report_id, "output_base": str(outputs)}, deferrable=False
    )
    states = task_states(run)
    assert str(run.state) == "success"
    assert states["sanger_confirmation"] == ["skipped"]
    assert states["set_validation_statuses"] == states["mark_primary_finding"] == ["skipped"]
    (folder,) = (outputs / "confirmation" / f"report-{report_id}").iterdir()
    assert read_vcf_keys(folder / "reviewed.vcf") == []
    assert not (folder / "validated.vcf").exists()
    assert [v["status"] for v in hook.iter_variants(report_id)] == ["NOT_REVIEWED"]
