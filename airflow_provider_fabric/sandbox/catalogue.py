"""The seeded, read-only catalogue: gene panels (numeric IDs), their regions, assay types, filters.

Coordinates are GRCh37. Panel regions also name the gene of a variant that
falls inside them; other variants get a gene chosen deterministically.
"""

from __future__ import annotations

from typing import Any

#: Assay types and the QC metrics each defines (names as a lab's Fabric workspace shows them).
#: ``POST /reports/{id}/qc_data`` takes exactly these names (case included); others get a 422
#: naming the allowed ones, in this order.
ASSAY_TYPES: dict[int, dict[str, Any]] = {
    1: {
        "id": 1,
        "name": "Targeted Panel",
        "qc_metrics": ["Mean Coverage", "Percent Bases 100x", "Total Reads", "Percent Q30"],
    },
    2: {
        "id": 2,
        "name": "Whole Exome",
        "qc_metrics": [
            "Mean Coverage",
            "Percent Bases 20x",
            "Total Reads",
            "Percent Q30",
            "Percent Duplicates",
        ],
    },
    3: {
        "id": 3,
        "name": "Whole Genome",
        "qc_metrics": ["Mean Coverage", "Percent Bases 30x", "Total Reads", "Percent Q30"],
    },
}

#: gene -> (chrom, start, end), GRCh37, 1-based inclusive.
GENES: dict[str, tuple[str, int, int]] = {
    "BRCA1": ("17", 41196312, 41277500),
    "BRCA2": ("13", 32889611, 32973805),
    "TP53": ("17", 7571720, 7590868),
    "MLH1": ("3", 37034841, 37092337),
    "MSH2": ("2", 47630108, 47789450),
    "MYH7": ("14", 23881947, 23904870),
    "MYBPC3": ("11", 47352957, 47374253),
    "TNNT2": ("1", 201328136, 201346805),
    "SCN1A": ("2", 166845670, 166984524),
    "KCNQ2": ("20", 62037542, 62103993),
    "CDKL5": ("X", 18443725, 18671749),
}

PANELS: dict[int, dict[str, Any]] = {
    101: {
        "id": 101,
        "name": "Hereditary Cancer Panel",
        "description": "Germline cancer predisposition genes",
        "test_code": "HC-101",
        "assay_type_id": 1,
        "genes": ["BRCA1", "BRCA2", "TP53", "MLH1", "MSH2"],
    },
    102: {
        "id": 102,
        "name": "Cardiomyopathy Panel",
        "description": "Hypertrophic and dilated cardiomyopathy genes",
        "test_code": "CARD-102",
        "assay_type_id": 1,
        "genes": ["MYH7", "MYBPC3", "TNNT2"],
    },
    103: {
        "id": 103,
        "name": "Epilepsy Panel",
        "description": "Early-onset epileptic encephalopathy genes",
        "test_code": "EPI-103",
        "assay_type_id": 1,
        "genes": ["SCN1A", "KCNQ2", "CDKL5"],
    },
}

FILTERS: dict[int, str] = {
    1: "Default clinical filter",
    2: "Rare coding variants",
    3: "ACMG secondary findings",
}

#: Assay type of family (exome) reports.
FAMILY_ASSAY_TYPE_ID = 2

_OTHER_GENES = (
    "CFTR",
    "PAH",
    "GJB2",
    "SMN1",
    "HBB",
    "FBN1",
    "COL1A1",
    "LDLR",
    "APOB",
    "PCSK9",
    "RYR1",
    "DMD",
)


def panel_view(panel: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in panel.items() if key != "genes"}


def panel_regions(panel_id: int) -> list[dict[str, Any]]:
    return [
        {"gene": gene, "chrom": GENES[gene][0], "start": GENES[gene][1], "end": GENES[gene][2]}
        for gene in PANELS[panel_id]["genes"]
    ]


_GENES_BY_CHROM: dict[str, list[tuple[int, int, str]]] = {}
for _gene, (_chrom, _start, _end) in GENES.items():
    _GENES_BY_CHROM.setdefault(_chrom, []).append((_start, _end, _gene))


def gene_for(chrom: str, pos: int, digest: int) -> str:
    """The gene of a position: the catalogue region holding it, else a pick by ``digest``."""
    for start, end, gene in _GENES_BY_CHROM.get(chrom.removeprefix("chr"), ()):
        if start <= pos <= end:
            return gene
    return _OTHER_GENES[digest % len(_OTHER_GENES)]
