"""The bad-input corpus: every case is refused with a typed error naming its cause, before anything is sent.

File cases live in ``tests/corpus/bad_inputs/`` (with ``cases.json``); argument
and connection cases are below. ``requests_mock`` answers nothing unless told,
so ``call_count == 0`` proves no request (and so no object) was made.
Cases that need a real server (wrong password, unknown IDs, a server whose CA
we do not trust) are in ``tests/integration/test_bad_input_server.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from airflow.providers.common.compat.sdk import AirflowFailException
from tisupport import RecordingTI

from airflow_provider_fabric.exceptions import (
    FabricConfigurationError,
    FabricError,
    FabricInputError,
    FabricServerError,
)
from airflow_provider_fabric.vcf import VcfValidationError

CORPUS = Path(__file__).parent.parent / "corpus" / "bad_inputs"
FILE_CASES = json.loads((CORPUS / "cases.json").read_text())["files"]


def test_corpus_is_complete():
    on_disk = {p.name for p in CORPUS.iterdir() if p.name != "cases.json"}
    assert on_disk == set(FILE_CASES)


@pytest.mark.parametrize(("name", "cause"), sorted(FILE_CASES.items()))
def test_bad_vcf_is_refused_before_upload(fabric_conn, requests_mock, name, cause):
    from airflow_provider_fabric.operators.genomes import FabricUploadGenomeOperator

    op = FabricUploadGenomeOperator(
        task_id="upload",
        project_id=5,
        vcf_path=str(CORPUS / name),
        genome_label="L",
        genome_sex="male",
        external_id="E1",
    )
    with pytest.raises(VcfValidationError, match=cause) as info:
        op.execute({"ti": RecordingTI()})
    assert requests_mock.call_count == 0
    assert isinstance(info.value, AirflowFailException)  # Airflow fails it at once: a retry cannot help


def _report(**kwargs):
    from airflow_provider_fabric.operators.reports import FabricCreateClinicalReportOperator

    return FabricCreateClinicalReportOperator(task_id="report", **kwargs)


MOTHER = {"genome_id": 2, "sex": "f", "relationship": "mother", "affected": False}
FATHER = {"genome_id": 3, "sex": "m", "relationship": "father", "affected": False}

ARGUMENT_CASES = {
    "genome sex 'M'": ("upload", {"genome_sex": "M"}, "genome_sex"),
    "genome sex empty": ("upload", {"genome_sex": ""}, "genome_sex"),
    "GRCh38 assembly": ("upload", {"assembly_version": "GRCh38"}, "hg19"),
    "project id not digits": ("upload", {"project_id": "proj-A"}, "project_id"),
    "missing input file": ("upload", {"vcf_path": "/nonexistent/sample.vcf"}, "does not exist"),
    "trio with one relative": (
        "report",
        {"report_type": "Trio", "proband_genome_id": 1, "proband_sex": "f", "family": [MOTHER]},
        "Trio report needs 2",
    ),
    "solo with a relative": (
        "report",
        {"report_type": "Solo", "proband_genome_id": 1, "proband_sex": "f", "family": [MOTHER]},
        "Solo report needs 0",
    ),
    "five relatives": (
        "report",
        {
            "report_type": "Quintet",
            "proband_genome_id": 1,
            "proband_sex": "f",
            "family": [MOTHER, FATHER] * 2 + [MOTHER],
        },
        "Quintet report needs 4",
    ),
    "relationship cousin": (
        "report",
        {
            "report_type": "Duo",
            "proband_genome_id": 1,
            "proband_sex": "f",
            "family": [{**MOTHER, "relationship": "cousin"}],
        },
        "relationship",
    ),
    "father with sex f": (
        "report",
        {
            "report_type": "Duo",
            "proband_genome_id": 1,
            "proband_sex": "f",
            "family": [{**FATHER, "sex": "f"}],
        },
        "father",
    ),
    "proband sex unknown": (
        "report",
        {"report_type": "Solo", "proband_genome_id": 1, "proband_sex": "x", "family": []},
        "sex",
    ),
    "genome id not an integer": (
        "report",
        {"report_type": "panel", "panel_id": 4, "proband_genome_id": "G-12", "accession_id": "A"},
        "integer",
    ),
    "unknown report type": (
        "report",
        {"report_type": "Octet", "proband_genome_id": 1, "proband_sex": "f"},
        "report_type",
    ),
    "panel without genome or project": (
        "report",
        {"report_type": "panel", "panel_id": 4, "accession_id": "A"},
        "project_id",
    ),
    "share role OWNER": ("project", {"share_role": "OWNER"}, "share_role"),
}


@pytest.mark.parametrize("case", sorted(ARGUMENT_CASES))
def test_bad_argument_is_refused_before_anything_is_created(fabric_conn, requests_mock, tmp_path, case):
    from airflow_provider_fabric.operators.genomes import FabricUploadGenomeOperator
    from airflow_provider_fabric.operators.projects import FabricCreateProjectOperator
    from airflow_provider_fabric.testing.vcfgen import write_vcf

    kind, kwargs, cause = ARGUMENT_CASES[case]
    with pytest.raises(FabricInputError, match=cause):
        if kind == "upload":
            args = {
                "project_id": 5,
                "vcf_path": str(write_vcf(tmp_path / "ok.vcf", 20)),
                "genome_label": "L",
                "genome_sex": "male",
                **kwargs,
            }
            FabricUploadGenomeOperator(task_id="upload", **args).execute({"ti": RecordingTI()})
        elif kind == "report":
            _report(**kwargs).execute({"ti": RecordingTI()})
        else:
            FabricCreateProjectOperator(task_id="p", project_name="P", **kwargs).execute(
                {"ti": RecordingTI()}
            )
    assert requests_mock.call_count == 0


def _hook_with(monkeypatch, **conn):
    from airflow_provider_fabric.hooks.fabric import FabricHook

    monkeypatch.setenv(
        "AIRFLOW_CONN_FABRIC_GENOMICS_DEFAULT", json.dumps({"conn_type": "fabric_genomics", **conn})
    )
    return FabricHook()


CONNECTION_CASES = {
    "http host": ({"host": "http://api.fabricgenomics.com", "login": "k", "password": "s"}, "https://"),
    "missing secret": ({"host": "https://fabric.test", "login": "k"}, "API secret"),
    "CA bundle path missing": (
        {
            "host": "https://fabric.test",
            "login": "k",
            "password": "s",
            "extra": {"verify": "/nonexistent/ca.pem"},
        },
        "CA bundle",
    ),
    "unknown server timezone": (
        {
            "host": "https://fabric.test",
            "login": "k",
            "password": "s",
            "extra": {"server_timezone": "Mars/Base"},
        },
        "server_timezone",
    ),
    "timeout not a number": (
        {"host": "https://fabric.test", "login": "k", "password": "s", "extra": {"timeout": "soon"}},
        "soon",
    ),
}


@pytest.mark.parametrize("case", sorted(CONNECTION_CASES))
def test_bad_connection_settings_are_refused_before_any_request(monkeypatch, requests_mock, case):
    conn, cause = CONNECTION_CASES[case]
    with pytest.raises(FabricConfigurationError, match=cause) as info:
        _hook_with(monkeypatch, **conn).list_projects()
    assert "fabric_genomics_default" in str(info.value)
    assert requests_mock.call_count == 0
    assert isinstance(info.value, AirflowFailException)


def test_unreachable_host_is_a_typed_error_after_bounded_retries(monkeypatch):
    import socket

    with socket.socket() as probe:  # a loopback port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    hook = _hook_with(
        monkeypatch,
        host=f"https://127.0.0.1:{port}",
        login="k",
        password="s",
        extra={"retry_limit": 2, "retry_initial_wait": 0.01, "retry_max_wait": 0.01},
    )
    with pytest.raises(FabricServerError, match="no answer from Fabric") as info:
        hook.list_projects()
    assert isinstance(info.value, FabricError) and info.value.http_status is None
