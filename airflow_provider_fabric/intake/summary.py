"""The run summary: which samples and cases an intake run processed, skipped and failed.

Samples and cases are named by their keys (``<run>:<line>``,
``<run>:<line>,<line>...``) and Fabric IDs only, so the summary can be logged,
kept as an XCom and sent in an alert without PHI.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Results = Sequence[Mapping[str, Any] | None] | None


@dataclass
class IntakeSummary:
    """``samples`` and ``cases``, each with ``processed``, ``skipped`` and ``failed``.

    ``samples``: ``processed`` and ``skipped`` (already in Fabric) map keys to genome IDs.
    ``cases``: ``processed`` maps keys to report IDs; ``skipped`` (already reported) lists keys.
    ``failed`` lists keys.
    """

    samples: dict[str, Any]
    cases: dict[str, Any]

    @property
    def failed(self) -> int:
        """How many samples and cases failed."""
        return len(self.samples["failed"]) + len(self.cases["failed"])

    def lines(self) -> list[str]:
        """Log lines: for samples and cases, each state's count and keys (with Fabric IDs)."""
        lines = []
        for what, result in (("Samples", self.samples), ("Cases", self.cases)):
            for state in ("processed", "skipped", "failed"):
                items = result[state]
                if isinstance(items, Mapping):
                    items = [f"{key} ({value})" for key, value in items.items()]
                lines.append(f"{what} {state}: {len(items)} {', '.join(items)}".rstrip())
        return lines

    def to_dict(self) -> dict[str, Any]:
        """The summary as plain JSON for an XCom."""
        return {"samples": self.samples, "cases": self.cases}

    def error(self) -> Exception:
        """A :class:`~airflow_provider_fabric.exceptions.FabricError` naming what failed (keys only)."""
        from airflow_provider_fabric.exceptions import FabricError

        samples, cases = self.samples["failed"], self.cases["failed"]
        return FabricError(
            f"{len(samples)} sample(s) and {len(cases)} case(s) failed: "
            f"samples {samples}, cases {cases} (see their task logs)"
        )


def summarize(
    uploaded: Sequence[Mapping[str, Any]] | None,
    annotated: Results,
    in_fabric: Mapping[str, int] | None,
    cases: Sequence[Mapping[str, Any]] | None,
    todo: Sequence[Mapping[str, Any]] | None,
    reported: Results,
) -> IntakeSummary:
    """Sum up an intake run from its plans and the results of its mapped task groups.

    Any argument may be ``None`` (its task failed: nothing came of it).

    :param uploaded: the samples the run tried to upload (:attr:`IntakePlan.to_upload
        <airflow_provider_fabric.intake.plan.IntakePlan.to_upload>`, as dicts).
    :param annotated: ``{"key", "genome_id"}`` of each of them that was uploaded and annotated.
    :param in_fabric: genome ID by key of the samples already in Fabric.
    :param cases: every case of the plan (:meth:`Case.to_dict
        <airflow_provider_fabric.intake.cases.Case.to_dict>`).
    :param todo: the cases the run tried to report (:func:`cases_to_report
        <airflow_provider_fabric.intake.plan.cases_to_report>`).
    :param reported: ``{"key", "report_id"}`` of each of them that was reported and exported.
    """
    genomes = {done["key"]: done["genome_id"] for done in annotated or () if done}
    reports = {done["key"]: done["report_id"] for done in reported or () if done}
    tried = [case["key"] for case in todo or ()]
    samples = {
        "processed": genomes,
        "skipped": dict(in_fabric or {}),
        "failed": [sample["key"] for sample in uploaded or () if sample["key"] not in genomes],
    }
    results = {
        "processed": reports,
        "skipped": [case["key"] for case in cases or () if case["key"] not in tried],
        "failed": [key for key in tried if key not in reports],
    }
    return IntakeSummary(samples, results)
