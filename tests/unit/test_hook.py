"""FabricHook rules, proven against requests-mock: each test fails if its rule is broken."""

from __future__ import annotations

import base64
import json
import logging
from datetime import timedelta

import pytest
import requests
from requests_mock import ANY
from unitsupport import BASE

from airflow_provider_fabric.api.logsafe import RedactQueryFilter
from airflow_provider_fabric.exceptions import (
    FabricAuthError,
    FabricConfigurationError,
    FabricInputError,
    FabricNotFoundError,
    FabricRedirectError,
    FabricRequestError,
    FabricServerError,
)

SENTINEL = "PHI-SENTINEL-Doe-Jane"


def test_get_params_travel_in_the_safe_params_header_percent_encoded(hook, requests_mock):
    requests_mock.get(f"{BASE}/panels/", json={"objects": []})
    hook.list_panels(name="āēīūčģķļņšž")
    sent = requests_mock.request_history[0]
    assert sent.headers["X-fg-safe-params"] == (
        "name=%C4%81%C4%93%C4%AB%C5%AB%C4%8D%C4%A3%C4%B7%C4%BC%C5%86%C5%A1%C5%BE&limit=100&offset=0"
    )
    assert sent.headers["X-fg-safe-params"].isascii()


def test_spec_example_value_encodes_exactly():
    from airflow_provider_fabric.api.safe_params import decode_safe_params, encode_safe_params

    encoded = encode_safe_params({"param2": "āēīūčģķļņšž"})
    assert encoded == "param2=%C4%81%C4%93%C4%AB%C5%AB%C4%8D%C4%A3%C4%B7%C4%BC%C5%86%C5%A1%C5%BE"
    assert decode_safe_params(encoded) == [("param2", "āēīūčģķļņšž")]


def test_spaces_plus_and_ampersands_survive_the_round_trip():
    from airflow_provider_fabric.api.safe_params import decode_safe_params, encode_safe_params

    value = "Doe, Jane & co+1 = 100%"
    assert decode_safe_params(encode_safe_params({"accession_id": value})) == [("accession_id", value)]


def test_repeated_keys_and_booleans(hook, requests_mock):
    requests_mock.get(f"{BASE}/reports/7/variants", json={"objects": []})
    hook.get_variants(7, status=["REVIEWED", "CONFIRMED"], to_report="PRIMARY_FINDING", extended=True)
    header = requests_mock.request_history[0].headers["X-fg-safe-params"]
    assert header == "status=REVIEWED&status=CONFIRMED&to_report=PRIMARY_FINDING&extended=True&format=JSON"


def test_no_get_url_ever_has_a_query_string(hook, requests_mock):
    requests_mock.get(ANY, json={"objects": []})
    hook.list_reports(accession_id=SENTINEL, external_id=SENTINEL, report_status="APPROVED")
    hook.list_genomes(3, external_id=SENTINEL)
    hook.get_report(4, extended=True)
    hook.get_scored_variants(4, scoring_status="scored", audit_log=True)
    list(hook.iter_variants(4, chrom="1"))
    assert len(requests_mock.request_history) == 5
    for sent in requests_mock.request_history:
        assert sent.method == "GET"
        assert "?" not in sent.url and sent.query == ""
        assert SENTINEL not in sent.url


def test_basic_auth_and_user_agent_on_every_call(hook, requests_mock):
    requests_mock.get(f"{BASE}/projects/", json={"objects": []})
    requests_mock.post(f"{BASE}/projects/", json={"id": 1})
    requests_mock.get(f"{BASE}/genomes/2", json={"id": 2})
    hook.list_projects()
    hook.create_project("P1")
    hook.get_genome(2)
    expected = "Basic " + base64.b64encode(b"api-key-123:s3cr3t-value").decode()
    assert [r.headers["Authorization"] for r in requests_mock.request_history] == [expected] * 3
    assert all(
        r.headers["User-Agent"].startswith("airflow-provider-fabric-genomics/")
        for r in requests_mock.request_history
    )


def test_connection_ca_bundle_wins_over_environment(monkeypatch, tmp_path, requests_mock):
    ca = tmp_path / "ca.pem"
    ca.write_text("dummy")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    monkeypatch.setenv(
        "AIRFLOW_CONN_FABRIC_GENOMICS_DEFAULT",
        json.dumps(
            {
                "conn_type": "fabric_genomics",
                "host": BASE,
                "login": "k",
                "password": "s",
                "extra": {"verify": str(ca)},
            }
        ),
    )
    from airflow_provider_fabric.hooks.fabric import FabricHook

    requests_mock.get(f"{BASE}/genomes/1", json={})
    FabricHook().get_genome(1)
    assert requests_mock.request_history[0].verify == str(ca)


