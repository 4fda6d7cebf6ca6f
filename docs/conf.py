"""Sphinx configuration of the airflow-provider-fabric-genomics documentation site.

Build (warnings are errors, as in the test command)::

    sphinx-build -W --keep-going -b html docs docs/_build/html
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

# autodoc imports the provider, which imports Airflow: never let a docs build touch ~/airflow.
if "AIRFLOW_HOME" not in os.environ:
    _airflow_home = tempfile.mkdtemp(prefix="fabric-docs-airflow-home-")
    atexit.register(shutil.rmtree, _airflow_home, ignore_errors=True)
    os.environ["AIRFLOW_HOME"] = _airflow_home
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")


def _provider_version() -> str:
    from airflow_provider_fabric import __version__

    return __version__


project = "airflow-provider-fabric-genomics"
author = "airflow-provider-fabric-genomics developers"
copyright = "the airflow-provider-fabric-genomics developers"
version = release = _provider_version()

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.viewcode",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_drafts", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "deflist", "fieldlist"]
myst_heading_anchors = 3

autodoc_default_options = {
    "members": True,
    "show-inheritance": True,
    "member-order": "bysource",
}
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_inherit_docstrings = False

html_theme = "furo"
html_title = f"Fabric Genomics provider {release}"
# served as is: the OpenLineage facets' JSON schema (its URL is in every facet) and the pictures
html_static_path = ["_static"]

# Broken cross-references to the provider's own objects fail the build; references to Airflow,
# requests or the standard library are not checked (no network access for intersphinx in CI).
nitpicky = True
nitpick_ignore_regex = [
    (r"py:.*", r"(?!airflow_provider_fabric\b).*"),
    # private base classes shown by show-inheritance are not documented on purpose
    (r"py:.*", r"airflow_provider_fabric(\.\w+)*\._\w+"),
]
