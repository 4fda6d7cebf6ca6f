"""The Airflow plugin: the cases app mounted in the api-server, and "Fabric Genomics" in the UI's navigation.

Registered with the ``airflow.plugins`` entry point, so installing the provider
is enough (Airflow 3.1+). Every Airflow process loads plugins, so this module
stays cheap: FastAPI and the app's modules are imported by the api-server on
the first request, not here.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.common.compat.sdk import AirflowPlugin

#: Where the api-server mounts the app; the page is ``/fabric-genomics/cases`` under the UI's root.
URL_PREFIX = "/fabric-genomics"


class LazyApp:
    """An ASGI app that builds the real FastAPI app when the first request arrives."""

    def __init__(self) -> None:
        self._app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self._app is None:
            from airflow_provider_fabric.ui.app import create_app

            self._app = create_app()
        await self._app(scope, receive, send)


class FabricGenomicsPlugin(AirflowPlugin):
    """The "Fabric Genomics" page: genomes and clinical reports of this Airflow's DAG runs, live."""

    name = "fabric_genomics"
    fastapi_apps = [{"name": "Fabric Genomics cases", "app": LazyApp(), "url_prefix": URL_PREFIX}]
    external_views = [
        {
            "name": "Fabric Genomics",
            # Relative: resolved against the UI's base URL, so a proxy path in front of Airflow works.
            "href": URL_PREFIX.lstrip("/") + "/cases",
            "destination": "nav",
            "url_route": "fabric-genomics",
        }
    ]