def test_default_verification_ignores_ca_bundles_in_the_environment(
    hook, monkeypatch, tmp_path, requests_mock
):
    import certifi

    rogue = tmp_path / "proxy-ca.pem"
    rogue.write_text("dummy")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(rogue))
    monkeypatch.setenv("CURL_CA_BUNDLE", str(rogue))
    requests_mock.get(f"{BASE}/genomes/1", json={})
    hook.get_genome(1)
    assert requests_mock.request_history[0].verify == certifi.where()


@pytest.mark.parametrize("host", ["http://fabric.test", "http://127.0.0.1:8080/api"])
def test_plain_http_host_is_refused_before_any_request(monkeypatch, requests_mock, host):
    monkeypatch.setenv(
        "AIRFLOW_CONN_FABRIC_GENOMICS_DEFAULT",
        json.dumps({"conn_type": "fabric_genomics", "host": host, "login": "k", "password": "s"}),
    )
    from airflow_provider_fabric.hooks.fabric import FabricHook

    with pytest.raises(FabricConfigurationError, match="https://"):
        FabricHook().list_projects()
    assert requests_mock.call_count == 0


def test_uri_form_defaults_to_https_and_keeps_port(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_FABRIC_GENOMICS_DEFAULT",
        "fabric-genomics://key:secret@127.0.0.1:8443?verify=false&server_timezone=GMT",
    )
    from airflow_provider_fabric.hooks.fabric import FabricHook

    settings = FabricHook().settings
    assert settings.base_url == "https://127.0.0.1:8443"
    assert settings.verify is False
    assert settings.server_timezone == "GMT"


@pytest.mark.parametrize(
    ("host", "port", "base_url"),
    [
        ("https://api.fabricgenomics.com", 443, "https://api.fabricgenomics.com:443"),
        ("https://127.0.0.1:8443", 8443, "https://127.0.0.1:8443"),
        ("https://127.0.0.1:8443", 0, "https://127.0.0.1:8443"),  # what the Test button sends for none
    ],
)
def test_the_port_field_agrees_with_the_host(monkeypatch, host, port, base_url):
    conn = {"conn_type": "fabric_genomics", "host": host, "port": port, "login": "k", "password": "s"}
    monkeypatch.setenv("AIRFLOW_CONN_FABRIC_GENOMICS_DEFAULT", json.dumps(conn))
    from airflow_provider_fabric.hooks.fabric import FabricHook

    assert FabricHook().settings.base_url == base_url


def test_a_port_field_that_contradicts_the_host_is_refused(monkeypatch):
    conn = {
        "conn_type": "fabric_genomics",
        "host": "https://h.test:8443",
        "port": 443,
        "login": "k",
        "password": "s",
    }
    monkeypatch.setenv("AIRFLOW_CONN_FABRIC_GENOMICS_DEFAULT", json.dumps(conn))
    from airflow_provider_fabric.hooks.fabric import FabricHook

    with pytest.raises(FabricConfigurationError, match="port 8443 and the Port field"):
        _ = FabricHook().settings


def test_empty_host_means_production(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_FABRIC_GENOMICS_DEFAULT",
        json.dumps({"conn_type": "fabric_genomics", "login": "k", "password": "s"}),
    )
    from airflow_provider_fabric.hooks.fabric import FabricHook

    assert FabricHook().settings.base_url == "https://api.fabricgenomics.com"


def test_redirect_is_not_followed(hook, requests_mock):
    requests_mock.get(
        f"{BASE}/projects/", status_code=302, headers={"Location": "https://elsewhere.test/x?a=1"}
    )
    requests_mock.get("https://elsewhere.test/x", json={"objects": []})
    with pytest.raises(FabricRedirectError, match="https://") as info:
        hook.list_projects()
    assert requests_mock.call_count == 1
    assert info.value.http_status == 302


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, FabricRequestError), (404, FabricNotFoundError), (422, FabricRequestError)],
)
def test_request_errors_carry_status_and_description(hook, requests_mock, status, error):
    requests_mock.get(f"{BASE}/reports/9", status_code=status, json={"description": "Report is not approved"})
    with pytest.raises(error) as info:
        hook.get_report(9)
    assert info.value.http_status == status
    assert info.value.description == "Report is not approved"
    assert "Report is not approved" in str(info.value)
    assert requests_mock.call_count == 1  # never retried


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_name_the_connection_and_are_not_retried(hook, requests_mock, status):
    from airflow.providers.common.compat.sdk import AirflowFailException

    requests_mock.get(f"{BASE}/projects/", status_code=status, json={"description": "nope"})
    with pytest.raises(FabricAuthError, match="fabric_genomics_default") as info:
        hook.list_projects()
    assert "s3cr3t-value" not in str(info.value) and "nope" in str(info.value)
    assert requests_mock.call_count == 1
    # Nor by Airflow: the same credentials would be refused again, so the task fails at once.
    assert isinstance(info.value, AirflowFailException)


