"""Draw the lineage graph of a DAG run from its OpenLineage events (a file transport's JSON lines).

    python scripts/lineage_graph.py EVENTS.jsonl [--dag example_fabric_panel] > graph.dot
    dot -Tpng graph.dot -o graph.png

Datasets are boxes (Fabric objects blue, files grey), labelled with their facts (MD5, build,
type, status, records, bytes); tasks are ellipses. Only COMPLETE events count. This is how
``docs/_static/lineage-panel.png`` was made from a run of the panel example against the sandbox.
"""

from __future__ import annotations

import argparse
import json
from typing import Any


def _label(dataset: dict[str, Any]) -> str:
    name = dataset["name"]
    if not dataset["namespace"].startswith("fabric://"):
        name = "/".join(name.split("/")[-2:])  # the report folder and the (hashed) file name
    lines = [name]
    facets = {**dataset.get("facets", {}), **dataset.get("inputFacets", {})}
    facets.update(dataset.get("outputFacets", {}))
    file_facet = facets.get("fabricFile") or {}
    genome = facets.get("fabricGenome") or {}
    report = facets.get("fabricReport") or {}
    stats = facets.get("inputStatistics") or facets.get("outputStatistics") or {}
    if file_facet.get("content"):
        lines.append(file_facet["content"])
    md5 = file_facet.get("md5") or genome.get("md5")
    if md5:
        lines.append(f"md5 {md5[:12]}…")
    build = file_facet.get("genomeBuild") or genome.get("genomeBuild")
    if build:
        lines.append(build)
    lines += [str(report[key]) for key in ("reportType", "status") if report.get(key)]
    if stats.get("rowCount") is not None:
        lines.append(f"{stats['rowCount']} records")
    if stats.get("size") is not None:
        lines.append(f"{stats['size']:,} bytes")
    return "\\n".join(lines)


def dot(events: list[dict[str, Any]], dag_id: str | None) -> str:
    """Graphviz source of the run's lineage.

    :param events: the OpenLineage events.
    :param dag_id: only this DAG's tasks (default: all).
    """
    tasks: dict[str, str] = {}  # job -> task id
    datasets: dict[str, tuple[bool, list[str]]] = {}  # key -> (a Fabric object, labels seen)
    edges: set[tuple[str, str]] = set()
    for event in events:
        job = event["job"]["name"]
        dag, _, task = job.partition(".")
        if event["eventType"] != "COMPLETE" or not task or (dag_id and dag != dag_id):
            continue
        if not (event.get("inputs") or event.get("outputs")):
            continue
        tasks[job] = task
        for side in ("inputs", "outputs"):
            for dataset in event.get(side, []):
                key = f"{dataset['namespace']} {dataset['name']}"
                fabric = dataset["namespace"].startswith("fabric://")
                datasets.setdefault(key, (fabric, []))[1].append(_label(dataset))
                edges.add((key, job) if side == "inputs" else (job, key))
    lines = [f'"{job}" [shape=ellipse, label="{task}"];' for job, task in tasks.items()]
    for key, (fabric, labels) in datasets.items():
        label = max(reversed(labels), key=lambda text: text.count("\\n"))  # fullest, latest among equals
        colour = "lightblue" if fabric else "lightgrey"
        lines.append(f'"{key}" [shape=box, style=filled, fillcolor={colour}, label="{label}"];')
    lines += [f'"{a}" -> "{b}";' for a, b in sorted(edges)]
    body = "\n  ".join(lines)
    return f"digraph lineage {{\n  rankdir=LR;\n  node [fontname=Helvetica, fontsize=10];\n  {body}\n}}\n"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("events", help="a file transport's output: one OpenLineage event per line")
    parser.add_argument("--dag", help="only this DAG's tasks")
    args = parser.parse_args()
    with open(args.events, encoding="utf-8") as handle:
        events = [json.loads(line) for line in handle if line.strip()]
    print(dot(events, args.dag), end="")


if __name__ == "__main__":
    main()
