"""The cases page's live statuses: batched list requests, a short cache, the last known status offline.

Fabric is mocked with ``requests-mock`` answering like the real list endpoints
(``limit``/``offset`` and ``report_status`` in the ``X-fg-safe-params`` header);
the board's clock is the test's, so no assertion depends on time passing.
"""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
import requests
from unitsupport import BASE

from airflow_provider_fabric.ui.cases import GENOME, REPORT
from airflow_provider_fabric.ui.statuses import LISTED_REPORT_STATUSES, StatusBoard


class FakeFabric:
    """Reports and genomes served by list and single-object endpoints, like the API."""

    def __init__(self, mock, reports: dict[int, str], genomes: dict[int, tuple[int, str]]) -> None:
        self.reports = dict(reports)
        self.genomes = dict(genomes)
        self.down = False
        mock.get(f"{BASE}/reports/", json=self.list_reports)
        mock.get(requests_mock_any(f"{BASE}/reports/"), json=self.one_report)
        mock.get(requests_mock_any(f"{BASE}/projects/"), json=self.list_genomes)
        mock.get(requests_mock_any(f"{BASE}/genomes/"), json=self.one_genome)
        self.mock = mock

    @staticmethod
    def params(request) -> dict[str, list[str]]:
        return parse_qs(request.headers.get("X-fg-safe-params", ""))

    def page(self, request, objects):
        if self.down:
            raise requests.ConnectionError("down")
        params = self.params(request)
        offset, limit = int(params.get("offset", ["0"])[0]), int(params.get("limit", ["100"])[0])
        return {"objects": objects[offset : offset + limit]}

    def list_reports(self, request, context):
        wanted = set(self.params(request).get("report_status", []))
        objects = [
            {"id": i, "status": s, "report_type": "panel" if i % 2 else "Trio", "accession_id": "PHI-ACC"}
            for i, s in sorted(self.reports.items())
            if not wanted or s in wanted
        ]
        return self.page(request, objects)

    def one_report(self, request, context):
        if self.down:
            raise requests.ConnectionError("down")
        report_id = int(request.path.rstrip("/").rsplit("/", 1)[1])
        if report_id not in self.reports:
            context.status_code = 404
            return {"description": "not found"}
        return {"id": report_id, "status": self.reports[report_id], "report_type": "panel"}

    def list_genomes(self, request, context):
        project = int(request.path.split("/")[2])
        objects = [
            {"id": i, "project_id": p, "status": s, "genome_label": "PHI-LABEL"}
            for i, (p, s) in sorted(self.genomes.items())
            if p == project
        ]
        return self.page(request, objects)

    def one_genome(self, request, context):
        genome_id = int(request.path.rsplit("/", 1)[1])
        project, status = self.genomes[genome_id]
        return {"id": genome_id, "project_id": project, "status": status}

    @property
    def requests(self) -> int:
        return len(self.mock.request_history)


def requests_mock_any(prefix: str):
    import re

    return re.compile(re.escape(prefix) + r".+")


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


def board(clock, **kwargs) -> StatusBoard:
    return StatusBoard("fabric_genomics_default", ttl=60, clock=clock, **kwargs)


def test_one_refresh_reads_lists_not_objects(fabric_conn, requests_mock, clock):
    fabric = FakeFabric(
        requests_mock,
        reports={1: "APPROVED", 2: "READY TO REVIEW", 3: "FAILED", 4: "PROCESSING"},
        genomes={10: (7, "ANNOTATED"), 11: (7, "ANNOTATING"), 12: (8, "FAILED")},
    )
    wanted = {(REPORT, 1): None, (REPORT, 2): None, (REPORT, 3): None, (REPORT, 4): None}
    wanted |= {(GENOME, 10): 7, (GENOME, 11): 7, (GENOME, 12): 8}

    snapshot = board(clock).lookup(wanted)

    statuses = {key: seen.status for key, seen in snapshot.seen.items()}
    assert statuses == {
        (REPORT, 1): "APPROVED",
        (REPORT, 2): "READY TO REVIEW",
        (REPORT, 3): "FAILED",
        (REPORT, 4): "PROCESSING",
        (GENOME, 10): "ANNOTATED",
        (GENOME, 11): "ANNOTATING",
        (GENOME, 12): "FAILED",
    }
    # one list per status that can change, the approved report read once, one list per project
    assert snapshot.requests == fabric.requests == len(LISTED_REPORT_STATUSES) + 1 + 2
    assert snapshot.error is None and snapshot.refreshed_at is not None
    assert snapshot.seen[(REPORT, 2)].report_type == "Trio"
    assert all("?" not in r.url for r in requests_mock.request_history), "filters travel in the header"