def test_503_is_retried_then_succeeds(hook, requests_mock):
    requests_mock.get(
        f"{BASE}/genomes/5",
        [
            {"status_code": 503, "json": {"description": "maintenance"}},
            {"json": {"id": 5, "status": "ANNOTATED"}},
        ],
    )
    assert hook.get_genome(5)["status"] == "ANNOTATED"
    assert requests_mock.call_count == 2


def test_429_waits_at_least_retry_after(hook, requests_mock, monkeypatch):
    import tenacity.nap

    slept: list[float] = []
    monkeypatch.setattr(tenacity.nap.time, "sleep", slept.append)
    requests_mock.get(
        f"{BASE}/genomes/5",
        [{"status_code": 429, "headers": {"Retry-After": "7"}}, {"json": {"id": 5}}],
    )
    assert hook.get_genome(5)["id"] == 5
    assert slept and slept[0] >= 7


def test_retries_give_up_after_the_bound(hook, requests_mock, monkeypatch):
    import tenacity.nap

    monkeypatch.setattr(tenacity.nap.time, "sleep", lambda s: None)
    requests_mock.get(f"{BASE}/genomes/5", status_code=503)
    with pytest.raises(FabricServerError) as info:
        hook.get_genome(5)
    assert info.value.http_status == 503
    assert requests_mock.call_count == hook.settings.retry.max_attempts


def test_connection_errors_are_retried(hook, requests_mock, monkeypatch):
    import tenacity.nap

    monkeypatch.setattr(tenacity.nap.time, "sleep", lambda s: None)
    requests_mock.get(
        f"{BASE}/genomes/5", [{"exc": requests.exceptions.ConnectionError}, {"json": {"id": 5}}]
    )
    assert hook.get_genome(5) == {"id": 5}
    assert requests_mock.call_count == 2


def test_posts_are_never_resent(hook, requests_mock):
    requests_mock.post(f"{BASE}/reports/", status_code=503)
    with pytest.raises(FabricServerError):
        hook.create_report({"report_type": "panel", "panel_id": 1, "proband_genome_id": 2})
    assert requests_mock.call_count == 1


def test_upload_is_streamed_once_with_query_in_url(hook, requests_mock, tmp_path):
    vcf = tmp_path / "sample.vcf.gz"
    vcf.write_bytes(b"\x1f\x8b" + b"x" * 5000)
    requests_mock.put(f"{BASE}/projects/3/genomes", status_code=503)
    with pytest.raises(FabricServerError) as info:
        hook.upload_genome(
            3, vcf, genome_label=SENTINEL, genome_sex="female", external_id=SENTINEL, checksum="ab" * 16
        )
    assert requests_mock.call_count == 1  # a streamed body is never resent blindly
    sent = requests_mock.request_history[0]
    assert sent.qs["format"] == ["vcf.gz"] and sent.qs["assembly_version"] == ["hg19"]
    assert sent.qs["checksum"] == ["ab" * 16] and sent.qs["genome_sex"] == ["female"]
    assert not isinstance(sent.body, bytes)  # a reader object, not the file in memory
    assert SENTINEL not in str(info.value)


def test_upload_reports_progress_and_returns_genome_id(hook, requests_mock, tmp_path):
    vcf = tmp_path / "s.vcf"
    vcf.write_bytes(b"##fileformat=VCFv4.2\n" * 100)
    received = []

    def consume_like_a_socket(request, context):
        while chunk := request.body.read(1000):
            received.append(chunk)
        return {"genome_id": 42}

    requests_mock.put(f"{BASE}/projects/3/genomes", json=consume_like_a_socket)
    seen: list[tuple[int, int | None]] = []
    with vcf.open("rb") as handle:
        answer = hook.upload_genome(
            3, handle, genome_label="L", genome_sex="male", progress=lambda a, b: seen.append((a, b))
        )
    assert answer == {"genome_id": 42}
    assert b"".join(received) == vcf.read_bytes()
    assert seen[-1] == (vcf.stat().st_size, vcf.stat().st_size)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"genome_sex": "M"}, "genome_sex"),
        ({"assembly_version": "GRCh38"}, "hg19"),
        ({"genome_label": ""}, "genome_label"),
        ({"format": "bam"}, "format"),
        ({"format": "vcf.gz", "compress": True}, "compress=True needs a plain VCF"),
        ({"checksum": "abc"}, "checksum must be an MD5"),
        ({"file_md5": "x" * 32}, "file_md5 must be an MD5"),
    ],
)
def test_bad_upload_arguments_send_nothing(hook, requests_mock, tmp_path, kwargs, message):
    vcf = tmp_path / "s.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n")
    args = {"genome_label": "L", "genome_sex": "male", **kwargs}
    with pytest.raises(FabricInputError, match=message):
        hook.upload_genome(3, vcf, **args)
    assert requests_mock.call_count == 0


