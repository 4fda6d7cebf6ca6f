"""The lock files hold what pyproject.toml asks for, and the declared Airflow floor is the one tested.

``requirements/test.txt`` (tests, demo, docs) and ``requirements/floor.txt`` (the example DAGs on
the lowest supported Airflow) are what every clone installs; ``make lock`` re-resolves them. These
checks fail when a dependency changes in pyproject.toml without ``make lock``.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def pins(lock: str) -> dict[str, str]:
    """``name -> version`` of every package a lock file pins."""
    text = (ROOT / "requirements" / lock).read_text()
    return {canonicalize_name(name): version for name, version in PIN.findall(text)}


def requirements(*extras: str) -> list[Requirement]:
    listed = list(PYPROJECT["project"]["dependencies"])
    for extra in extras:
        listed += PYPROJECT["project"]["optional-dependencies"][extra]
    return [Requirement(item) for item in listed]


@pytest.mark.parametrize(
    ("lock", "extras"), [("test.txt", ("test", "openlineage")), ("floor.txt", ("openlineage",))]
)
def test_every_declared_requirement_is_locked_within_its_range(lock, extras):
    locked = pins(lock)
    wrong = {
        str(req): locked.get(canonicalize_name(req.name))
        for req in requirements(*extras)
        if locked.get(canonicalize_name(req.name)) is None
        or not req.specifier.contains(locked[canonicalize_name(req.name)], prereleases=True)
    }
    assert wrong == {}, f"{lock} is out of date with pyproject.toml (run `make lock`): {wrong}"


def test_every_lock_pins_hashes():
    for lock in ("test.txt", "floor.txt"):
        text = (ROOT / "requirements" / lock).read_text()
        assert len(PIN.findall(text)) > 50
        assert text.count("--hash=sha256:") >= len(PIN.findall(text)), lock


def test_the_declared_airflow_floor_is_the_one_the_floor_lock_installs():
    (airflow,) = [req for req in requirements() if req.name == "apache-airflow"]
    lower = [spec.version for spec in airflow.specifier if spec.operator == ">="]
    assert lower == [pins("floor.txt")["apache-airflow"]], (str(airflow), pins("floor.txt")["apache-airflow"])
    # The floor really is a second Airflow, below the one the rest of the suite runs on.
    assert Version(pins("floor.txt")["apache-airflow"]) < Version(pins("test.txt")["apache-airflow"])


def test_the_floor_installs_the_openlineage_extra_at_its_lower_bounds():
    """The optional lineage dependencies are tested at the lowest versions the extra allows."""
    floor = pins("floor.txt")
    for req in requirements("openlineage")[len(requirements()) :]:
        lower = [spec.version for spec in req.specifier if spec.operator == ">="]
        assert lower == [floor[canonicalize_name(req.name)]], (str(req), floor.get(req.name))
