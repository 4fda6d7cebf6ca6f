"""Chain of custody: the panel and trio examples' OpenLineage events, emitted by a real Airflow run.

Each DAG runs with ``dag.test()`` against the sandbox in a process of its own, with the
OpenLineage provider on and a composite transport writing every event twice: as the provider
emits it (``raw``), and through the documented transform that blanks the DAG run's conf
(``events``, what a lab sends to its lineage backend). The tests read the graph back from the
events: VCF → genome → report → every export, with the custody facets checked against the
files on disk and the sandbox's own records, and no PHI sentinel in any event.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dagsupport import panel_conf, read_vcf_keys, trio_conf

RUNNER = str(Path(__file__).with_name("lineage_runner.py"))
REDACT = "airflow_provider_fabric.lineage.RedactDagRunConf"
Key = tuple[str, str]  # (namespace, name) of a dataset

pytestmark = pytest.mark.timeout(900)  # two DAG runs with an OpenLineage fork per task event


def phi(what: str) -> str:
    """A PHI stand-in of these runs only (other DAG tests use PHISENTINELD... and PHISENTINELP...)."""
    return f"PHISENTINELL{what}"


SENTINELS = [
    phi(w) for w in ("LABEL", "EXTID", "ACCESSION", "FIRSTNAME", "LASTNAME", "SAMPLE", "FAMILY", "DOB")
]


def hashed(path: Path | str) -> str:
    """The dataset name of a local file under the default setting: folder kept, name hashed."""
    path = Path(path)
    extension = "".join(path.suffixes[-2:]) if path.name.endswith(".vcf.gz") else path.suffix
    return f"{path.parent}/{hashlib.sha256(path.name.encode()).hexdigest()[:16]}{extension}"


class Lineage:
    """The events of one DAG run, as the lab's backend (``events``) and the provider (``raw``) see them."""

    def __init__(self, dag_id: str, folder: Path, states: dict[str, Any]) -> None:
        self.dag_id = dag_id
        self.states = states
        self.raw_text = (folder / "raw.jsonl").read_text()
        self.text = (folder / "events.jsonl").read_text()
        self.events = [json.loads(line) for line in self.text.splitlines()]

    def completes(self, task_id: str) -> list[dict[str, Any]]:
        """The COMPLETE events of a task (one per mapped instance)."""
        job = f"{self.dag_id}.{task_id}"
        return [e for e in self.events if e["eventType"] == "COMPLETE" and e["job"]["name"] == job]

    def complete(self, task_id: str) -> dict[str, Any]:
        (event,) = self.completes(task_id)
        return event

    def edges(self) -> set[tuple[Key, Key]]:
        """Every input → output pair a completed task reported."""
        return {
            ((i["namespace"], i["name"]), (o["namespace"], o["name"]))
            for e in self.events
            if e["eventType"] == "COMPLETE"
            for i in e.get("inputs", [])
            for o in e.get("outputs", [])
        }

    def fabric_namespace(self) -> str:
        names = {
            d["namespace"]
            for e in self.events
            for d in e.get("inputs", []) + e.get("outputs", [])
            if d["namespace"].startswith("fabric://")
        }
        assert len(names) == 1, f"one namespace per Fabric host, found {names}"
        return names.pop()


def run_with_lineage(dag_id: str, conf: dict[str, Any], folder: Path) -> Lineage:
    transport = {
        "type": "composite",
        "transports": [
            {"type": "file", "log_file_path": str(folder / "raw.jsonl"), "append": True},
            {
                "type": "transform",
                "transformer_class": REDACT,
                "transport": {"type": "file", "log_file_path": str(folder / "events.jsonl"), "append": True},
            },
        ],
    }
    env = {
        **os.environ,
        "AIRFLOW__OPENLINEAGE__TRANSPORT": json.dumps(transport),
        "AIRFLOW__OPENLINEAGE__NAMESPACE": "lab-tests",
        # a bound on each event's emission, never reached by a healthy run: no event is cut short
        "AIRFLOW__OPENLINEAGE__EXECUTION_TIMEOUT": "600",
        "PYTHONPATH": os.pathsep.join([str(Path(RUNNER).parent), os.environ.get("PYTHONPATH", "")]),
    }
    done = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, RUNNER, dag_id, json.dumps(conf)],
        env=env,
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("STATES ")]
    assert done.returncode == 0 and lines, done.stdout[-3000:] + done.stderr[-3000:]
    states = json.loads(lines[-1].removeprefix("STATES "))
    failed = {task: s for task, s in states["tasks"].items() if set(s) != {"success"}}
    assert states["run"] == "success" and failed == {}, failed
    return Lineage(dag_id, folder, states)


