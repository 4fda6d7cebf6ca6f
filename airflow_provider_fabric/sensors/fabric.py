"""Sensors that wait for genome annotation and clinical report statuses, poking or deferred.

Both modes share one judgement (:func:`~airflow_provider_fabric.triggers.fabric.check_genomes`,
:func:`~airflow_provider_fabric.triggers.fabric.check_report`, built on
:func:`~airflow_provider_fabric.api.statuses.evaluate_statuses`), one deadline
rule and one set of messages, so a wait ends the same way whichever mode ran it.
The hooks (and ``requests``/``httpx``) are imported only when a task runs.
"""

from __future__ import annotations

import ast
import json
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import (
    AirflowSkipException,
    BaseSensorOperator,
    PokeReturnValue,
    conf,
)

from airflow_provider_fabric.api.reports import as_id
from airflow_provider_fabric.api.settings import DEFAULT_CONN_ID
from airflow_provider_fabric.api.statuses import (
    GENOME_FAILURE_STATUSES,
    GENOME_SUCCESS_STATUSES,
    REPORT_FAILURE_STATUSES,
    REPORT_READY_STATUSES,
    Verdict,
)
from airflow_provider_fabric.exceptions import (
    FabricInputError,
    FabricServerError,
    FabricStatusError,
    FabricTimeoutError,
)
from airflow_provider_fabric.links import (
    GENOME_URL_KEY,
    REPORT_URL_KEY,
    FabricGenomeLink,
    FabricReportLink,
    push_link_url,
    running_here,
    start_link_urls,
)
from airflow_provider_fabric.triggers.fabric import (
    FabricClinicalReportStatusTrigger,
    FabricGenomeAnnotationTrigger,
    StatusCheck,
    StatusLog,
    check_genomes,
    check_report,
    raise_for_event,
    timeout_message,
)

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import BaseOperatorLink, Context
    from airflow.triggers.base import BaseTrigger

    from airflow_provider_fabric.hooks.fabric import FabricHook

#: Extra time the scheduler grants a deferred wait beyond its deadline, in case the
#: trigger itself cannot report the timeout (its own ``timeout`` event is the normal end).
DEFER_GRACE = timedelta(minutes=10)


def genome_id_list(value: Any) -> list[int]:
    """Turn ``genome_ids`` as given or templated into a list of distinct integer IDs.

    Accepts an int, a string of digits, a comma-separated or JSON/Python list
    rendered by a template, a list or tuple (nested lists are flattened), an
    XCom-pulled sequence from mapped upload tasks, and upload results such as
    ``{"genome_id": 12, ...}``. Error messages never repeat the value (it may
    hold a label).

    :param value: the genome IDs in any of the forms above.
    :raises FabricInputError: nothing usable, or something that is not an ID.
    """
    found: list[int] = []

    def add(item: Any) -> None:
        if isinstance(item, Mapping):
            item = item.get("genome_id", item.get("id"))
            found.append(as_id(item, "genome_ids"))
        elif isinstance(item, str):
            text = item.strip()
            if text[:1] in "[(":
                try:
                    parsed = json.loads(text)
                except ValueError:
                    try:
                        parsed = ast.literal_eval(text)
                    except (ValueError, SyntaxError):
                        raise FabricInputError("genome_ids: a templated list could not be parsed") from None
                add(list(parsed) if isinstance(parsed, list | tuple) else parsed)
            else:
                for part in text.replace(",", " ").split():
                    add(as_id(part, "genome_ids"))
                if not text:
                    raise FabricInputError("genome_ids is empty")
        elif isinstance(item, int):
            found.append(as_id(item, "genome_ids"))
        elif isinstance(item, Sequence):
            # One slice, not item by item: iterating the lazy sequence of a mapped task's results
            # reads one past its end, which Airflow logs as an "XCom not found" error.
            for sub in item[:]:
                add(sub)
        elif isinstance(item, Iterable):
            for sub in item:
                add(sub)
        else:
            as_id(item, "genome_ids")  # raises with a clear message

    if value is None:
        raise FabricInputError("genome_ids is required")
    add(value)
    if not found:
        raise FabricInputError("genome_ids is empty")
    return list(dict.fromkeys(found))


def names_several(genome_ids: Any, task: Any) -> bool:
    """Whether ``genome_ids``, as given to a task, will name several genomes whatever it renders to.

    True for a literal list of more than one ID, and for the output of a mapped task (or of a task
    in a mapped task group that ``task`` is not in), which Airflow resolves to a list. A single ID,
    a template, or the output of an unmapped task may name one genome.

    :param genome_ids: the sensor's ``genome_ids`` argument.
    :param task: the sensor (its mapped task groups are looked at).
    """
    if isinstance(genome_ids, list | tuple):
        return len(genome_ids) > 1 or any(names_several(item, task) for item in genome_ids)
    references = getattr(genome_ids, "iter_references", None)
    if references is None:
        return False
    own_groups = {group.group_id for group in _mapped_groups(task)}
    for upstream, _key in references():
        if getattr(upstream, "is_mapped", False):
            return True
        if any(group.group_id not in own_groups for group in _mapped_groups(upstream)):
            return True
    return False


