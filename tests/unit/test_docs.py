"""The documentation's code snippets come from the example DAGs, and every operator has a how-to.

The docs include snippets with ``literalinclude`` between ``[START name]`` /
``[END name]`` markers of ``dags_examples/`` files. Sphinx only warns about a
missing marker when it builds; these checks say exactly which page and
marker broke, in the fast unit run.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
EXAMPLES = ROOT / "dags_examples"

_INCLUDE = re.compile(r"```\{literalinclude\}\s+(?P<target>\S+)\n(?P<options>(?::[^\n]*\n)*)```")
_OPTION = re.compile(r"^:(?P<name>[\w-]+):\s*(?P<value>.*)$")


def _includes() -> list[tuple[Path, Path, dict[str, str]]]:
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        if "_build" in page.parts or "_drafts" in page.parts:  # not part of the site (conf.py)
            continue
        for match in _INCLUDE.finditer(page.read_text()):
            options = {}
            for line in match["options"].splitlines():
                option = _OPTION.match(line)
                assert option, f"{page.relative_to(ROOT)}: unreadable literalinclude option {line!r}"
                options[option["name"]] = option["value"].strip().strip('"')
            target = (page.parent / match["target"]).resolve()
            found.append((page, target, options))
    return found


INCLUDES = _includes()


def _id(item: tuple[Path, Path, dict[str, str]]) -> str:
    page, _, options = item
    return f"{page.relative_to(DOCS)}:{options.get('start-after', '?')}"


def test_the_how_to_pages_include_snippets() -> None:
    assert len(INCLUDES) >= 17, "the how-to pages lost their example-DAG snippets"


@pytest.mark.parametrize("item", INCLUDES, ids=[_id(item) for item in INCLUDES])
def test_each_snippet_comes_from_an_example_dag_between_its_markers(
    item: tuple[Path, Path, dict[str, str]],
) -> None:
    page, target, options = item
    where = f"{page.relative_to(ROOT)} includes {target.name}"
    assert target.parent == EXAMPLES, f"{where}: snippets must come from dags_examples/"
    assert target.is_file(), f"{where}: the file does not exist"
    start, end = options.get("start-after", ""), options.get("end-before", "")
    name = start.removeprefix("[START ").removesuffix("]")
    assert start == f"[START {name}]" and end == f"[END {name}]", (
        f'{where}: use :start-after: "[START name]" and :end-before: "[END name]" with the same name'
    )
    lines = target.read_text().splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == f"# {start}"]
    ends = [i for i, line in enumerate(lines) if line.strip() == f"# {end}"]
    assert len(starts) == 1 and len(ends) == 1, f"{where}: marker {name!r} must occur exactly once"
    snippet = lines[starts[0] + 1 : ends[0]]
    assert any(line.strip() and not line.strip().startswith("#") for line in snippet), (
        f"{where}: the snippet {name!r} holds no code"
    )
    dedent = int(options.get("dedent", "0"))
    assert all(not line.strip() or line[:dedent].isspace() or not line[:dedent] for line in snippet), (
        f"{where}: :dedent: {dedent} would cut code in {name!r}"
    )


def _public_classes(module: Path, suffixes: tuple[str, ...]) -> list[str]:
    tree = ast.parse(module.read_text())
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_") and node.name.endswith(suffixes)
    ]


def test_every_operator_and_sensor_has_a_how_to() -> None:
    package = ROOT / "airflow_provider_fabric"
    classes = []
    for module in sorted((package / "operators").glob("*.py")):
        classes += [name for name in _public_classes(module, ("Operator",)) if name != "FabricBaseOperator"]
    for module in sorted((package / "sensors").glob("*.py")):
        classes += _public_classes(module, ("Sensor",))
    assert classes, "no operators found"
    howtos = "\n".join(page.read_text() for page in (DOCS / "howto").glob("*.md"))
    missing = [name for name in classes if f"`{name}`" not in howtos]
    assert not missing, f"operators/sensors without a how-to section in docs/howto/: {missing}"


def test_every_included_dag_is_run_by_the_dag_tests() -> None:
    """The snippets are only as good as the DAGs they come from: those DAGs must run in tests/dags/.

    ``test_dag_imports.py`` only parses the DAGs; a DAG counts as run when another
    ``tests/dags`` test module names its ``dag_id``.
    """
    runners = "\n".join(
        path.read_text()
        for path in (ROOT / "tests" / "dags").glob("test_*.py")
        if path.name != "test_dag_imports.py"
    )
    not_run = []
    for dag_file in sorted({target for _, target, _ in INCLUDES}):
        dag_ids = re.findall(r"dag_id=\"([\w.-]+)\"", dag_file.read_text())
        assert dag_ids, f"{dag_file.name}: no dag_id found"
        not_run += [f"{dag_file.name} ({dag_id})" for dag_id in dag_ids if f'"{dag_id}"' not in runners]
    assert not not_run, f"example DAGs included in the docs but not run by tests/dags: {not_run}"


def test_every_public_module_is_in_the_api_reference() -> None:
    package = ROOT / "airflow_provider_fabric"
    documented = set(
        re.findall(
            r"automodule::\s+([\w.]+)",
            "\n".join(page.read_text() for page in (DOCS / "reference").glob("*.rst")),
        )
    )
    skipped = {"airflow_provider_fabric.get_provider_info"}  # registration data, no API
    modules = set()
    for path in package.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if path.name == "__init__.py" or parts[1] == "sandbox" or any(p.startswith("_") for p in parts):
            continue  # the sandbox server is a program (docs/sandbox.md); only sandbox.process is API
        modules.add(".".join(parts))
    missing = sorted(modules - documented - skipped)
    assert not missing, f"modules missing from docs/reference/*.rst: {missing}"