def test_cost_per_refresh_does_not_grow_with_the_number_of_cases(fabric_conn, requests_mock, clock):
    def cost(n: int) -> int:
        requests_mock.reset()
        reports = {i: "READY TO REVIEW" for i in range(1, n + 1)}
        genomes = {i: (7, "ANNOTATING") for i in range(1, n + 1)}
        fabric = FakeFabric(requests_mock, reports, genomes)
        wanted = {(REPORT, i): None for i in reports} | {(GENOME, i): 7 for i in genomes}
        snapshot = board(clock, page_size=1000).lookup(wanted)
        assert len(snapshot.seen) == 2 * n
        return fabric.requests

    assert cost(10) == cost(1000) == len(LISTED_REPORT_STATUSES) + 1


def test_cache_answers_within_ttl_and_final_statuses_are_never_asked_again(fabric_conn, requests_mock, clock):
    fabric = FakeFabric(requests_mock, {1: "APPROVED", 2: "PROCESSING"}, {10: (7, "ANNOTATED")})
    status_board = board(clock)
    everything = {(REPORT, 1): None, (REPORT, 2): None, (GENOME, 10): 7}
    first = status_board.lookup(everything).requests
    assert first > 0

    clock.now += 59
    assert status_board.lookup(everything).requests == 0, "within the cache time: no request"

    clock.now += 2
    fabric.reports[2] = "READY TO REVIEW"
    refreshed = status_board.lookup(everything)
    assert refreshed.seen[(REPORT, 2)].status == "READY TO REVIEW"
    assert refreshed.seen[(REPORT, 2)].changed_at == refreshed.refreshed_at, "the change was seen now"
    assert 0 < refreshed.requests < first, "the approved report and annotated genome were not asked again"

    clock.now += 61
    done = {(REPORT, 1): None, (GENOME, 10): 7}
    assert status_board.lookup(done).requests == 0, "only final statuses: nothing to ask"


def test_a_new_case_is_read_at_once_even_within_the_cache_time(fabric_conn, requests_mock, clock):
    FakeFabric(requests_mock, {1: "PROCESSING", 2: "WAITING"}, {})
    status_board = board(clock)
    status_board.lookup({(REPORT, 1): None})
    clock.now += 5
    snapshot = status_board.lookup({(REPORT, 1): None, (REPORT, 2): None})
    assert snapshot.requests > 0 and snapshot.seen[(REPORT, 2)].status == "WAITING"


def test_unreachable_fabric_keeps_the_last_known_status_and_says_why(fabric_conn, requests_mock, clock):
    fabric = FakeFabric(requests_mock, {2: "READY TO REVIEW"}, {11: (7, "ANNOTATING")})
    status_board = board(clock)
    wanted = {(REPORT, 2): None, (GENOME, 11): 7}
    good = status_board.lookup(wanted)

    fabric.down = True
    clock.now += 61
    offline = status_board.lookup(wanted)
    assert offline.error is not None and "no answer from Fabric" in offline.error
    assert "fabric_genomics_default" in offline.error and "down" not in offline.error
    assert {k: s.status for k, s in offline.seen.items()} == {k: s.status for k, s in good.seen.items()}
    assert offline.refreshed_at == good.refreshed_at, "the statuses' age stays that of the last good read"
    assert offline.requests == 1, "one failed request, no retries: the page does not hang"

    clock.now += 30
    assert status_board.lookup(wanted).requests == 0, "a failed refresh is not retried within the cache time"

    fabric.down = False
    clock.now += 31
    back = status_board.lookup(wanted)
    assert back.error is None and back.refreshed_at != good.refreshed_at


def test_objects_fabric_does_not_know_are_left_unknown(fabric_conn, requests_mock, clock):
    FakeFabric(requests_mock, {}, {})
    snapshot = board(clock).lookup({(REPORT, 99): None})
    assert snapshot.seen == {} and snapshot.error is None


def test_wrong_credentials_are_named_without_the_servers_text(fabric_conn, requests_mock, clock):
    requests_mock.get(requests_mock_any(f"{BASE}/"), status_code=401, json={"description": "PHI-IN-ERROR"})
    snapshot = board(clock).lookup({(REPORT, 1): None})
    assert snapshot.error == "Fabric refused the credentials of connection 'fabric_genomics_default'"
