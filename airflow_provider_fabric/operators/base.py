"""A small shared base for every Fabric Genomics operator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_fabric.hooks.fabric import FabricHook


class FabricBaseOperator(BaseOperator):
    """Base class of the Fabric Genomics operators: the connection, a cached hook, UI-link pushes.

    :param fabric_conn_id: Airflow connection of type ``fabric_genomics`` to use.
    :param kwargs: any other :class:`~airflow.models.BaseOperator` argument.
    """

    #: Template fields that hold PHI (labels, external IDs, accessions, patient fields):
    #: ``"field"`` for the whole value, ``"field.key"`` for the values under ``key`` in the
    #: dicts (or list of dicts) it holds. Once rendered, they are registered with Airflow's
    #: secrets masker, so they show as ``***`` in the UI's rendered-template view and in logs.
    phi_fields: Sequence[str] = ()

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
