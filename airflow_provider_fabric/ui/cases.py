"""What Airflow knows: the Fabric genomes and reports its task instances created or waited on.

Read from Airflow's own metadata database, nothing else: the return values
(XCom ``return_value``) of the provider's operators, and the rendered ID fields
of its sensors (so a sensor still waiting, or one that failed, is seen too).
Only IDs are read: no other XCom and no other rendered field (those can hold
labels, external IDs and accessions).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

GENOME = "genome"
REPORT = "report"

#: Operators whose return value is the ID (or IDs) of the genome or report they worked on.
RETURNED_IDS = {
    "FabricUploadGenomeOperator": GENOME,
    "FabricGenomeAnnotationSensor": GENOME,
    "FabricCreateClinicalReportOperator": REPORT,
    "FabricUpdateClinicalReportOperator": REPORT,
    "FabricPostPatientFieldsOperator": REPORT,
    "FabricPostQcDataOperator": REPORT,
    "FabricUpdateReportStatusOperator": REPORT,
}
#: Sensors whose rendered template field names what they wait on, success or not.
RENDERED_IDS = {
    "FabricGenomeAnnotationSensor": (GENOME, "genome_ids"),
    "FabricClinicalReportStatusSensor": (REPORT, "report_id"),
}
#: The upload operator's rendered ``project_id``: where to list a genome's status in one request.
PROJECT_FIELD = ("FabricUploadGenomeOperator", "project_id")


@dataclass(frozen=True)
class TaskRef:
    """One task instance that created or waited on a Fabric object."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    state: str | None
    start_date: datetime | None
    end_date: datetime | None

    @property
    def order(self) -> tuple[datetime, datetime]:
        """Most recent last: by start (a task not started yet counts as newest), then end."""
        newest = datetime.max.replace(tzinfo=None)
        start = self.start_date.replace(tzinfo=None) if self.start_date else newest
        end = self.end_date.replace(tzinfo=None) if self.end_date else newest
        return start, end


@dataclass
class AirflowCase:
    """A genome or report as Airflow knows it: its ID, its project (genomes) and the tasks that touched it."""

    kind: str
    fabric_id: int
    project_id: int | None = None
    tasks: list[TaskRef] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, int]:
        return self.kind, self.fabric_id

    @property
    def latest(self) -> TaskRef:
        """The task where the case is now: the most recently started one."""
        return max(self.tasks, key=lambda ref: ref.order)

    @property
    def last_finished(self) -> datetime | None:
        """When the last task that touched it ended (it saw, or set, the object's status then)."""
        ends = [ref.end_date for ref in self.tasks if ref.end_date is not None]
        return max(ends) if ends else None


def _text(state: Any) -> str | None:
    return None if state is None else str(getattr(state, "value", state))


def ids_in(value: Any) -> list[int]:
    """The object IDs in a return value or rendered field (int, digits, list...); ``[]`` if none."""
    from airflow_provider_fabric.exceptions import FabricInputError
    from airflow_provider_fabric.sensors.fabric import genome_id_list

    if value is None or isinstance(value, bool):
        return []
    try:
        return genome_id_list(value)
    except FabricInputError:
        return []


def collect(session: Any, dag_ids: Collection[str], since: datetime | None = None) -> list[AirflowCase]:
    """Every genome and report the task instances of ``dag_ids`` created or waited on.

    :param session: a SQLAlchemy session on Airflow's metadata database.
    :param dag_ids: the DAGs to look in (those the user may read); nothing is read for others.
    :param since: leave out task instances that started before this (those never started are kept).
    :return: one :class:`AirflowCase` per ``(kind, ID)``, in no particular order.
    """
    from airflow.models.renderedtifields import RenderedTaskInstanceFields as Rtif
    from airflow.models.taskinstance import TaskInstance as TI
    from airflow.models.xcom import XComModel
    from sqlalchemy import and_, or_, select

    if not dag_ids:
        return []
    columns = (TI.dag_id, TI.run_id, TI.task_id, TI.map_index, TI.state, TI.start_date, TI.end_date)
    recent: list[Any] = [TI.dag_id.in_(list(dag_ids))]
    if since is not None:
        recent.append(or_(TI.start_date.is_(None), TI.start_date >= since))

    def same_ti(model: Any) -> Any:
        return and_(
            model.dag_id == TI.dag_id,
            model.run_id == TI.run_id,
            model.task_id == TI.task_id,
            model.map_index == TI.map_index,
        )

    returned = session.execute(
        select(*columns, TI.operator, XComModel.value)
        .join(XComModel, and_(same_ti(XComModel), XComModel.key == "return_value"))
        .where(TI.operator.in_(list(RETURNED_IDS)), *recent)
    ).all()
    rendered_ops = [*RENDERED_IDS, PROJECT_FIELD[0]]
    rendered = session.execute(
        select(*columns, TI.operator, Rtif.rendered_fields)
        .join(Rtif, same_ti(Rtif))
        .where(TI.operator.in_(rendered_ops), *recent)
    ).all()

    cases: dict[tuple[str, int], AirflowCase] = {}
    projects: dict[tuple[str, str, str, int], int] = {}

    def add(kind: str, ids: Iterable[int], row: Any) -> None:
        ref = TaskRef(row.dag_id, row.run_id, row.task_id, row.map_index, _text(row.state), *row[5:7])
        for fabric_id in ids:
            case = cases.setdefault((kind, fabric_id), AirflowCase(kind, fabric_id))
            if ref not in case.tasks:
                case.tasks.append(ref)

    for row in returned:
        add(RETURNED_IDS[row.operator], ids_in(XComModel.deserialize_value(row)), row)
    for row in rendered:
        fields = row.rendered_fields if isinstance(row.rendered_fields, dict) else {}
        if row.operator == PROJECT_FIELD[0]:
            project = ids_in(fields.get(PROJECT_FIELD[1]))
            if project:
                projects[(row.dag_id, row.run_id, row.task_id, row.map_index)] = project[0]
            continue
        kind, name = RENDERED_IDS[row.operator]
        add(kind, ids_in(fields.get(name)), row)

    for case in cases.values():
        if case.kind == GENOME:
            for ref in case.tasks:
                found = projects.get((ref.dag_id, ref.run_id, ref.task_id, ref.map_index))
                if found is not None:
                    case.project_id = found
    return list(cases.values())
