"""A small shared base for every Fabric Genomics operator."""

from __future__ import annotations

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

    def __init__(self, *, fabric_conn_id: str = "fabric_genomics_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.fabric_conn_id = fabric_conn_id

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
        from airflow_provider_fabric.links import REPORT_URL_KEY

        return self._push_url(context, REPORT_URL_KEY, self.hook.report_ui_url(report_id))

    def push_genome_url(self, context: Context, genome_id: int | str) -> str | None:
        """Push the genome's Fabric Enterprise URL to XCom (key ``fabric_genome_url``) for the extra link.

        Nothing is pushed when the connection has no ``ui_url``.

        :param context: the task's execution context.
        :param genome_id: the genome's ID.
        :return: the URL pushed, or ``None``.
        """
        from airflow_provider_fabric.links import GENOME_URL_KEY

        return self._push_url(context, GENOME_URL_KEY, self.hook.genome_ui_url(genome_id))

    @staticmethod
    def _push_url(context: Context, key: str, url: str | None) -> str | None:
        if url:
            context["ti"].xcom_push(key=key, value=url)
        return url