def test_timestamps_are_aware_in_the_server_zone(hook, requests_mock):
    requests_mock.get(
        f"{BASE}/reports/1",
        json={
            "id": 1,
            "created_on": "2014-12-02T00:12:10",
            "report_approved_date": "2015-07-01T09:00:00",
            "accession_id": "2014-12-02T00:12:10",
        },
    )
    report = hook.get_report(1)
    assert report["created_on"].utcoffset() == timedelta(hours=-8)  # PST in December
    assert report["report_approved_date"].utcoffset() == timedelta(hours=-7)  # PDT in July
    assert report["accession_id"] == "2014-12-02T00:12:10"  # not a time field: untouched
    assert hook.get_json("/reports/1")["created_on"] == "2014-12-02T00:12:10"


def test_eu_server_timestamps_are_gmt(monkeypatch, requests_mock):
    monkeypatch.setenv(
        "AIRFLOW_CONN_FABRIC_GENOMICS_DEFAULT",
        json.dumps(
            {
                "conn_type": "fabric_genomics",
                "host": BASE,
                "login": "k",
                "password": "s",
                "extra": {"server_timezone": "GMT"},
            }
        ),
    )
    from airflow_provider_fabric.hooks.fabric import FabricHook

    requests_mock.get(f"{BASE}/genomes/1", json={"created_on": "2014-07-02T00:12:10"})
    assert FabricHook().get_genome(1)["created_on"].utcoffset() == timedelta(0)


def test_list_reports_follows_pages(hook, requests_mock):
    pages = [{"objects": [{"id": i} for i in range(100)]}, {"objects": [{"id": 100}, {"id": 101}]}]
    requests_mock.get(f"{BASE}/reports/", [{"json": p} for p in pages])
    reports = hook.list_reports(report_status="READY TO REVIEW")
    assert [r["id"] for r in reports] == list(range(102))
    headers = [r.headers["X-fg-safe-params"] for r in requests_mock.request_history]
    assert headers == [
        "report_status=READY%20TO%20REVIEW&limit=100&offset=0",
        "report_status=READY%20TO%20REVIEW&limit=100&offset=100",
    ]


def test_the_earlier_upload_lookup_computes_the_checksum_only_when_the_sample_is_there(hook, requests_mock):
    md5 = "ab" * 16
    listing = requests_mock.get(f"{BASE}/projects/5/genomes", json={"objects": []})
    computed: list[int] = []

    def checksum() -> str:
        computed.append(1)
        return md5

    assert hook.find_uploaded_genome(5, SENTINEL, checksum) is None
    assert computed == [], "no genome has the external ID: the file is not read"
    listing = requests_mock.get(
        f"{BASE}/projects/5/genomes",
        json={"objects": [{"id": 7, "external_id": SENTINEL, "checksum": md5, "status": "ANNOTATED"}]},
    )
    assert hook.find_uploaded_genome(5, SENTINEL, checksum) == 7 and computed == [1]
    assert hook.find_uploaded_genome(5, SENTINEL, md5.upper()) == 7
    assert hook.find_uploaded_genome(5, SENTINEL, lambda: None) is None, "an unreadable file finds nothing"
    assert SENTINEL not in listing.last_request.url


def test_reports_by_accession_are_exact_matches_oldest_first(hook, requests_mock):
    requests_mock.get(
        f"{BASE}/reports/",
        json={
            "objects": [
                {"id": 12, "accession_id": "ACC-1"},
                {"id": 11, "accession_id": "ACC-10"},  # the server matches substrings
                {"id": 9, "accession_id": "ACC-1"},
            ]
        },
    )
    assert [r["id"] for r in hook.find_reports_by_accession("ACC-1")] == [9, 12]
    assert "accession_id=ACC-1" in requests_mock.last_request.headers["X-fg-safe-params"]


