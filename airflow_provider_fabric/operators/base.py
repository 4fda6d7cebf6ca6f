"""A small shared base for every Fabric Genomics operator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_fabric.hooks.fabric import FabricHook
    from airflow_provider_fabric.lineage import Node


class FabricBaseOperator(BaseOperator):
    """Base class of the Fabric Genomics operators: the connection, a cached hook, UI-link pushes, lineage.

    **OpenLineage.** With the OpenLineage provider installed and configured, each
    operator's task events say what it read and wrote (see
    :mod:`airflow_provider_fabric.lineage`): ``execute()`` notes IDs, checksums,
    counts and statuses with :meth:`note_lineage`, and the provider, once the
    task has ended, calls :meth:`get_openlineage_facets_on_complete` or
    :meth:`get_openlineage_facets_on_failure` in the same process. Nothing of
    OpenLineage is imported before then.

    :param fabric_conn_id: Airflow connection of type ``fabric_genomics`` to use.
    :param kwargs: any other :class:`~airflow.models.BaseOperator` argument.
    """

    #: Template fields that hold PHI (labels, external IDs, accessions, patient fields):
    #: ``"field"`` for the whole value, ``"field.key"`` for the values under ``key`` in the
    #: dicts (or list of dicts) it holds. Once rendered, they are registered with Airflow's
    #: secrets masker, so they show as ``***`` in the UI's rendered-template view and in logs.
    phi_fields: Sequence[str] = ()

    #: What this try found or made (IDs, checksums, counts, statuses; never PHI), noted by
    #: ``execute()`` for the task's OpenLineage event. Replaced, never changed in place: Airflow
    #: runs each try on a shallow copy of the DAG's task.
    lineage_facts: Mapping[str, Any] = MappingProxyType({})

    def __init__(self, *, fabric_conn_id: str = "fabric_genomics_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fabric_conn_id = fabric_conn_id

    def render_template_fields(self, context: Context, jinja_env: Any = None) -> None:
        """Render templates as usual, then mask the PHI among the rendered values.

        :param context: the task's execution context.
        :param jinja_env: the Jinja environment, as Airflow passes it.
        """
        from airflow_provider_fabric.links import start_link_urls

        start_link_urls(self)  # rendering happens in the task's process, before it executes
        super().render_template_fields(context, jinja_env)
        for spec in self.phi_fields:
            name, _, key = spec.partition(".")
            mask_phi(getattr(self, name, None), key=key or None)

    @cached_property
    def hook(self) -> FabricHook:
        """The :class:`~airflow_provider_fabric.hooks.fabric.FabricHook` of ``fabric_conn_id`` (made once)."""
        from airflow_provider_fabric.hooks.fabric import FabricHook

        return FabricHook(fabric_conn_id=self.fabric_conn_id)

    def push_report_url(self, context: Context, report_id: int | str) -> str | None:
        """Push the report's Fabric Enterprise URL to XCom (key ``fabric_report_url``) for the extra link.

        Nothing is pushed when the connection has no ``ui_url``.

        :param context: the task's execution context.
        :param report_id: the clinical report's ID.
        :return: the URL pushed, or ``None``.
        """
        from airflow_provider_fabric.links import REPORT_URL_KEY, push_link_url

        return push_link_url(self, context, REPORT_URL_KEY, self.hook.report_ui_url(report_id))

    def push_genome_url(self, context: Context, genome_id: int | str) -> str | None:
        """Push the genome's Fabric Enterprise URL to XCom (key ``fabric_genome_url``) for the extra link.

        Nothing is pushed when the connection has no ``ui_url``.

        :param context: the task's execution context.
        :param genome_id: the genome's ID.
        :return: the URL pushed, or ``None``.
        """
        from airflow_provider_fabric.links import GENOME_URL_KEY, push_link_url

        return push_link_url(self, context, GENOME_URL_KEY, self.hook.genome_ui_url(genome_id))

    def note_lineage(self, **facts: Any) -> None:
        """Keep facts for this task's OpenLineage event (see :attr:`lineage_facts`).

        :param facts: IDs, checksums, sizes, counts, types, statuses: never PHI.
        """
        self.lineage_facts = {**self.lineage_facts, **facts}

    def lineage_nodes(self, namespace: str | None) -> tuple[list[Node], list[Node]]:
        """What this task read and what it wrote, from its arguments and :attr:`lineage_facts`.

        Each operator that reads or writes data overrides this. Outputs are listed only once
        ``execute()`` has noted them, so a failed try never claims what it did not write.

        :param namespace: the Fabric server's namespace (``fabric://host``), or ``None`` when this
            task never reached the server.
        :return: ``(inputs, outputs)``.
        """
        return [], []

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> Any:
        """The OpenLineage provider's call once the task succeeded: its inputs and outputs.

        :param task_instance: the finished task instance (unused: everything is on the operator).
        :return: an ``OperatorLineage``.
        """
        from airflow_provider_fabric.lineage import operator_lineage

        inputs, outputs = self.lineage_nodes(self._lineage_namespace())
        return operator_lineage(inputs, outputs)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> Any:
        """The OpenLineage provider's call once the task failed: what it read, and no outputs.

        A failed try may have left nothing (writes are all or nothing) or an object whose
        answer was lost; either way it claims no output.

        :param task_instance: the failed task instance (unused).
        :return: an ``OperatorLineage``.
        """
        from airflow_provider_fabric.lineage import operator_lineage

        inputs, _ = self.lineage_nodes(self._lineage_namespace())
        return operator_lineage(inputs, [])

    def _lineage_namespace(self) -> str | None:
        """The Fabric namespace, if this try's hook read its connection (never looked up here)."""
        from airflow_provider_fabric.lineage import fabric_namespace

        hook = self.__dict__.get("hook")
        settings = getattr(hook, "__dict__", {}).get("settings")
        return fabric_namespace(settings.base_url) if settings is not None else None


#: Airflow's masker refuses shorter values (they would mask too much); so do we, quietly.
_SHORTEST_MASKED = 5


def mask_phi(value: Any, *, key: str | None = None) -> None:
    """Register PHI with Airflow's secrets masker: text values, and those inside lists and dicts.

    Only text is masked (IDs are numbers, and stay readable); values shorter
    than five characters are left alone, as Airflow's masker would.

    :param value: a rendered template value (text, number, list, dict or ``None``).
    :param key: in dicts, mask only the value under this key (e.g. a family member's ``label``).
    """
    from airflow.providers.common.compat.sdk import mask_secret

    if isinstance(value, Mapping):
        for item_key, item in value.items():
            if key is None or item_key == key:
                mask_phi(item)
            elif isinstance(item, Mapping | list | tuple):
                mask_phi(item, key=key)
    elif isinstance(value, list | tuple | set):
        for item in value:
            mask_phi(item, key=key)
    elif isinstance(value, str) and len(value.strip()) >= _SHORTEST_MASKED:
        mask_secret(value.strip())
