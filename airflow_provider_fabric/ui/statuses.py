"""Live statuses from Fabric at a bounded cost: list endpoints, a short cache, the last known status.

A refresh never asks about objects one by one when a list can answer: reports
come from ``GET /reports/`` filtered on each status that can still change,
genomes from ``GET /projects/{id}/genomes`` of the projects they are in. An
object in a final status (an approved report, an annotated or failed genome)
never changes again, so it is not asked about again. Results are kept for
``ttl`` seconds, so a page of 1,000 cases costs a handful of requests per
refresh, and none between refreshes. When Fabric cannot be reached, the last
statuses it gave stay on show, with the reason and their age.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airflow_provider_fabric.api.statuses import REPORT_STATUSES, normalize_status
from airflow_provider_fabric.ui.cases import GENOME, REPORT

if TYPE_CHECKING:
    from airflow_provider_fabric.hooks.fabric import FabricHook

Key = tuple[str, int]

#: Statuses that never change again: such objects are not asked about after they are seen once.
FINAL = {GENOME: frozenset({"ANNOTATED", "FAILED"}), REPORT: frozenset({"APPROVED"})}
#: Report statuses listed on each refresh (every one but the final one, whose list only grows).
LISTED_REPORT_STATUSES = tuple(s for s in REPORT_STATUSES if s not in FINAL[REPORT])
#: Objects not found in the lists are read one by one up to this many; beyond, a list is read.
MAX_SINGLE_READS = 10


@dataclass(frozen=True)
class Seen:
    """What Fabric last said about one object (IDs, status and times only: no label, no accession).

    :param status: the status, normalised (``READY TO REVIEW``).
    :param report_type: ``panel``, ``Trio``... for reports.
    :param project_id: the genome's or report's project.
    :param created_on: when Fabric created it.
    :param approved_on: when the report was approved.
    :param seen_at: when Fabric said so.
    :param changed_at: when a refresh first saw this status replace another (``None``: never seen change).
    """

    status: str
    report_type: str | None
    project_id: int | None
    created_on: datetime | None
    approved_on: datetime | None
    seen_at: datetime
    changed_at: datetime | None = None


@dataclass(frozen=True)
class Snapshot:
    """The statuses known for the objects asked about, and how fresh they are.

    :param seen: what Fabric said, by ``(kind, ID)``; objects it never answered for are absent.
    :param refreshed_at: the last refresh that reached Fabric (``None``: none yet).
    :param error: why the last refresh failed (no server text: it could quote an input), or ``None``.
    :param requests: Fabric requests this lookup made (0 when the cache answered).
    """

    seen: Mapping[Key, Seen]
    refreshed_at: datetime | None
    error: str | None
    requests: int


@dataclass
class _Counter:
    requests: int = 0
    found: dict[Key, dict[str, Any]] = field(default_factory=dict)


class StatusBoard:
    """One process's view of Fabric statuses, shared by every page and JSON request.

    :param conn_id: the ``fabric_genomics`` connection to read with.
    :param ttl: seconds a refresh is reused (a failed refresh is not retried sooner either).
    :param timeout: seconds per Fabric request; a page never waits on retries.
    :param page_size: objects asked for per list request.
    :param clock: epoch seconds (tests pass their own).
    """

    def __init__(
        self,
        conn_id: str,
        *,
        ttl: float = 60.0,
        timeout: float = 10.0,
        page_size: int = 500,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.conn_id = conn_id
        self.ttl = ttl
        self.timeout = timeout
        self.page_size = page_size
        self.clock = clock
        self._lock = threading.Lock()
        self._seen: dict[Key, Seen] = {}
        self._asked: set[Key] = set()
        self._attempted_at: float | None = None
        self._refreshed_at: datetime | None = None
        self._error: str | None = None

    def hook(self) -> FabricHook:
        """A hook that fails fast: one try per request, a short timeout (the page must not hang)."""
        from airflow_provider_fabric.api.retry import NO_RETRY
        from airflow_provider_fabric.hooks.fabric import FabricHook

        return FabricHook(self.conn_id, retry_policy=NO_RETRY, timeout=self.timeout)

    def lookup(self, wanted: Mapping[Key, int | None]) -> Snapshot:
        """Statuses of ``wanted`` objects, refreshing from Fabric when the cache is too old.

        :param wanted: ``(kind, ID)`` → the object's project ID if Airflow knows it (genomes).
        :return: a :class:`Snapshot`; never raises because Fabric is unreachable.
        """
        with self._lock:
            now = self.clock()
            open_keys = {
                key: project
                for key, project in wanted.items()
                if key not in self._seen or self._seen[key].status not in FINAL[key[0]]
            }
            expired = self._attempted_at is None or now - self._attempted_at >= self.ttl
            new = self._error is None and not set(open_keys) <= self._asked
            requests = 0
            if open_keys and (expired or new):
                requests = self._refresh(open_keys, now)
            return Snapshot(
                {key: self._seen[key] for key in wanted if key in self._seen},
                self._refreshed_at,
                self._error,
                requests,
            )

    # ------------------------------------------------------------------ one refresh

    def _refresh(self, wanted: Mapping[Key, int | None], now: float) -> int:
        self._attempted_at = now
        counter = _Counter()
        try:
            hook = self.hook()
            send = hook.request

            def counted(*args: Any, **kwargs: Any) -> Any:
                counter.requests += 1  # every request sent, answered or not
                return send(*args, **kwargs)

            hook.request = counted  # type: ignore[method-assign]
            try:
                self._read_reports(hook, {i for kind, i in wanted if kind == REPORT}, counter)
                self._read_genomes(hook, {i: p for (kind, i), p in wanted.items() if kind == GENOME}, counter)
            finally:
                hook.close()
        except Exception as err:  # any failure: keep the last known statuses and say why
            self._error = _describe(err, self.conn_id)
            return counter.requests
        stamp = datetime.fromtimestamp(now, UTC)
        for key, obj in counter.found.items():
            self._remember(key, obj, stamp)
        self._asked = set(wanted)
        self._refreshed_at, self._error = stamp, None
        return counter.requests

    def _remember(self, key: Key, obj: Mapping[str, Any], stamp: datetime) -> None:
        status = normalize_status(obj.get("status")) or "UNKNOWN"
        before = self._seen.get(key)
        changed = stamp if before is not None and before.status != status else None
        self._seen[key] = Seen(
            status=status,
            report_type=_text(obj.get("report_type") or obj.get("test_type")),
            project_id=_int(obj.get("project_id")),
            created_on=_when(obj.get("created_on")),
            approved_on=_when(obj.get("report_approved_date")),
            seen_at=stamp,
            changed_at=changed or (before.changed_at if before and before.status == status else None),
        )

    def _pages(self, hook: FabricHook, path: str, params: Any = None) -> Iterator[list[Any]]:
        return hook.pages(path, params, page_size=self.page_size)

    def _collect(self, kind: str, wanted: set[int], pages: Iterable[list[Any]], counter: _Counter) -> None:
        """Keep the wanted objects of a list; stop reading pages once every one is found."""
        for page in pages:
            for obj in page:
                object_id = _int(obj.get("id"))
                if object_id in wanted:
                    counter.found[(kind, object_id)] = obj
            if all((kind, i) in counter.found for i in wanted):
                return

    def _read_reports(self, hook: FabricHook, wanted: set[int], counter: _Counter) -> None:
        if not wanted:
            return
        for status in LISTED_REPORT_STATUSES:
            self._collect(REPORT, wanted, self._pages(hook, "/reports/", {"report_status": status}), counter)
        missing = {i for i in wanted if (REPORT, i) not in counter.found}
        if len(missing) <= MAX_SINGLE_READS:
            self._read_each(REPORT, missing, hook.get_report, counter)
        else:
            approved = self._pages(hook, "/reports/", {"report_status": "APPROVED"})
            self._collect(REPORT, missing, approved, counter)

    def _read_genomes(self, hook: FabricHook, wanted: Mapping[int, int | None], counter: _Counter) -> None:
        by_project: dict[int, set[int]] = {}
        for genome_id, project in wanted.items():
            known = self._seen.get((GENOME, genome_id))
            project = project if project is not None else (known.project_id if known else None)
            if project is not None:
                by_project.setdefault(project, set()).add(genome_id)
        for project, ids in sorted(by_project.items()):
            self._collect(GENOME, ids, self._pages(hook, f"/projects/{project}/genomes"), counter)
        missing = {i for i in wanted if (GENOME, i) not in counter.found}
        if len(missing) <= MAX_SINGLE_READS:
            self._read_each(GENOME, missing, hook.get_genome, counter)
        else:
            self._collect(GENOME, missing, self._pages(hook, "/genomes"), counter)

    @staticmethod
    def _read_each(kind: str, ids: set[int], read: Callable[[int], Any], counter: _Counter) -> None:
        from airflow_provider_fabric.exceptions import FabricNotFoundError

        for object_id in sorted(ids):
            try:
                counter.found[(kind, object_id)] = read(object_id)
            except FabricNotFoundError:
                continue  # deleted, or not visible to this API key: shown as unknown


def _describe(err: Exception, conn_id: str) -> str:
    """Why Fabric could not answer, in our words: a server's text could quote what was sent."""
    from airflow_provider_fabric.exceptions import FabricAuthError, FabricConfigurationError

    if isinstance(err, FabricAuthError):
        return f"Fabric refused the credentials of connection '{conn_id}'"
    if isinstance(err, FabricConfigurationError) or type(err).__name__ == "AirflowNotFoundException":
        return f"connection '{conn_id}' is not usable: {err}"
    status = getattr(err, "http_status", None)
    if status:
        return f"Fabric answered HTTP {status} through connection '{conn_id}'"
    return f"no answer from Fabric through connection '{conn_id}' (refused, dropped or timed out)"


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _when(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None
