"""Integration fixtures: one real ``fabric-sandbox`` process over HTTPS for the whole session."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_fabric.sandbox.process import CONN_ENV, SandboxProcess

NOACCESS_LOGIN, NOACCESS_SECRET = "noaccess-key", "noaccess-secret"
_names = itertools.count(1)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: runs against a real fabric-sandbox process")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


class Api:
    """Raw ``requests`` calls with the test user's credentials and the sandbox CA (``verify`` each time)."""

    def __init__(self, sandbox: SandboxProcess, auth: tuple[str, str] | None = None) -> None:
        self.sandbox = sandbox
        self.session = requests.Session()
        self.auth = auth or (sandbox.login, sandbox.secret)

    def __call__(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("auth", self.auth)
        kwargs.setdefault("timeout", 60)
        return self.session.request(
            method, self.sandbox.url + path, verify=self.sandbox.ca_path, allow_redirects=False, **kwargs
        )

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self(method, path, **kwargs)
        assert response.status_code == 200, (method, path, response.status_code, response.text[:500])
        return response.json()

    def upload(self, project_id: int, path: Path, **params: Any) -> requests.Response:
        query = {"genome_label": path.name, "genome_sex": "female", "assembly_version": "hg19", **params}
        with path.open("rb") as handle:
            return self("PUT", f"/projects/{project_id}/genomes", params=query, data=handle)


def wait_until(read: Callable[[], Any], done: Callable[[Any], bool], timeout: float = 30.0) -> Any:
    """Poll ``read()`` until ``done(value)``; return the value (fail after ``timeout``)."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not reached; last value: {value!r}"[:2000])
        time.sleep(0.1)


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxProcess]:
    """The sandbox (time in looks, plain-HTTP redirector, request recording, a no-access key).

    Statuses advance per look (``looks=2``), never with the wall clock: a genome is annotated at
    its second look, a report ready at its second look once its genomes are annotated.
    """
    process = SandboxProcess(
        tmp_path_factory.mktemp("sandbox"),
        looks=2,
        http_port=0,
        record_requests=True,
        extra_users=[f"{NOACCESS_LOGIN}:{NOACCESS_SECRET}:noaccess"],
    )
    with process, pytest.MonkeyPatch.context() as patch:
        patch.setenv(CONN_ENV, process.conn_json())
        yield process


@pytest.fixture
def wait() -> Callable[..., Any]:
    """``wait(read, done, timeout=30)``: poll until ``done(read())`` and return the value."""
    return wait_until


@pytest.fixture
def noaccess_auth() -> tuple[str, str]:
    """Credentials of a valid key that has no access (403)."""
    return NOACCESS_LOGIN, NOACCESS_SECRET


@pytest.fixture
def api(sandbox: SandboxProcess) -> Api:
    sandbox.clear_faults()
    return Api(sandbox)


@pytest.fixture
def project(api: Api) -> dict[str, Any]:
    """A fresh project, created as the vendor's clients do (form fields)."""
    return api.ok("POST", "/projects/", data={"project_name": f"it-project-{next(_names)}"})  # type: ignore[no-any-return]


@pytest.fixture
def make_vcf(tmp_path: Path) -> Callable[..., Path]:
    """Write a synthetic VCF with ``vcfgen.write_vcf`` (same keywords) into the test's tmp dir."""
    from airflow_provider_fabric.testing.vcfgen import write_vcf

    def make(name: str = "sample.vcf", n_records: int = 60, **kwargs: Any) -> Path:
        return write_vcf(tmp_path / name, n_records, **kwargs)

    return make


@pytest.fixture
def annotated_genome(api: Api, project: dict[str, Any], make_vcf: Callable[..., Path]) -> dict[str, Any]:
    """An uploaded single-sample genome, waited for until ANNOTATED."""
    uploaded = api.upload(project["id"], make_vcf("proband.vcf", 60, sample="PROBAND"))
    assert uploaded.status_code == 200, uploaded.text
    genome_id = uploaded.json()["genome_id"]
    return wait_until(  # type: ignore[no-any-return]
        lambda: api.ok("GET", f"/genomes/{genome_id}"), lambda g: g["status"] == "ANNOTATED"
    )