def test_report_status_and_variant_updates_are_json_patch(hook, requests_mock):
    requests_mock.patch(f"{BASE}/reports/3/update_status/", json={"id": 3, "status": "APPROVED"})
    requests_mock.patch(f"{BASE}/reports/3/variants/8", json={"id": 8})
    hook.update_report_status(3, "APPROVED")
    hook.update_variant(3, 8, status="CONFIRMED", to_report="PRIMARY_FINDING")
    first, second = requests_mock.request_history
    assert first.headers["Content-Type"] == "application/json-patch+json"
    assert first.json() == [{"op": "replace", "path": "/status", "value": "APPROVED"}]
    assert second.json() == [
        {"op": "replace", "path": "/status", "value": "CONFIRMED"},
        {"op": "replace", "path": "/to_report", "value": "PRIMARY_FINDING"},
    ]


def test_csv_export_is_a_stream(hook, requests_mock):
    requests_mock.get(f"{BASE}/reports/3/variants", text="chrom,pos\n1,100\n")
    with hook.get_variants(3, format="csv") as response:
        assert b"".join(response.iter_content(4)) == b"chrom,pos\n1,100\n"
    assert requests_mock.request_history[0].headers["X-fg-safe-params"] == "format=CSV"


def test_pdf_422_says_why(hook, requests_mock):
    requests_mock.get(
        f"{BASE}/reports/3/pdf_report", status_code=422, json={"description": "Report is not approved"}
    )
    with pytest.raises(FabricRequestError, match="not approved"):
        hook.get_report_pdf(3)


def test_test_connection_reports_both_outcomes(hook, requests_mock):
    requests_mock.get(f"{BASE}/projects/", [{"json": {"objects": []}}, {"status_code": 401}])
    assert hook.test_connection() == (
        True,
        "Connected to https://fabric.test: the API key and secret were accepted",
    )
    ok, message = hook.test_connection()
    assert not ok and "HTTP 401" in message and "API secret) of this connection" in message


def test_test_connection_never_names_airflows_temporary_connection_id(monkeypatch, requests_mock):
    """Airflow's Test button tests a copy stored under a random ID: the messages say "this connection"."""
    from airflow_provider_fabric.hooks.fabric import FabricHook

    conn = {"conn_type": "fabric_genomics", "host": BASE, "login": "key", "password": "secret"}
    monkeypatch.setenv("AIRFLOW_CONN_KKZVS8A8", json.dumps(conn))
    requests_mock.get(f"{BASE}/projects/", status_code=403)
    ok, message = FabricHook("kKZvS8a8").test_connection()
    assert not ok and "kKZvS8a8" not in message and "of this connection" in message
    monkeypatch.setenv("AIRFLOW_CONN_KKZVS8A8", json.dumps({**conn, "host": "http://fabric.test"}))
    ok, message = FabricHook("kKZvS8a8").test_connection()
    assert not ok and "kKZvS8a8" not in message and message.startswith("This connection: host must be")


def test_ui_links(hook):
    assert hook.report_ui_url(12) == "https://ui.fabric.test/reports/12"
    assert hook.genome_ui_url(5) == "https://ui.fabric.test/genomes/5"


def test_phi_never_reaches_logs_or_errors(hook, requests_mock, caplog, tmp_path):
    caplog.set_level(logging.DEBUG)
    vcf = tmp_path / "s.vcf"
    vcf.write_text("##fileformat=VCFv4.2\n")
    requests_mock.put(f"{BASE}/projects/3/genomes", status_code=422, json={"description": "bad file"})
    requests_mock.get(f"{BASE}/reports/", status_code=500)
    with pytest.raises(FabricRequestError) as upload_error:
        hook.upload_genome(3, vcf, genome_label=SENTINEL, genome_sex="male", external_id=SENTINEL)
    with pytest.raises(FabricServerError) as list_error:
        hook.list_reports(accession_id=SENTINEL)
    assert SENTINEL not in str(upload_error.value) + str(list_error.value)
    # requests-mock stands in for urllib3 and logs full URLs itself; urllib3's own
    # request lines are covered by the redaction filter test below.
    logged = [r.getMessage() for r in caplog.records if not r.name.startswith("requests_mock")]
    assert logged and not any(SENTINEL in line for line in logged)


def test_urllib3_request_lines_lose_their_query_strings():
    record = logging.LogRecord(
        "urllib3.connectionpool",
        logging.DEBUG,
        __file__,
        1,
        '%s://%s:%s "%s %s %s" %s %s',
        ("https", "h", 443, "PUT", f"/projects/1/genomes?genome_label={SENTINEL}", "HTTP/1.1", 200, 10),
        None,
    )
    assert RedactQueryFilter().filter(record)
    assert SENTINEL not in record.getMessage()
    assert "/projects/1/genomes?<redacted>" in record.getMessage()