def one(items: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    (found,) = [item for item in items if all(item.get(k) == v for k, v in match.items())]
    return found


def facets(dataset: dict[str, Any]) -> dict[str, Any]:
    return {**dataset.get("facets", {}), **dataset.get("inputFacets", {}), **dataset.get("outputFacets", {})}


def dataset(event: dict[str, Any], side: str, name: str) -> dict[str, Any]:
    (found,) = [d for d in event[side] if d["name"] == name]
    return found


def assert_no_phi(lineage: Lineage) -> None:
    """No sentinel in any event; without the transform, only the provider's copy of the conf has them."""
    assert lineage.events, "events were emitted"
    assert [s for s in SENTINELS if s in lineage.text] == []
    ours = []
    for line in lineage.raw_text.splitlines():
        event = json.loads(line)
        for facet in event["run"]["facets"].values():
            if isinstance(facet, dict) and isinstance(facet.get("dagRun"), dict):
                facet["dagRun"].pop("conf", None)
        ours += [s for s in SENTINELS if s in json.dumps(event)]
    assert ours == [], "PHI outside the DAG run's conf"


# -- panel ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def panel(airflow_db, dag_sandbox, tmp_path_factory) -> Iterator[tuple[Lineage, dict[str, Any]]]:
    folder = tmp_path_factory.mktemp("panel-lineage")
    conf = panel_conf(folder, phi)
    yield run_with_lineage("example_fabric_panel", conf, folder), conf


def test_panel_lineage_is_vcf_to_genome_to_report_to_every_export(panel, dag_sandbox):
    lineage, conf = panel
    state = dag_sandbox.state()
    genome = one(state["genomes"], external_id=conf["external_id"])
    report = one(state["reports"], accession_id=conf["accession_id"])
    fabric = lineage.fabric_namespace()
    vcf = ("file", hashed(conf["vcf_path"]))
    folder = Path(conf["output_base"].removeprefix("file://")) / "panel" / f"report-{report['id']}"
    exports = ["variants.vcf", "variants.csv", "report-preview.pdf", "report.pdf", "report.json"]

    edges = lineage.edges()
    assert (vcf, (fabric, f"genomes/{genome['id']}")) in edges
    assert ((fabric, f"genomes/{genome['id']}"), (fabric, f"reports/{report['id']}")) in edges
    for name in exports:
        assert ((fabric, f"reports/{report['id']}"), ("file", hashed(folder / name))) in edges, name
    inputs = Path(conf["vcf_path"]).parent
    for path in (inputs / "fields.json", inputs / "qc.json"):
        assert (("file", hashed(path)), (fabric, f"reports/{report['id']}")) in edges
    assert (fabric, f"projects/{genome['project_id']}") in {
        (d["namespace"], d["name"]) for d in lineage.complete("create_project")["outputs"]
    }


def test_panel_lineage_carries_the_custody_facts(panel, dag_sandbox):
    lineage, conf = panel
    state = dag_sandbox.state()
    genome = one(state["genomes"], external_id=conf["external_id"])
    report = one(state["reports"], accession_id=conf["accession_id"])
    vcf = Path(conf["vcf_path"])
    md5 = hashlib.md5(vcf.read_bytes()).hexdigest()

    upload = lineage.complete("upload_genome")
    read = facets(dataset(upload, "inputs", hashed(vcf)))
    assert (read["fabricFile"]["md5"], read["inputStatistics"]["size"]) == (md5, vcf.stat().st_size)
    assert (read["fabricFile"]["genomeBuild"], read["fabricFile"]["sampleCount"]) == ("GRCh37", 1)
    made = facets(dataset(upload, "outputs", f"genomes/{genome['id']}"))["fabricGenome"]
    assert made["md5"] == md5 == genome["checksum"], "the MD5 the server holds is the file's"
    assert (made["genomeBuild"], made["fileFormat"], made["reused"]) == ("GRCh37", "vcf.gz", False)

    created = facets(lineage.complete("create_panel_report")["outputs"][0])["fabricReport"]
    assert (created["reportId"], created["reportType"]) == (report["id"], "panel")
    signed = facets(lineage.complete("approve_report")["outputs"][0])["fabricReport"]
    assert signed["status"] == "APPROVED"
    filed = facets(lineage.complete("get_clinical_report")["inputs"][0])["fabricReport"]
    assert (filed["reportType"], filed["status"]) == ("panel", "APPROVED")

    folder = Path(conf["output_base"].removeprefix("file://")) / "panel" / f"report-{report['id']}"
    for task_id, name in [("export_variants_vcf", "variants.vcf"), ("export_variants_csv", "variants.csv")]:
        stats = facets(dataset(lineage.complete(task_id), "outputs", hashed(folder / name)))[
            "outputStatistics"
        ]
        assert stats["rowCount"] == len(read_vcf_keys(vcf)) == 150
        assert stats["size"] == (folder / name).stat().st_size
    for task_id, name in [
        ("export_preview_pdf", "report-preview.pdf"),
        ("export_final_pdf", "report.pdf"),
        ("get_clinical_report", "report.json"),
    ]:
        stats = facets(dataset(lineage.complete(task_id), "outputs", hashed(folder / name)))[
            "outputStatistics"
        ]
        assert stats["size"] == (folder / name).stat().st_size


def test_panel_lineage_holds_no_phi(panel):
    lineage, _ = panel
    assert_no_phi(lineage)


# -- trio -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trio(airflow_db, dag_sandbox, tmp_path_factory) -> Iterator[tuple[Lineage, dict[str, Any], list[Path]]]:
    folder = tmp_path_factory.mktemp("trio-lineage")
    conf, vcfs = trio_conf(folder, phi)
    yield run_with_lineage("example_fabric_trio", conf, folder), conf, vcfs


def test_trio_lineage_is_three_vcfs_to_three_genomes_to_one_report_to_exports(trio, dag_sandbox):
    lineage, conf, vcfs = trio
    state = dag_sandbox.state()
    report = one(state["reports"], accession_id=conf["accession_id"])
    fabric = lineage.fabric_namespace()
    edges = lineage.edges()
    uploads = lineage.completes("upload_genomes")
    assert len(uploads) == 3, "one event per mapped upload"
    for role, vcf in zip(("proband", "mother", "father"), vcfs, strict=True):
        genome = one(state["genomes"], external_id=phi("EXTID") + role)
        assert (("file", hashed(vcf)), (fabric, f"genomes/{genome['id']}")) in edges, role
        assert ((fabric, f"genomes/{genome['id']}"), (fabric, f"reports/{report['id']}")) in edges, role
        made = [d for e in uploads for d in e["outputs"] if d["name"] == f"genomes/{genome['id']}"]
        assert facets(made[0])["fabricGenome"]["md5"] == hashlib.md5(vcf.read_bytes()).hexdigest()
    created = facets(lineage.complete("create_family_report")["outputs"][0])["fabricReport"]
    assert (created["reportId"], created["reportType"]) == (report["id"], "Trio")
    folder = Path(conf["output_base"]) / "family" / f"report-{report['id']}"
    for name in ("variants.vcf", "variants.csv", "report-preview.pdf"):
        assert ((fabric, f"reports/{report['id']}"), ("file", hashed(folder / name))) in edges, name
    stats = facets(
        dataset(lineage.complete("export_variants_vcf"), "outputs", hashed(folder / "variants.vcf"))
    )
    assert stats["outputStatistics"]["rowCount"] == len(read_vcf_keys(vcfs[0]))


def test_trio_lineage_holds_no_phi_not_even_in_file_names(trio):
    lineage, _, vcfs = trio
    assert all(phi("FAMILY") in vcf.name for vcf in vcfs), "the sample files are named after the family"
    assert_no_phi(lineage)
