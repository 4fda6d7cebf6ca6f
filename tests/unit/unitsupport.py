"""Constants shared by the unit tests (imported by name: ``from conftest`` could find another folder's)."""

from __future__ import annotations

#: The mocked Fabric server of the ``fabric_conn`` fixture.
BASE = "https://fabric.test"
