"""The plugin is registered by the provider itself, stays cheap to load, and adds the page to the nav."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points


def test_registered_through_the_airflow_plugins_entry_point():
    from airflow_provider_fabric.ui.plugin import FabricGenomicsPlugin

    (entry,) = [ep for ep in entry_points(group="airflow.plugins") if ep.name == "fabric_genomics"]
    assert entry.load() is FabricGenomicsPlugin


def test_nav_entry_and_app_mount():
    from airflow.api_fastapi.app import RESERVED_URL_PREFIXES

    from airflow_provider_fabric.ui.plugin import FabricGenomicsPlugin

    (view,) = FabricGenomicsPlugin.external_views
    assert view["name"] == "Fabric Genomics" and view["destination"] == "nav"
    assert view["href"] == "fabric-genomics/cases", "relative: resolved against the UI's base URL"
    (app,) = FabricGenomicsPlugin.fastapi_apps
    assert app["url_prefix"] == "/fabric-genomics"
    assert not any(app["url_prefix"].startswith(prefix) for prefix in RESERVED_URL_PREFIXES)


def test_loading_the_plugin_imports_neither_the_app_nor_fastapi_nor_http():
    # Every Airflow process (scheduler, workers, DAG processor) loads plugins.
    code = (
        "import sys; import airflow_provider_fabric.ui.plugin; "
        "heavy = [m for m in ('airflow_provider_fabric.ui.app', 'airflow_provider_fabric.ui.statuses', "
        "'airflow_provider_fabric.hooks.fabric', 'fastapi', 'requests') if m in sys.modules]; print(heavy)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_the_page_settings_are_declared_with_the_defaults_it_uses(monkeypatch):
    """``airflow config list`` shows each setting of the page, and what it shows is what the page does."""
    from airflow_provider_fabric.api.settings import DEFAULT_CONN_ID
    from airflow_provider_fabric.get_provider_info import get_provider_info
    from airflow_provider_fabric.ui import app

    options = get_provider_info()["config"]["fabric_genomics"]["options"]
    declared = {name: option["default"] for name, option in options.items() if name.startswith("cases_")}
    assert declared["cases_conn_id"] == DEFAULT_CONN_ID
    for name in declared:
        monkeypatch.delenv(f"AIRFLOW__FABRIC_GENOMICS__{name.upper()}", raising=False)
    app.board.cache_clear()
    try:
        board = app.board()
        used = {
            "cases_conn_id": board.conn_id,
            "cases_cache_seconds": board.ttl,
            "cases_timeout": board.timeout,
            "cases_page_size": board.page_size,
            "cases_days": app._days(),
        }
    finally:
        app.board.cache_clear()
    assert used == {name: type(used[name])(default) for name, default in declared.items()}
    assert used["cases_page_size"] == 500 and used["cases_days"] == 90.0  # what docs/cases_page.md says
