"""#7 The "Fabric cases" page: its time and its Fabric requests per refresh at 10, 100 and 1,000 cases.

Builds real cases: genomes uploaded to a sandbox and panel reports on them (half
approved, half ready to review), then one DAG per size whose mapped sensors wait
on them, run with ``dag.test()`` so Airflow's DB holds what the page reads
(task instances, XComs, rendered fields). Then, for each size, side by side:

* **cold**: a new status board (as after an api-server start): the page's data
  (:func:`~airflow_provider_fabric.ui.app.cases_page_for`) and its HTML render;
* **cached**: the same page again within the cache time;
* **refresh**: after the cache time: only statuses that can still change are asked;
* **one GET per case**: the naive alternative, one ``GET /reports/{id}`` or
  ``GET /genomes/{id}`` per row.

Requests are counted by the board and checked against the sandbox's own record of
requests received. Times are medians of ``--repeat`` runs; compare them within a
row, not across machines. Nothing is asserted.

    .venv/bin/python benchmarks/bench_cases_page.py [--sizes 10,100,1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import PYTHON, ROOT, ensure_airflow_home, median, print_machine, sandbox, table

DAG_TEMPLATE = """
import pendulum
from airflow.sdk import DAG
from airflow_provider_fabric.sensors.fabric import (
    FabricClinicalReportStatusSensor, FabricGenomeAnnotationSensor,
)

with DAG("bench_cases_{n}", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC")):
    FabricGenomeAnnotationSensor.partial(task_id="wait_for_annotation", poke_interval=1).expand(
        genome_ids={genomes!r}
    )
    FabricClinicalReportStatusSensor.partial(
        task_id="wait_for_review", poke_interval=1, target_statuses=("READY TO REVIEW", "APPROVED")
    ).expand(report_id={reports!r})
"""


def make_objects(sizes: list[int], vcf: Path) -> dict[int, tuple[list[int], list[int]]]:
    """For each size, n/2 genomes and n/2 panel reports on them, every other report approved."""
    from airflow_provider_fabric.hooks.fabric import FabricHook
    from airflow_provider_fabric.testing.vcfgen import write_vcf

    logging.getLogger("airflow_provider_fabric").setLevel(logging.WARNING)  # one upload line per genome
    write_vcf(vcf, 20, sample="BENCH")
    hook = FabricHook()
    project = int(hook.create_project("bench cases")["id"])
    made = {}
    for n in sizes:
        genomes = [
            int(hook.upload_genome(project, vcf, genome_label=f"g{n}-{i}", genome_sex="female")["genome_id"])
            for i in range(n // 2)
        ]
        made[n] = (genomes, [])
    time.sleep(1)  # the sandbox annotates in 0.1 s; reports then process in 0.1 s
    for n in sizes:
        for genome in made[n][0][: n - n // 2]:
            report = hook.create_panel_report(panel_id=101, proband_genome_id=genome, accession_id=None)
            made[n][1].append(int(report["id"]))
    time.sleep(1)
    for n in sizes:
        for report in made[n][1][::2]:
            hook.update_report_status(report, "APPROVED")
    hook.close()
    return made


def run_dags(made: dict[int, tuple[list[int], list[int]]], dags: Path) -> None:
    for n, (genomes, reports) in made.items():
        (dags / f"bench_cases_{n}.py").write_text(DAG_TEMPLATE.format(n=n, genomes=genomes, reports=reports))
    code = (
        "import sys; from airflow_provider_fabric.testing.dagbag import dag_bag; bag = dag_bag(sys.argv[1]); "
        "assert not bag.import_errors, bag.import_errors; "
        "[print(d, bag.get_dag(d).test().state) for d in sys.argv[2:]]"
    )
    started = time.monotonic()
    subprocess.run(  # noqa: S603 - our interpreter
        [PYTHON, "-c", code, str(dags), *[f"bench_cases_{n}" for n in made]],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"# dag.test() of {sum(made)} mapped sensors: {time.monotonic() - started:.0f} s", flush=True)


def measure(box: Any, sizes: list[int], repeat: int) -> list[list[Any]]:
    from airflow.utils.session import create_session

    import airflow_provider_fabric.ui.app as app
    from airflow_provider_fabric.hooks.fabric import FabricHook
    from airflow_provider_fabric.ui.cases import GENOME
    from airflow_provider_fabric.ui.statuses import StatusBoard
    from airflow_provider_fabric.ui.view import Filters

    def page(board: StatusBoard, dag_id: str) -> tuple[float, int, int, int]:
        app.board = lambda: board  # type: ignore[assignment]
        box.requests_seen(clear=True)
        started = time.perf_counter()
        with create_session() as session:
            data = app.cases_page_for(session, {dag_id}, Filters())
        app.render_page(data)
        seconds = time.perf_counter() - started
        return seconds, data.snapshot.requests, len(box.requests_seen()), data.total

    rows = []
    for n in sizes:
        dag_id = f"bench_cases_{n}"
        runs: dict[str, list[Any]] = {k: [] for k in ("cold", "cached", "refresh", "naive")}
        for _ in range(repeat):
            board = StatusBoard("fabric_genomics_default", ttl=3600)
            runs["cold"].append(page(board, dag_id))
            runs["cached"].append(page(board, dag_id))
            board.ttl = 0
            runs["refresh"].append(page(board, dag_id))
            with create_session() as session:
                cases = app.collect(session, {dag_id})
            box.requests_seen(clear=True)
            hook, started = FabricHook(), time.perf_counter()
            for case in cases:
                (hook.get_genome if case.kind == GENOME else hook.get_report)(case.fabric_id)
            hook.close()
            naive = time.perf_counter() - started
            runs["naive"].append((naive, len(cases), len(box.requests_seen()), len(cases)))
        for kind, values in runs.items():
            requests = {v[1] for v in values}
            seen = {v[2] for v in values}
            rows.append(
                [
                    n,
                    values[0][3],
                    kind,
                    "/".join(map(str, sorted(requests))),
                    "/".join(map(str, sorted(seen))),
                    f"{median([v[0] for v in values]) * 1000:.0f}",
                ]
            )
        print(f"# {n} cases measured", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    ensure_airflow_home()
    work = Path(tempfile.mkdtemp(prefix="fabric-bench-cases-"))
    dags = work / "dags"
    dags.mkdir()
    os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
    os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
    print_machine()
    subprocess.run([PYTHON, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)  # noqa: S603
    with sandbox(record_requests=True) as box:
        made = make_objects(sizes, work / "bench.vcf")
        run_dags(made, dags)
        rows = measure(box, sizes, args.repeat)
    print()
    print(
        table(
            ["cases", "rows shown", "page", "Fabric requests", "requests the sandbox saw", "median ms"],
            rows,
        )
    )


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
