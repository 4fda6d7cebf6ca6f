"""Operators for Fabric Genomics projects."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from airflow_provider_fabric.api.reports import as_id
from airflow_provider_fabric.operators.base import FabricBaseOperator

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_fabric.lineage import Node

IF_EXISTS_CHOICES = ("reuse", "fail")


class FabricCreateProjectOperator(FabricBaseOperator):
    """Create a Fabric project, or reuse the existing project of that name; returns the project ID.

    Idempotent under Airflow retries with ``if_exists="reuse"`` (the default):
    before creating, the operator lists the projects the API key can see and,
    when one is named exactly ``project_name`` (same characters, same case,
    surrounding spaces ignored), returns its ID instead of creating a second
    project. With several projects of that name the oldest (lowest ID) is
    reused. With ``if_exists="fail"`` an existing project of that name fails
    the task with :class:`~airflow_provider_fabric.exceptions.FabricInputError`
    (note that a retry after a lost answer then fails too: the first try did
    create the project).

    :param project_name: the project's name (templated).
    :param description: an optional description (templated).
    :param share_role: how the project is shared with the workspace: ``CONTRIBUTOR``,
        ``VIEWER`` or ``NONE`` (templated).
    :param if_exists: ``reuse`` (return the existing project's ID) or ``fail``.
    :param fabric_conn_id: the ``fabric_genomics`` connection to use.
    :param kwargs: any other :class:`~airflow.models.BaseOperator` argument.
    """

    template_fields: Sequence[str] = ("project_name", "description", "share_role")

    def __init__(
        self,
        *,
        project_name: str,
        description: str | None = None,
        share_role: str = "NONE",
        if_exists: str = "reuse",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if if_exists not in IF_EXISTS_CHOICES:
            raise ValueError(f"if_exists must be one of {', '.join(IF_EXISTS_CHOICES)}")
        self.project_name = project_name
        self.description = description
        self.share_role = share_role
        self.if_exists = if_exists

    def execute(self, context: Context) -> int:
        """Find or create the project.

        :param context: the task's execution context.
        :return: the project's ID.
        """
        from airflow_provider_fabric.api.reports import SHARE_ROLES
        from airflow_provider_fabric.exceptions import FabricInputError

        name = str(self.project_name or "").strip()
        if not name:
            raise FabricInputError("project_name is required")
        share_role = str(self.share_role or "").strip().upper()
        if share_role not in SHARE_ROLES:
            raise FabricInputError(f"share_role must be one of {', '.join(SHARE_ROLES)}")

        existing = sorted(
            (project for project in self.hook.list_projects() if _project_name(project) == name),
            key=lambda project: int(project.get("id") or 0),
        )
        if existing:
            project_id = as_id(existing[0].get("id"), "project id")
            if self.if_exists == "fail":
                raise FabricInputError(f"a project with this name already exists (project {project_id})")
            self.log.info("Reusing existing project %s (found by name)", project_id)
            if len(existing) > 1:
                self.log.warning("%d projects share this name; reused the oldest", len(existing))
            self.note_lineage(project_id=project_id)
            return project_id

        created = self.hook.create_project(name, description=self.description or None, share_role=share_role)
        project_id = as_id(created.get("id"), "project id")
        self.log.info("Created project %s", project_id)
        self.note_lineage(project_id=project_id)
        return project_id

    def lineage_nodes(self, namespace: str | None) -> tuple[list[Node], list[Node]]:
        """Output: the project (found or created), ``projects/{id}``; its name stays out.

        :param namespace: the Fabric server's namespace, if reached.
        """
        from airflow_provider_fabric.lineage import fabric_node

        project_id = self.lineage_facts.get("project_id")
        if namespace is None or project_id is None:
            return [], []
        return [], [fabric_node(namespace, "projects", project_id)]


def _project_name(project: dict[str, Any]) -> str:
    return str(project.get("name") or project.get("project_name") or "").strip()
