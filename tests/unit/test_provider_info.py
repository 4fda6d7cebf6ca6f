"""Airflow discovers the provider, its connection form and every module it lists."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

from airflow_provider_fabric.get_provider_info import get_provider_info


def test_provider_info_is_valid_against_airflows_schema():
    import airflow
    import jsonschema

    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_every_listed_module_and_link_imports():
    info = get_provider_info()
    modules = [
        m
        for group in ("operators", "sensors", "hooks", "triggers")
        for e in info[group]
        for m in e["python-modules"]
    ]
    for name in modules:
        importlib.import_module(name)
    for path in info["extra-links"]:
        module, _, cls = path.rpartition(".")
        assert hasattr(importlib.import_module(module), cls), path
    hook = info["connection-types"][0]["hook-class-name"].rpartition(".")
    assert hasattr(importlib.import_module(hook[0]), hook[2])


def test_connection_form_relabels_and_hides_fields():
    conn = get_provider_info()["connection-types"][0]
    assert conn["connection-type"] == "fabric_genomics"
    assert conn["hook-name"] == "Fabric Genomics"
    behaviour = conn["ui-field-behaviour"]
    assert behaviour["relabeling"] == {"host": "Fabric API URL", "login": "API key", "password": "API secret"}
    assert behaviour["placeholders"]["host"] == "https://api.fabricgenomics.com"
    assert set(behaviour["hidden-fields"]) == {"schema"}
    # Port stays visible: Airflow's Test button refuses a connection without one (it sends port 0).
    assert "Test button" in behaviour["placeholders"]["port"]
    assert set(conn["conn-fields"]) == {"verify", "timeout", "ui_url", "server_timezone"}


def test_airflow_cli_lists_the_hook_without_warnings():
    env = dict(os.environ)
    result = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "hooks"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    line = next(line for line in result.stdout.splitlines() if line.startswith("fabric_genomics"))
    assert "airflow_provider_fabric.hooks.fabric.FabricHook" in line and "Fabric Genomics" in line
    assert "airflow-provider-fabric-genomics" not in result.stderr
    assert "warning" not in result.stderr.lower()


def test_the_providers_page_links_our_documentation():
    """Airflow's Providers page links the package name to ``[project.urls] Documentation``."""
    import tomllib

    from airflow.providers_manager import ProvidersManager

    urls = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"][
        "urls"
    ]
    assert {"Documentation", "Source", "Changelog", "Issues"} <= set(urls)
    provider = ProvidersManager().providers["airflow-provider-fabric-genomics"]
    assert provider.data["documentation-url"] == urls["Documentation"]