def _mapped_groups(task: Any) -> list[Any]:
    groups = getattr(task, "iter_mapped_task_groups", None)
    return list(groups()) if groups is not None else []


class _FabricStatusSensor(BaseSensorOperator):
    """What both sensors share: the hook, the deadline, poke-then-defer, and the event handling."""

    kind = "Object"

    def __init__(
        self,
        *,
        fabric_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.fabric_conn_id = fabric_conn_id
        if deferrable is None:
            deferrable = conf.getboolean("operators", "default_deferrable", fallback=False)
        self.deferrable = bool(deferrable)
        self._deadline: float | None = None
        self._status_log: StatusLog | None = None
        self._last_check: StatusCheck | None = None

    @cached_property
    def hook(self) -> FabricHook:
        """The sync hook used by pokes (imported only when the task runs)."""
        from airflow_provider_fabric.hooks.fabric import FabricHook

        return FabricHook(self.fabric_conn_id)

    # ------------------------------------------------------------- to be filled in by each sensor

    def _prepare(self, context: Context) -> None:
        raise NotImplementedError

    def _look(self) -> StatusCheck:
        raise NotImplementedError

    def _result(self, check: StatusCheck) -> Any:
        raise NotImplementedError

    def _ids_text(self) -> str:
        raise NotImplementedError

    def _trigger(self) -> BaseTrigger:
        raise NotImplementedError

    def _event_result(self, event: Mapping[str, Any]) -> Any:
        raise NotImplementedError

    def _relink(self, context: Context, event: Mapping[str, Any]) -> None:
        """After a deferral (a new process), keep the link pushed before deferring."""
        raise NotImplementedError

    # ------------------------------------------------------------- shared flow

    def deadline_for(self, context: Context) -> float:
        """Epoch seconds at which the wait gives up: ``timeout`` from now, or ``execution_timeout``
        from the task's start, whichever is sooner.

        :param context: the task's context (its ``ti`` gives the start time).
        """
        now = time.time()
        deadline = now + float(self.timeout)
        if self.execution_timeout is not None:
            start = getattr(context.get("ti"), "start_date", None)
            started = start.timestamp() if start is not None else now
            deadline = min(deadline, started + self.execution_timeout.total_seconds())
        return deadline

    def _check_once(self) -> StatusCheck | None:
        """One look, logged; a failure status raises, transient server trouble returns ``None``."""
        if self._status_log is None:
            self._status_log = StatusLog(self.kind, self.log)
        try:
            check = self._look()
        except FabricServerError as err:
            # The hook already retried; during a long wait this is not fatal.
            self.log.warning("Could not read the status (%s); will look again", err)
            return None
        self._status_log.record(check)
        self._last_check = check
        if check.verdict is Verdict.FAILURE:
            raise FabricStatusError(check.message)
        return check

    def poke(self, context: Context) -> bool | PokeReturnValue:
        """Look once; succeed with the sensor's result, fail on a failure status, time out at the deadline.

        :param context: the task's context.
        """
        check = self._check_once()
        if check is not None and check.verdict is Verdict.SUCCESS:
            self.log.info("%s", check.message)
            return PokeReturnValue(is_done=True, xcom_value=self._result(check))
        if self._deadline is not None and time.time() >= self._deadline:
            raise FabricTimeoutError(timeout_message(self.kind, self._ids_text(), self._last_check))
        return False

    def execute(self, context: Context) -> Any:
        """Wait in poke/reschedule mode, or look once and defer to a trigger if not done yet.

        :param context: the task's context.
        """
        self._deadline = self.deadline_for(context)
        self._status_log = StatusLog(self.kind, self.log)
        self._prepare(context)
        if not self.deferrable:
            try:
                return super().execute(context)
            except FabricTimeoutError as err:
                if self.soft_fail:
                    raise AirflowSkipException(str(err)) from err
                raise
        check = self._check_once()
        if check is not None and check.verdict is Verdict.SUCCESS:
            self.log.info("%s (no need to defer)", check.message)
            return self._result(check)
        remaining = max(self._deadline - time.time(), 0.0)
        self.log.info(
            "Deferring the wait for %s %s (polling every %.0f s%s; gives up in %.0f s)",
            self.kind.lower(),
            self._ids_text(),
            self.poke_interval,
            ", growing" if self.exponential_backoff else "",
            remaining,
        )
        self.defer(
            trigger=self._trigger(),
            method_name="execute_complete",
            timeout=timedelta(seconds=remaining) + DEFER_GRACE,
        )

    def execute_complete(self, context: Context, event: dict[str, Any] | None = None) -> Any:
        """Turn the trigger's event into the sensor's result, or into a typed error.

        :param context: the task's context.
        :param event: the trigger's event (``status``, ``message``, IDs, final statuses).
        :raises FabricStatusError: the object ended in a failure status.
        :raises FabricTimeoutError: the deadline passed first.
        :raises FabricAuthError: (or another typed API error) the wait could not go on.
        """
        if running_here(self):
            self._relink(context, event or {})
        success = raise_for_event(event)
        self.log.info("%s", success.get("message"))
        return self._event_result(success)

    def _trigger_kwargs(self) -> dict[str, Any]:
        return {
            "fabric_conn_id": self.fabric_conn_id,
            "poke_interval": float(self.poke_interval),
            "deadline": self._deadline,
            "exponential_backoff": bool(self.exponential_backoff),
            "max_poke_interval": self.max_wait.total_seconds() if self.max_wait else None,
        }

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        """Render templates as usual, first marking the task as running here (for its link).

        :param context: the task's execution context.
        :param jinja_env: the Jinja environment, as Airflow passes it.
        """
        start_link_urls(self)
        super().render_template_fields(context, jinja_env)


class FabricGenomeAnnotationSensor(_FabricStatusSensor):
    """Wait until one genome or many are annotated; fail at once when any annotation fails.

    Succeeds when every genome is in a success status and returns the list of
    genome IDs (as ints), so a downstream report task can take them as they
    are. Fails with :class:`~airflow_provider_fabric.exceptions.FabricStatusError`
    naming the genome and the server's reason (``status_description``) as soon
    as any genome is in a failure status. An unknown status is logged and
    waited on. Status changes are logged with IDs and statuses only.

    In deferrable mode the sensor looks once and, if not done, hands the wait
    to :class:`~airflow_provider_fabric.triggers.fabric.FabricGenomeAnnotationTrigger`
    (no worker slot held). For long waits set ``exponential_backoff=True`` and
    ``max_wait`` (e.g. ``poke_interval=30``, ``max_wait=600``): both modes then
    grow their interval the same way. The wait ends with a
    :class:`~airflow_provider_fabric.exceptions.FabricTimeoutError` at ``timeout``
    or ``execution_timeout``, whichever comes first. With a single genome and a
    connection ``ui_url``, the genome's URL is pushed (XCom ``fabric_genome_url``)
    before waiting, for the "Fabric genome" link. A sensor given several genomes (a
    list, or the output of mapped uploads such as ``upload_genomes.output``) has no
    such link (see :func:`names_several`).

    :param genome_ids: the genome(s) to wait for (templated): an int, a list,
        digit strings, or an XCom-pulled list, e.g. from mapped upload tasks.
    :param success_statuses: statuses meaning annotated.
    :param failure_statuses: statuses meaning the annotation failed.
    :param fabric_conn_id: the ``fabric_genomics`` connection.
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    :param kwargs: :class:`~airflow.sdk.BaseSensorOperator` arguments (``poke_interval``,
        ``timeout``, ``mode``, ``exponential_backoff``, ``max_wait``, ``soft_fail``...).
    """

    template_fields: Sequence[str] = ("genome_ids",)
    operator_extra_links: Collection[BaseOperatorLink] = (FabricGenomeLink(),)
    kind = "Genome"

    def __init__(
        self,
        *,
        genome_ids: Any,
        success_statuses: Collection[str] = GENOME_SUCCESS_STATUSES,
        failure_statuses: Collection[str] = GENOME_FAILURE_STATUSES,
        fabric_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(fabric_conn_id=fabric_conn_id, deferrable=deferrable, **kwargs)
        self.genome_ids = genome_ids
        self.success_statuses = list(success_statuses)
        self.failure_statuses = list(failure_statuses)
        overlap = {s.upper() for s in self.success_statuses} & {s.upper() for s in self.failure_statuses}
        if overlap:
            raise FabricInputError(f"statuses {sorted(overlap)} are both success and failure statuses")
        self._ids: list[int] = []
        # A link names one genome: a sensor that waits for several gets none, so the UI shows
        # no "Extra Links" heading with nothing under it.
        links: tuple[BaseOperatorLink, ...] = () if names_several(genome_ids, self) else (FabricGenomeLink(),)
        self.operator_extra_links = links

    def _prepare(self, context: Context) -> None:
        self._ids = genome_id_list(self.genome_ids)
        self.log.info("Waiting for the annotation of %d genome(s): %s", len(self._ids), self._ids_text())
        if len(self._ids) == 1:
            push_link_url(self, context, GENOME_URL_KEY, self.hook.genome_ui_url(self._ids[0]))

    def _ids_text(self) -> str:
        return ", ".join(str(g) for g in self._ids)

    def _look(self) -> StatusCheck:
        genomes = {gid: self.hook.get_genome(gid) for gid in self._ids}
        return check_genomes(genomes, self.success_statuses, self.failure_statuses)

    def _result(self, check: StatusCheck) -> list[int]:
        return list(self._ids)

    def _trigger(self) -> BaseTrigger:
        return FabricGenomeAnnotationTrigger(
            genome_ids=list(self._ids),
            success_statuses=self.success_statuses,
            failure_statuses=self.failure_statuses,
            **self._trigger_kwargs(),
        )

    def _event_result(self, event: Mapping[str, Any]) -> list[int]:
        return [int(g) for g in event.get("genome_ids", [])]

    def _relink(self, context: Context, event: Mapping[str, Any]) -> None:
        ids = event.get("genome_ids") or []
        if len(ids) == 1 and self.operator_extra_links:
            push_link_url(self, context, GENOME_URL_KEY, self.hook.genome_ui_url(ids[0]))


class FabricClinicalReportStatusSensor(_FabricStatusSensor):
    """Wait until a clinical report reaches a target status (``READY TO REVIEW`` by default).

    Also waits for ``APPROVED`` before fetching the final PDF
    (``target_statuses=("APPROVED",)``). Returns the report's final status
    (the task's return value). Fails at once with
    :class:`~airflow_provider_fabric.exceptions.FabricStatusError` when the report
    reaches a failure status; an unknown status is logged and waited on. The
    report's Fabric Enterprise URL is pushed (XCom ``fabric_report_url``) before
    waiting, for the "Fabric report" link (when the connection has ``ui_url``).

    Family reports wait for every member's annotation and for VAAST runs
    (hours): prefer ``deferrable=True`` with ``exponential_backoff=True`` and a
    ``max_wait`` such as 600 s, so the wait costs tens of requests and no worker
    slot. The wait ends with a
    :class:`~airflow_provider_fabric.exceptions.FabricTimeoutError` at ``timeout``
    or ``execution_timeout``, whichever comes first.

    :param report_id: the clinical report to wait for (templated).
    :param target_statuses: statuses to wait for.
    :param failure_statuses: statuses meaning the report failed.
    :param fabric_conn_id: the ``fabric_genomics`` connection.
    :param deferrable: wait in the triggerer; defaults to ``[operators] default_deferrable``.
    :param kwargs: :class:`~airflow.sdk.BaseSensorOperator` arguments (``poke_interval``,
        ``timeout``, ``mode``, ``exponential_backoff``, ``max_wait``, ``soft_fail``...).
    """

    template_fields: Sequence[str] = ("report_id",)
    operator_extra_links: Collection[BaseOperatorLink] = (FabricReportLink(),)
    kind = "Clinical report"

    def __init__(
        self,
        *,
        report_id: int | str,
        target_statuses: Collection[str] = REPORT_READY_STATUSES,
        failure_statuses: Collection[str] = REPORT_FAILURE_STATUSES,
        fabric_conn_id: str = DEFAULT_CONN_ID,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(fabric_conn_id=fabric_conn_id, deferrable=deferrable, **kwargs)
        self.report_id = report_id
        self.target_statuses = list(target_statuses)
        self.failure_statuses = list(failure_statuses)
        overlap = {s.upper() for s in self.target_statuses} & {s.upper() for s in self.failure_statuses}
        if overlap:
            raise FabricInputError(f"statuses {sorted(overlap)} are both target and failure statuses")
        self._id: int = 0

    def _prepare(self, context: Context) -> None:
        self._id = as_id(self.report_id, "report_id")
        self.log.info(
            "Waiting for clinical report %s to reach %s", self._id, " or ".join(self.target_statuses)
        )
        push_link_url(self, context, REPORT_URL_KEY, self.hook.report_ui_url(self._id))

    def _ids_text(self) -> str:
        return str(self._id)

    def _look(self) -> StatusCheck:
        return check_report(
            self._id, self.hook.get_report(self._id), self.target_statuses, self.failure_statuses
        )

    def _result(self, check: StatusCheck) -> str:
        return check.statuses[str(self._id)]

    def _trigger(self) -> BaseTrigger:
        return FabricClinicalReportStatusTrigger(
            report_id=self._id,
            target_statuses=self.target_statuses,
            failure_statuses=self.failure_statuses,
            **self._trigger_kwargs(),
        )

    def _event_result(self, event: Mapping[str, Any]) -> str:
        return str(event.get("report_status", ""))

    def _relink(self, context: Context, event: Mapping[str, Any]) -> None:
        if event.get("report_id") is not None:
            push_link_url(self, context, REPORT_URL_KEY, self.hook.report_ui_url(event["report_id"]))
