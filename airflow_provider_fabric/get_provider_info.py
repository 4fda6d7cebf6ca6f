"""Provider registration, read by Airflow through the ``apache_airflow_provider`` entry point.

Kept import-free (no hooks, no airflow) so that listing providers stays cheap.
Modules are listed here as they exist; connection form fields are declared
here (Airflow 3.2+), not in Python methods on the hook.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_fabric import __version__

INTEGRATION = "Fabric Genomics"
# Labels and placeholders of the connection form; bandit reads the word "password" as a secret.
_FORM_LABELS = {"host": "Fabric API URL", "login": "API key", "password": "API secret"}  # nosec B105
_FORM_PLACEHOLDERS = {  # nosec B105
    "host": "https://api.fabricgenomics.com",
    "login": "API key of the Fabric API user",
    "password": "API secret",
    # Airflow's Test button (connection list) sends port 0 for a connection without one and
    # refuses to test it ("Bad Request"); with the port filled in it tests the connection.
    "port": "443 (fill in for Airflow's Test button)",
}


def get_provider_info() -> dict[str, Any]:
    """Return the provider's metadata for Airflow's providers manager."""
    return {
        "package-name": "airflow-provider-fabric-genomics",
        "name": "Fabric Genomics",
        "description": "Upload VCFs, run clinical reports and export variants and PDFs with "
        "the Fabric Genomics (Fabric Enterprise) API.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://fabricgenomics.com/",
                "tags": ["service"],
            }
        ],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_fabric.operators.projects",
                    "airflow_provider_fabric.operators.genomes",
                    "airflow_provider_fabric.operators.reports",
                    "airflow_provider_fabric.operators.exports",
                    "airflow_provider_fabric.operators.variants",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["airflow_provider_fabric.sensors.fabric"],
            }
        ],
        "hooks": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_fabric.hooks.fabric",
                    "airflow_provider_fabric.hooks.fabric_async",
                ],
            }
        ],
        "triggers": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["airflow_provider_fabric.triggers.fabric"],
            }
        ],
        "extra-links": [
            "airflow_provider_fabric.links.FabricReportLink",
            "airflow_provider_fabric.links.FabricGenomeLink",
        ],
        "config": {
            "fabric_genomics": {
                "description": "Options of the Fabric Genomics provider.",
                "options": {
                    "lineage_file_names": {
                        "description": "File names in OpenLineage dataset names: hash (the file-name part "
                        "of a path replaced by a stable hash; folders and extension kept) or keep. Keep "
                        "names only if the lineage backend may hold PHI.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "keep",
                        "default": "hash",
                    },
                    "lineage_hash_key": {
                        "description": "Optional secret key of that hash (HMAC-SHA256), so that nobody "
                        "can find a file's dataset by hashing guessed sample IDs. The same on every machine.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": None,
                        "default": "",
                        "sensitive": True,
                    },
                    "cases_conn_id": {
                        "description": 'The connection the "Fabric Genomics" page reads statuses with.',
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "fabric_genomics_production",
                        "default": "fabric_genomics_default",
                    },
                    "cases_cache_seconds": {
                        "description": "How long statuses read from Fabric are reused by every page and "
                        'JSON request of the "Fabric Genomics" page.',
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "300",
                        "default": "60",
                    },
                    "cases_timeout": {
                        "description": 'Seconds per Fabric request of the "Fabric Genomics" page; the '
                        "page never waits on retries.",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "5",
                        "default": "10",
                    },
                    "cases_page_size": {
                        "description": 'Objects the "Fabric Genomics" page asks for per list request '
                        "(lower it if your server caps limit lower).",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "100",
                        "default": "500",
                    },
                    "cases_days": {
                        "description": 'The "Fabric Genomics" page leaves out task instances started '
                        "longer ago than this many days.",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "30",
                        "default": "90",
                    },
                },
            }
        },
        "connection-types": [
            {
                "connection-type": "fabric_genomics",
                "hook-class-name": "airflow_provider_fabric.hooks.fabric.FabricHook",
                "hook-name": "Fabric Genomics",
                "ui-field-behaviour": {
                    "hidden-fields": ["schema"],
                    "relabeling": _FORM_LABELS,
                    "placeholders": _FORM_PLACEHOLDERS,
                },
                "conn-fields": {
                    "verify": {
                        "label": "Verify TLS",
                        "description": "true (default), false, or the path of a CA bundle "
                        "(e.g. the fabric-sandbox CA).",
                        "schema": {"type": ["string", "null"], "default": "true"},
                    },
                    "timeout": {
                        "label": "Timeout (seconds)",
                        "description": "How long to wait for the server on each request.",
                        "schema": {"type": ["number", "null"], "default": 60},
                    },
                    "ui_url": {
                        "label": "Fabric Enterprise UI URL",
                        "description": "Base URL of the Fabric Enterprise web app, for links "
                        "from task instances to genomes and reports.",
                        "schema": {"type": ["string", "null"], "format": "url"},
                    },
                    "server_timezone": {
                        "label": "Server time zone",
                        "description": "Zone of the server's timestamps: America/Los_Angeles "
                        "for the US server, GMT for the EU server.",
                        "schema": {"type": ["string", "null"], "default": "America/Los_Angeles"},
                    },
                },
            }
        ],
    }
