"""Operator extra links from Airflow task instances to Fabric Enterprise.

Operators and sensors push the object's web-app URL to XCom (under the keys
below) as soon as they know it, before any wait; the links read it back.
Nothing is pushed, and no link shown, when the connection has no ``ui_url``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.providers.common.compat.sdk import BaseHook, BaseOperatorLink, XCom

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import BaseOperator, TaskInstanceKey

#: XCom key holding the Fabric web-app URL of the task's clinical report.
REPORT_URL_KEY = "fabric_report_url"
#: XCom key holding the Fabric web-app URL of the task's genome.
GENOME_URL_KEY = "fabric_genome_url"


class _XComUrlLink(BaseOperatorLink):
    #: The XCom key the operator pushes the URL under (Airflow's own ``xcom_key``
    #: property names where it stores the finished link; keep the two apart).
    url_key: str = ""

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        if not self._has_ui_url(operator):
            return ""  # nothing was pushed: skip a lookup Airflow would log as an error
        url: Any = XCom.get_value(key=self.url_key, ti_key=ti_key)
        return url if isinstance(url, str) else ""

    @staticmethod
    def _has_ui_url(operator: BaseOperator) -> bool:
        conn_id = getattr(operator, "fabric_conn_id", None)
        if not conn_id:
            return True
        try:
            return bool(BaseHook.get_connection(conn_id).extra_dejson.get("ui_url"))
        except Exception:  # an unreadable connection: let the XCom decide
            return True


class FabricReportLink(_XComUrlLink):
    """ "Fabric report": opens the task's clinical report in Fabric Enterprise."""

    name = "Fabric report"
    url_key = REPORT_URL_KEY


class FabricGenomeLink(_XComUrlLink):
    """ "Fabric genome": opens the task's genome in Fabric Enterprise."""

    name = "Fabric genome"
    url_key = GENOME_URL_KEY
