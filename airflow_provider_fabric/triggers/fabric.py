"""Triggers that wait, in the triggerer, for genome annotation and clinical report statuses.

They only read: a trigger never creates or changes anything, so a triggerer
restart that runs one twice is harmless. The judgement of what the server
answered (:func:`check_genomes`, :func:`check_report`) lives here once and is
used by the poke-mode sensors too, so both modes always reach the same verdict
with the same message. Events are plain JSON::

    {"status": "success" | "failure" | "timeout" | "error", "message": "...", ...ids, final statuses}

The HTTP client (``httpx``, in :mod:`airflow_provider_fabric.hooks.fabric_async`)
is imported only when a trigger runs.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from airflow_provider_fabric.api.settings import DEFAULT_CONN_ID
from airflow_provider_fabric.api.statuses import (
    GENOME_FAILURE_STATUSES,
    GENOME_STATUSES,
    GENOME_SUCCESS_STATUSES,
    REPORT_FAILURE_STATUSES,
    REPORT_READY_STATUSES,
    REPORT_STATUSES,
    Verdict,
    evaluate_statuses,
)
from airflow_provider_fabric.exceptions import (
    FabricApiError,
    FabricAuthError,
    FabricConfigurationError,
    FabricError,
    FabricInputError,
    FabricNotFoundError,
    FabricRedirectError,
    FabricRequestError,
    FabricServerError,
    FabricStatusError,
    FabricTimeoutError,
)

if TYPE_CHECKING:
    from airflow_provider_fabric.hooks.fabric_async import FabricAsyncHook

#: Event ``status`` values.
SUCCESS, FAILURE, TIMEOUT, ERROR = "success", "failure", "timeout", "error"
#: Seconds a look that starts at (or just before) the deadline may still take.
LOOK_GRACE = 30.0

_ERROR_TYPES: dict[str, type[FabricError]] = {
    cls.__name__: cls
    for cls in (
        FabricAuthError,
        FabricConfigurationError,
        FabricInputError,
        FabricNotFoundError,
        FabricRedirectError,
        FabricRequestError,
        FabricServerError,
        FabricApiError,
    )
}


# --------------------------------------------------------------------- shared judgement


@dataclass(frozen=True)
class StatusCheck:
    """What one look at the server showed, judged by :func:`evaluate_statuses`.

    :param verdict: succeed, fail or keep waiting.
    :param statuses: object ID (as text) → the status the server reported.
    :param message: a PHI-free sentence for logs, events and errors.
    :param failed: IDs in a failure status.
    :param pending: IDs still waiting.
    :param unknown: ``(id, status)`` pairs outside the known vocabulary (waited on).
    """

    verdict: Verdict
    statuses: dict[str, str]
    message: str
    failed: tuple[str, ...] = ()
    pending: tuple[str, ...] = ()
    unknown: tuple[tuple[str, str], ...] = field(default=())


def _status_of(obj: Mapping[str, Any] | None) -> str:
    return str((obj or {}).get("status") or "")


def _listing(ids: Iterable[str], statuses: Mapping[str, str], limit: int = 20) -> str:
    ids = list(ids)
    shown = ", ".join(f"{i} ({statuses.get(i) or 'no status'})" for i in ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def check_genomes(
    genomes: Mapping[Any, Mapping[str, Any]],
    success_statuses: Collection[str] = GENOME_SUCCESS_STATUSES,
    failure_statuses: Collection[str] = GENOME_FAILURE_STATUSES,
) -> StatusCheck:
    """Judge the annotation of every genome: all annotated, any failed, or still running.

    A failure message names each failed genome, its status and the server's
    ``status_description`` (the reason the annotation failed); never a label
    or external ID.

    :param genomes: genome ID → the genome object from ``GET /genomes/{id}``.
    :param success_statuses: statuses meaning annotated.
    :param failure_statuses: statuses meaning the annotation failed.
    """
    statuses = {str(gid): _status_of(obj) for gid, obj in genomes.items()}
    evaluation = evaluate_statuses(statuses.items(), success_statuses, failure_statuses, GENOME_STATUSES)
    if evaluation.verdict is Verdict.FAILURE:
        reasons = []
        by_id = {str(gid): obj for gid, obj in genomes.items()}
        for gid in evaluation.failed:
            reason = by_id[gid].get("status_description") or "no reason given"
            reasons.append(f"genome {gid} ({statuses[gid]}): {reason}")
        message = "Annotation failed for " + "; ".join(reasons)
    elif evaluation.verdict is Verdict.SUCCESS:
        message = f"All {len(statuses)} genome(s) annotated: " + _listing(statuses, statuses)
    else:
        message = f"{len(evaluation.pending)} of {len(statuses)} genome(s) not annotated yet: " + _listing(
            evaluation.pending, statuses
        )
    return StatusCheck(
        evaluation.verdict,
        statuses,
        message,
        evaluation.failed,
        evaluation.pending,
        evaluation.unknown,
    )


def check_report(
    report_id: int | str,
    report: Mapping[str, Any],
    target_statuses: Collection[str] = REPORT_READY_STATUSES,
    failure_statuses: Collection[str] = REPORT_FAILURE_STATUSES,
) -> StatusCheck:
    """Judge a clinical report's status: reached a target, failed, or still on its way.

    :param report_id: the report's ID.
    :param report: the report object from ``GET /reports/{id}``.
    :param target_statuses: statuses to wait for (e.g. ``READY TO REVIEW`` or ``APPROVED``).
    :param failure_statuses: statuses meaning the report failed.
    """
    rid = str(report_id)
    status = _status_of(report)
    statuses = {rid: status}
    evaluation = evaluate_statuses(statuses.items(), target_statuses, failure_statuses, REPORT_STATUSES)
    if evaluation.verdict is Verdict.FAILURE:
        message = f"Clinical report {rid} ended in status {status}"
    elif evaluation.verdict is Verdict.SUCCESS:
        message = f"Clinical report {rid} reached status {status}"
    else:
        wanted = " or ".join(target_statuses)
        message = f"Clinical report {rid} is {status or 'without a status'}, waiting for {wanted}"
    return StatusCheck(
        evaluation.verdict,
        statuses,
        message,
        evaluation.failed,
        evaluation.pending,
        evaluation.unknown,
    )


class StatusLog:
    """Logs each object's status changes (IDs and statuses only) and warns once per unknown status.

    :param kind: what is waited on, e.g. ``"Genome"`` or ``"Clinical report"``.
    :param logger: where to log.
    """

    def __init__(self, kind: str, logger: logging.Logger | Any) -> None:
        self.kind = kind
        self.logger = logger
        self.started = time.monotonic()
        self.last: dict[str, str] = {}
        self._warned: set[tuple[str, str]] = set()

    def record(self, check: StatusCheck) -> None:
        """Log what changed since the previous look.

        :param check: the latest judgement.
        """
        elapsed = time.monotonic() - self.started
        for object_id, status in check.statuses.items():
            before = self.last.get(object_id)
            if before is None:
                self.logger.info("%s %s: status %s (after %.0f s)", self.kind, object_id, status, elapsed)
            elif before != status:
                self.logger.info(
                    "%s %s: status %s -> %s (after %.0f s)", self.kind, object_id, before, status, elapsed
                )
            self.last[object_id] = status
        for pair in check.unknown:
            if pair not in self._warned:
                self._warned.add(pair)
                self.logger.warning(
                    "%s %s has status %r, which is not a known Fabric status; waiting on it as still running",
                    self.kind,
                    *pair,
                )


def next_poke_interval(
    poke_interval: float,
    poke_count: int,
    *,
    exponential_backoff: bool = False,
    max_poke_interval: float | None = None,
    seed: str = "",
) -> float:
    """Seconds before the next look, growing as Airflow's sensors grow theirs.

    Without backoff: ``poke_interval``. With it: Airflow's formula, a base of
    ``poke_interval * 2 ** (poke_count - 2)`` (at least 1 s) plus a deterministic
    jitter below that base, capped by ``max_poke_interval``. Starting at 30 s
    and capped at 600 s, a ten-hour wait costs about 70 requests, not 1200.

    :param poke_interval: the first interval (seconds).
    :param poke_count: how many looks were taken so far (1 after the first).
    :param exponential_backoff: grow the interval.
    :param max_poke_interval: the longest interval (seconds).
    :param seed: spreads the jitter of different waits apart (e.g. the object IDs).
    """
    if not exponential_backoff:
        interval = float(poke_interval)
    else:
        base = max(int(poke_interval * 2 ** min(poke_count - 2, 40)), 1)
        digest = hashlib.sha1(f"{seed}#{poke_count}".encode(), usedforsecurity=False).hexdigest()
        interval = float(base + int(digest, 16) % base)
    if max_poke_interval:
        interval = min(interval, float(max_poke_interval))
    return interval


def first_look_delay(poke_interval: float, seed: str) -> float:
    """Seconds a trigger waits before its first look: between half and one ``poke_interval``.

    The sensor looked just before deferring, so there is nothing to learn
    sooner; and each wait takes its own point in the interval, so a triggerer
    that (re)starts a thousand triggers does not send a thousand requests at once.

    :param poke_interval: the sensor's interval (seconds).
    :param seed: what sets this wait's point in the interval (e.g. the object IDs).
    """
    digest = hashlib.sha1(f"{seed}#first".encode(), usedforsecurity=False).digest()
    fraction = int.from_bytes(digest[:4], "big") / 2**32
    return float(poke_interval) * (0.5 + 0.5 * fraction)


def timeout_message(kind: str, ids: str, last: StatusCheck | None) -> str:
    """The message of a wait that reached its deadline (IDs and statuses only).

    :param kind: what was waited on, e.g. ``"Genome"``.
    :param ids: the IDs waited on, as text.
    :param last: the last judgement, if any look succeeded.
    """
    seen = f"; last seen: {last.message}" if last is not None else "; the status could not be read"
    return (
        f"Timed out waiting for {kind.lower()} {ids}: the deadline (the sensor's timeout or the task's "
        f"execution_timeout, whichever is sooner) passed{seen}"
    )


def error_event(err: BaseException, **ids: Any) -> dict[str, Any]:
    """The ``error`` event for an exception that ends a wait.

    :param err: what went wrong.
    :param ids: the IDs waited on, added to the event.
    """
    event: dict[str, Any] = {
        "status": ERROR,
        "message": str(err) if isinstance(err, FabricError) else f"{type(err).__name__}: {err}",
        "error_type": type(err).__name__,
        **ids,
    }
    if isinstance(err, FabricApiError) and err.http_status is not None:
        event["http_status"] = err.http_status
    return event


def raise_for_event(event: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """Turn a non-success trigger event into the matching typed error; return a success event.

    :param event: the trigger's event.
    :returns: the event, when it reports success.
    :raises FabricStatusError: ``failure``: the object ended in a failure status.
    :raises FabricTimeoutError: ``timeout``: the deadline passed first.
    :raises FabricAuthError: (and the other API errors) ``error``: the wait could not go on.
    """
    if not event:
        raise FabricError("The trigger ended without an event")
    status = event.get("status")
    message = str(event.get("message") or "no message")
    if status == SUCCESS:
        return event
    if status == FAILURE:
        raise FabricStatusError(message)
    if status == TIMEOUT:
        raise FabricTimeoutError(message)
    cls = _ERROR_TYPES.get(str(event.get("error_type")), FabricError)
    if issubclass(cls, FabricApiError):
        raise cls(message, http_status=event.get("http_status"))
    raise cls(message)


# --------------------------------------------------------------------- triggers


class _FabricStatusTrigger(BaseTrigger):
    """Poll until a verdict, a fatal error, or the deadline; then emit exactly one event."""

    kind = "Object"

    def __init__(
        self,
        *,
        fabric_conn_id: str = DEFAULT_CONN_ID,
        poke_interval: float = 60.0,
        deadline: float | None = None,
        exponential_backoff: bool = False,
        max_poke_interval: float | None = None,
    ) -> None:
        super().__init__()
        self.fabric_conn_id = fabric_conn_id
        self.poke_interval = float(poke_interval)
        self.deadline = float(deadline) if deadline is not None else None
        self.exponential_backoff = bool(exponential_backoff)
        self.max_poke_interval = float(max_poke_interval) if max_poke_interval is not None else None

    def _common_kwargs(self) -> dict[str, Any]:
        return {
            "fabric_conn_id": self.fabric_conn_id,
            "poke_interval": self.poke_interval,
            "deadline": self.deadline,
            "exponential_backoff": self.exponential_backoff,
            "max_poke_interval": self.max_poke_interval,
        }

    def _make_hook(self) -> FabricAsyncHook:
        from airflow_provider_fabric.hooks.fabric_async import FabricAsyncHook

        return FabricAsyncHook(self.fabric_conn_id)

    async def _look(self, hook: FabricAsyncHook) -> StatusCheck:
        raise NotImplementedError

    def _ids(self) -> dict[str, Any]:
        raise NotImplementedError

    def _event(self, status: str, check: StatusCheck) -> dict[str, Any]:
        raise NotImplementedError

    def _remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.time()

    def _timeout_event(self, last: StatusCheck | None) -> dict[str, Any]:
        message = timeout_message(self.kind, self._id_text(), last)
        if last is None:
            return {"status": TIMEOUT, "message": message, **self._ids()}
        return {**self._event(TIMEOUT, last), "message": message}

    def _id_text(self) -> str:
        return ", ".join(str(v) for v in self._ids().values())

    async def run(self) -> AsyncIterator[TriggerEvent]:
        """Poll until success, failure, a fatal error or the deadline, and emit one event."""
        status_log = StatusLog(self.kind, self.log)
        last: StatusCheck | None = None
        poke_count = 0
        hook = self._make_hook()
        try:
            delay = first_look_delay(self.poke_interval, self._id_text())
            remaining = self._remaining()
            await asyncio.sleep(delay if remaining is None else min(delay, max(remaining, 0.0)))
            while True:
                poke_count += 1
                remaining = self._remaining()
                budget = None if remaining is None else max(remaining, 0.0) + LOOK_GRACE
                try:
                    async with asyncio.timeout(budget):
                        check = await self._look(hook)
                except TimeoutError:
                    yield TriggerEvent(self._timeout_event(last))
                    return
                except FabricServerError as err:
                    # Already retried by the hook; a long wait outlives a bad quarter of an hour.
                    self.log.warning("Could not read the status (%s); will look again", err)
                except Exception as err:  # auth, not found, TLS...: looking again cannot help
                    self.log.error("Stopping the wait: %s", err)
                    yield TriggerEvent(error_event(err, **self._ids()))
                    return
                else:
                    last = check
                    status_log.record(check)
                    if check.verdict is Verdict.SUCCESS:
                        yield TriggerEvent(self._event(SUCCESS, check))
                        return
                    if check.verdict is Verdict.FAILURE:
                        yield TriggerEvent(self._event(FAILURE, check))
                        return
                remaining = self._remaining()
                if remaining is not None and remaining <= 0:
                    yield TriggerEvent(self._timeout_event(last))
                    return
                interval = next_poke_interval(
                    self.poke_interval,
                    poke_count,
                    exponential_backoff=self.exponential_backoff,
                    max_poke_interval=self.max_poke_interval,
                    seed=self._id_text(),
                )
                if remaining is not None:
                    interval = min(interval, remaining)
                self.log.debug("Next look in %.0f s", interval)
                await asyncio.sleep(interval)
        finally:
            await hook.aclose()


class FabricGenomeAnnotationTrigger(_FabricStatusTrigger):
    """Wait until every genome is annotated, or any annotation fails.

    Emits ``{"status", "message", "genome_ids", "statuses", "failed"}``;
    ``statuses`` maps each genome ID (as text) to its last status.

    :param genome_ids: the genomes to wait for.
    :param fabric_conn_id: the Airflow connection, read inside the triggerer.
    :param success_statuses: statuses meaning annotated.
    :param failure_statuses: statuses meaning the annotation failed.
    :param poke_interval: seconds between looks (the first interval when backing off).
    :param deadline: epoch seconds after which a ``timeout`` event ends the wait; ``None`` waits forever.
    :param exponential_backoff: grow the interval like Airflow's sensors.
    :param max_poke_interval: the longest interval when backing off (seconds).
    """

    kind = "Genome"

    def __init__(
        self,
        genome_ids: list[int],
        *,
        fabric_conn_id: str = DEFAULT_CONN_ID,
        success_statuses: Collection[str] = GENOME_SUCCESS_STATUSES,
        failure_statuses: Collection[str] = GENOME_FAILURE_STATUSES,
        poke_interval: float = 60.0,
        deadline: float | None = None,
        exponential_backoff: bool = False,
        max_poke_interval: float | None = None,
    ) -> None:
        super().__init__(
            fabric_conn_id=fabric_conn_id,
            poke_interval=poke_interval,
            deadline=deadline,
            exponential_backoff=exponential_backoff,
            max_poke_interval=max_poke_interval,
        )
        self.genome_ids = [int(g) for g in genome_ids]
        self.success_statuses = list(success_statuses)
        self.failure_statuses = list(failure_statuses)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and JSON-able kwargs (no secret: the connection is read when running)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "genome_ids": list(self.genome_ids),
                "success_statuses": list(self.success_statuses),
                "failure_statuses": list(self.failure_statuses),
                **self._common_kwargs(),
            },
        )

    def _ids(self) -> dict[str, Any]:
        return {"genome_ids": list(self.genome_ids)}

    def _id_text(self) -> str:
        return ", ".join(str(g) for g in self.genome_ids)

    async def _look(self, hook: FabricAsyncHook) -> StatusCheck:
        genomes = await hook.get_genomes(self.genome_ids)
        return check_genomes(genomes, self.success_statuses, self.failure_statuses)

    def _event(self, status: str, check: StatusCheck) -> dict[str, Any]:
        return {
            "status": status,
            "message": check.message,
            "genome_ids": list(self.genome_ids),
            "statuses": dict(check.statuses),
            "failed": [int(g) for g in check.failed],
        }


class FabricClinicalReportStatusTrigger(_FabricStatusTrigger):
    """Wait until a clinical report reaches a target status, or fails.

    Emits ``{"status", "message", "report_id", "report_status"}``.

    :param report_id: the report to wait for.
    :param fabric_conn_id: the Airflow connection, read inside the triggerer.
    :param target_statuses: statuses to wait for.
    :param failure_statuses: statuses meaning the report failed.
    :param poke_interval: seconds between looks (the first interval when backing off).
    :param deadline: epoch seconds after which a ``timeout`` event ends the wait; ``None`` waits forever.
    :param exponential_backoff: grow the interval like Airflow's sensors.
    :param max_poke_interval: the longest interval when backing off (seconds).
    """

    kind = "Clinical report"

    def __init__(
        self,
        report_id: int,
        *,
        fabric_conn_id: str = DEFAULT_CONN_ID,
        target_statuses: Collection[str] = REPORT_READY_STATUSES,
        failure_statuses: Collection[str] = REPORT_FAILURE_STATUSES,
        poke_interval: float = 60.0,
        deadline: float | None = None,
        exponential_backoff: bool = False,
        max_poke_interval: float | None = None,
    ) -> None:
        super().__init__(
            fabric_conn_id=fabric_conn_id,
            poke_interval=poke_interval,
            deadline=deadline,
            exponential_backoff=exponential_backoff,
            max_poke_interval=max_poke_interval,
        )
        self.report_id = int(report_id)
        self.target_statuses = list(target_statuses)
        self.failure_statuses = list(failure_statuses)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        """The class path and JSON-able kwargs (no secret: the connection is read when running)."""
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "report_id": self.report_id,
                "target_statuses": list(self.target_statuses),
                "failure_statuses": list(self.failure_statuses),
                **self._common_kwargs(),
            },
        )

    def _ids(self) -> dict[str, Any]:
        return {"report_id": self.report_id}

    async def _look(self, hook: FabricAsyncHook) -> StatusCheck:
        report = await hook.get_report(self.report_id)
        return check_report(self.report_id, report, self.target_statuses, self.failure_statuses)

    def _event(self, status: str, check: StatusCheck) -> dict[str, Any]:
        return {
            "status": status,
            "message": check.message,
            "report_id": self.report_id,
            "report_status": check.statuses.get(str(self.report_id), ""),
        }
