"""Operator extra links from Airflow task instances to Fabric Enterprise.

Operators and sensors push the object's web-app URL to XCom (under the keys
below) as soon as they know it, before any wait; the links read it back.
Nothing is pushed, and no link shown, when the connection has no ``ui_url``.

Airflow 3 resolves each link once, in the task's own process, when the task
ends (and again after each deferral). The running task keeps the URLs it
pushed (:func:`start_link_urls`, :func:`push_link_url`), so the link reads them
there: a task that failed before it knew its object, or that names no single
object, leaves an empty link without a lookup of an XCom that was never pushed
(which Airflow would log as an error). Elsewhere (Airflow 2's webserver) the
link reads the XCom.
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
#: Attribute of a running task holding the URLs it pushed, by XCom key.
_RUNNING_URLS = "_fabric_link_urls"


def start_link_urls(task: Any) -> None:
    """Mark ``task`` as running in this process: from now on its links read the URLs it pushes here.

    :param task: the operator or sensor, before it renders its templates or executes.
    """
    setattr(task, _RUNNING_URLS, {})


def running_here(task: Any) -> bool:
    """Whether :func:`start_link_urls` marked ``task`` as running in this process.

    :param task: the operator or sensor.
    """
    return getattr(task, _RUNNING_URLS, None) is not None


def push_link_url(task: Any, context: Any, key: str, url: str | None) -> str | None:
    """Push a link's URL to XCom (when the connection gives one) and keep it on the running task.

    :param task: the operator or sensor.
    :param context: its execution context.
    :param key: :data:`REPORT_URL_KEY` or :data:`GENOME_URL_KEY`.
    :param url: the URL, or ``None`` when the connection has no ``ui_url``.
    :return: ``url``.
    """
    if url:
        context["ti"].xcom_push(key=key, value=url)
    running = getattr(task, _RUNNING_URLS, None)
    if running is not None:
        running[key] = url or ""
    return url


class _XComUrlLink(BaseOperatorLink):
    #: The XCom key the operator pushes the URL under (Airflow's own ``xcom_key``
    #: property names where it stores the finished link; keep the two apart).
    url_key: str = ""

    def get_link(self, operator: BaseOperator, *, ti_key: TaskInstanceKey) -> str:
        running = getattr(operator, _RUNNING_URLS, None)
        if running is not None:  # the task itself, as it ends: what it pushed, or nothing
            return str(running.get(self.url_key) or "")
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
