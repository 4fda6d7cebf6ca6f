"""Chain of custody in OpenLineage: dataset names and facets for the Fabric Genomics operators.

With the OpenLineage provider installed and configured, every operator that
reads or writes data reports, once its task has ended, what it read and what
it wrote (the provider calls ``get_openlineage_facets_on_complete`` or
``_on_failure``; see :class:`~airflow_provider_fabric.operators.base.FabricBaseOperator`):

* **Fabric objects** are datasets in one namespace per Fabric host,
  ``fabric://api.fabricgenomics.com``, named ``projects/7``, ``genomes/123``,
  ``reports/45``;
* **files** (the VCF uploaded, patient-field and QC files, status VCFs, every
  export) are datasets in their storage's namespace, as OpenLineage names
  them: ``file`` (name: the absolute path), ``s3://bucket`` (name: the key),
  ``gs://bucket``...

**No PHI.** Datasets and facets carry IDs, checksums, sizes, counts, types and
statuses only: never a label, external ID, accession ID, patient field or
sample name. File names often carry sample IDs, so by default the file-name
part of a path is replaced by a stable hash (the scheme, the bucket and the
folders stay, and so does a known extension such as ``.vcf.gz``):
``s3://lab/run-0001/SAMPLE-0001.vcf.gz`` becomes the dataset
``run-0001/de153ea71d9ca423.vcf.gz`` in ``s3://lab``. Airflow configuration:

.. code-block:: ini

    [fabric_genomics]
    # "hash" (the default) or "keep": keep file names when the lineage backend may hold PHI
    lineage_file_names = hash
    # optional secret: hash names with HMAC-SHA256 under this key, so that nobody can find
    # a name by hashing guesses (sample IDs are easy to guess); the same key everywhere
    lineage_hash_key =

The OpenLineage provider's own ``airflow`` run facet copies the DAG run's
``conf`` into every task event; :class:`RedactDagRunConf` is an OpenLineage
transform that blanks it (see the docs' lineage page).

This module imports the OpenLineage client: only the operators' OpenLineage
methods and OpenLineage's transform transport import it, so importing an
operator never does.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

import attr
from openlineage.client.event_v2 import InputDataset, OutputDataset
from openlineage.client.facet_v2 import (
    DatasetFacet,
    InputDatasetFacet,
    OutputDatasetFacet,
    input_statistics_input_dataset,
    output_statistics_output_dataset,
)
from openlineage.client.transport.transform import EventTransformer

log = logging.getLogger(__name__)

#: The Airflow configuration section of this provider's options.
CONFIG_SECTION = "fabric_genomics"
#: ``hash`` (default): file names in dataset names are replaced by a hash; ``keep``: kept as they are.
FILE_NAMES_OPTION = "lineage_file_names"
#: Optional secret key of the file-name hash (HMAC-SHA256); plain SHA-256 without it.
HASH_KEY_OPTION = "lineage_hash_key"
#: Extensions kept after a hashed file name (they say what a file is, never whose).
KNOWN_EXTENSIONS = frozenset(
    {"vcf", "gz", "bgz", "bz2", "csv", "tsv", "json", "jsonl", "pdf", "txt", "md5", "bam", "bai", "zip"}
)
#: Hex digits of a hashed file name (64 bits: no two files of a folder share one in practice).
HASH_LENGTH = 16
#: Where the custom facets' JSON schema is published.
SCHEMA_URL = "https://airflow-provider-fabric-genomics.readthedocs.io/en/latest/_static/lineage-facets.json"


# --------------------------------------------------------------------------- facets


class _FabricFacet(DatasetFacet):
    _facet_name: ClassVar[str] = ""

    @classmethod
    def _get_schema(cls) -> str:
        return f"{SCHEMA_URL}#/$defs/{cls.__name__}"


@attr.define
class FabricGenomeFacet(_FabricFacet):
    """A Fabric genome: which upload made it, and what validation found in the VCF.

    :param genomeId: the genome's ID.
    :param projectId: its project.
    :param md5: the MD5 sent with the upload (what Fabric holds as the genome's checksum): that of
        the compressed bytes when the upload compressed the VCF on the way.
    :param fileFormat: ``vcf``, ``vcf.gz`` or ``vcf.bz2``, as sent.
    :param vcfVersion: the ``##fileformat`` of the VCF, e.g. ``VCFv4.2``.
    :param genomeBuild: the genome build validation found (``GRCh37``).
    :param sampleCount: sample columns in the VCF.
    :param reused: an earlier try's genome (same checksum and external ID) was reused.
    """

    genomeId: int  # noqa: N815 - OpenLineage facet fields are camelCase
    projectId: int | None = attr.field(default=None)  # noqa: N815
    md5: str | None = attr.field(default=None)
    fileFormat: str | None = attr.field(default=None)  # noqa: N815
    vcfVersion: str | None = attr.field(default=None)  # noqa: N815
    genomeBuild: str | None = attr.field(default=None)  # noqa: N815
    sampleCount: int | None = attr.field(default=None)  # noqa: N815
    reused: bool | None = attr.field(default=None)
    _facet_name: ClassVar[str] = "fabricGenome"


@attr.define
class FabricReportFacet(_FabricFacet):
    """A Fabric clinical report, as the task left it.

    :param reportId: the report's ID.
    :param reportType: ``panel``, ``Solo``, ``Duo``, ``Trio``, ``Quad`` or ``Quintet``.
    :param status: its status when the task completed, when the task knew it.
    """

    reportId: int  # noqa: N815
    reportType: str | None = attr.field(default=None)  # noqa: N815
    status: str | None = attr.field(default=None)
    _facet_name: ClassVar[str] = "fabricReport"


@attr.define
class FabricFileFacet(_FabricFacet):
    """A file a task read or wrote: what it holds (sizes and counts are in the statistics facets).

    :param content: what the file is: ``VCF``, ``variants``, ``scored variants``, ``report``,
        ``report PDF``, ``preview PDF``, ``patient fields``, ``QC data``, ``variant statuses``.
    :param fileFormat: ``vcf``, ``vcf.gz``, ``csv``, ``json``, ``jsonl``, ``pdf``...
    :param md5: the file's MD5, when the task knew it (computed, or declared and checked while sent).
    :param vcfVersion: a VCF's ``##fileformat``.
    :param genomeBuild: a VCF's genome build, as validation found it.
    :param sampleCount: a VCF's sample columns.
    """

    content: str
    fileFormat: str | None = attr.field(default=None)  # noqa: N815
    md5: str | None = attr.field(default=None)
    vcfVersion: str | None = attr.field(default=None)  # noqa: N815
    genomeBuild: str | None = attr.field(default=None)  # noqa: N815
    sampleCount: int | None = attr.field(default=None)  # noqa: N815
    _facet_name: ClassVar[str] = "fabricFile"


# --------------------------------------------------------------------------- datasets


@dataclass
class Node:
    """One dataset of a task's lineage, before it is an input or an output.

    :param namespace: the OpenLineage namespace.
    :param name: the dataset's name in it.
    :param facets: our facets (none holds PHI).
    :param size: bytes, for the input or output statistics facet.
    :param rows: records, for the statistics facet.
    """

    namespace: str
    name: str
    facets: list[_FabricFacet] = field(default_factory=list)
    size: int | None = None
    rows: int | None = None

    def _facets(self) -> dict[str, Any]:
        return {facet._facet_name: facet for facet in self.facets}

    def as_input(self) -> InputDataset:
        """This dataset as something the task read."""
        stats: dict[str, InputDatasetFacet] = {}
        if self.size is not None or self.rows is not None:
            stats["inputStatistics"] = input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
                rowCount=self.rows, size=self.size
            )
        return InputDataset(
            namespace=self.namespace, name=self.name, facets=self._facets(), inputFacets=stats
        )

    def as_output(self) -> OutputDataset:
        """This dataset as something the task wrote."""
        stats: dict[str, OutputDatasetFacet] = {}
        if self.size is not None or self.rows is not None:
            stats["outputStatistics"] = output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                rowCount=self.rows, size=self.size
            )
        return OutputDataset(
            namespace=self.namespace, name=self.name, facets=self._facets(), outputFacets=stats
        )


def operator_lineage(inputs: Iterable[Node] = (), outputs: Iterable[Node] = ()) -> Any:
    """The provider's ``OperatorLineage`` for these datasets.

    :param inputs: what the task read.
    :param outputs: what the task wrote.
    """
    from airflow.providers.openlineage.extractors import OperatorLineage

    return OperatorLineage(
        inputs=[node.as_input() for node in inputs], outputs=[node.as_output() for node in outputs]
    )


def fabric_namespace(base_url: str) -> str:
    """The namespace of one Fabric server's objects: ``fabric://host[:port]``.

    :param base_url: the API's base URL, e.g. ``https://api.fabricgenomics.com``.
    """
    return f"fabric://{urlsplit(base_url).netloc.rpartition('@')[2].lower()}"


def fabric_node(namespace: str, kind: str, object_id: int, facet: _FabricFacet | None = None) -> Node:
    """A Fabric object as a dataset: ``projects/7``, ``genomes/123``, ``reports/45``.

    :param namespace: :func:`fabric_namespace` of the server.
    :param kind: ``projects``, ``genomes`` or ``reports``.
    :param object_id: the object's ID.
    :param facet: its facet, if any.
    """
    return Node(namespace, f"{kind}/{int(object_id)}", [facet] if facet is not None else [])


def report_node(
    namespace: str, report_id: int, *, report_type: str | None = None, status: str | None = None
) -> Node:
    """A clinical report as a dataset, ``reports/{id}``, with what the task knew of it.

    :param namespace: :func:`fabric_namespace` of the server.
    :param report_id: the report's ID.
    :param report_type: its type, when known.
    :param status: its status when the task completed, when known.
    """
    facet = FabricReportFacet(reportId=int(report_id), reportType=report_type or None, status=status or None)
    return fabric_node(namespace, "reports", report_id, facet)


def storage_name(
    location: Any, *, keep_names: bool | None = None, key: bytes | None = None
) -> tuple[str, str]:
    """A file's OpenLineage namespace and name, its file name hashed unless names are kept.

    No connection is looked up and nothing is opened: strings are parsed as they are.

    :param location: a local path, a URL (``file://``, ``s3://bucket/key``...) or an ``ObjectStoragePath``.
    :param keep_names: keep the file name; default: the ``lineage_file_names`` option.
    :param key: the hash key; default: the ``lineage_hash_key`` option.
    :return: ``(namespace, name)``: ``("file", "/data/run-1/<hash>.vcf.gz")``,
        ``("s3://lab", "run-1/<hash>.vcf.gz")``...
    """
    namespace, path = _split_location(location)
    if keep_names is None:
        keep_names, key = _file_name_settings()
    if keep_names:
        return namespace, path
    folder, _, name = path.rpartition("/")
    hidden = hashed_file_name(name, key) if name else name
    return namespace, f"{folder}/{hidden}" if folder or path.startswith("/") else hidden


def hashed_file_name(name: str, key: bytes | None = None) -> str:
    """A stable stand-in for a file name: a hash of the whole name, then its known extensions.

    :param name: the file name, e.g. ``SAMPLE-0001.vcf.gz``.
    :param key: an HMAC key; plain SHA-256 without one.
    :return: e.g. ``de153ea71d9ca423.vcf.gz``.
    """
    data = name.encode("utf-8")
    digest = hmac.new(key, data, hashlib.sha256) if key else hashlib.sha256(data)
    extensions: list[str] = []
    parts = name.split(".")
    while len(parts) > 1 and len(extensions) < 2 and parts[-1].lower() in KNOWN_EXTENSIONS:
        extensions.insert(0, parts.pop())
    return digest.hexdigest()[:HASH_LENGTH] + "".join(f".{ext}" for ext in extensions)


def file_node(
    location: Any, facet: FabricFileFacet, *, size: int | None = None, rows: int | None = None
) -> Node:
    """A file as a dataset (see :func:`storage_name`), with its facet and statistics.

    :param location: the file's location.
    :param facet: what the file holds.
    :param size: its size in bytes.
    :param rows: its records.
    """
    namespace, name = storage_name(location)
    return Node(namespace, name, [facet], size=size, rows=rows)


def _split_location(location: Any) -> tuple[str, str]:
    protocol = getattr(location, "protocol", None)
    if protocol is not None:  # an ObjectStoragePath: already parsed
        if protocol in ("file", "local"):
            return "file", str(location.path)
        return f"{protocol}://{location.bucket}", str(location.key)
    text = os.fspath(location)
    if "://" not in text:
        return "file", os.path.abspath(os.path.expanduser(text))
    parts = urlsplit(text)
    if parts.scheme in ("file", "local"):
        return "file", unquote(parts.path)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}", parts.path.lstrip("/")


def _file_name_settings() -> tuple[bool, bytes | None]:
    """``(keep_names, hash_key)`` from the Airflow configuration; anything unknown hashes."""
    from airflow.providers.common.compat.sdk import conf

    mode = str(conf.get(CONFIG_SECTION, FILE_NAMES_OPTION, fallback="hash") or "hash").strip().lower()
    if mode not in ("hash", "keep"):
        log.warning("[%s] %s must be hash or keep, not %r: hashing", CONFIG_SECTION, FILE_NAMES_OPTION, mode)
    # stripped: a key read from a file or a command (``_secret``, ``_cmd``) ends with a line break
    key = str(conf.get(CONFIG_SECTION, HASH_KEY_OPTION, fallback="") or "").strip()
    return mode == "keep", key.encode("utf-8") or None


# --------------------------------------------------------------------------- the DAG run's conf


class RedactDagRunConf(EventTransformer):
    """An OpenLineage event transformer that blanks the DAG run's ``conf`` in every event.

    The OpenLineage provider copies the DAG run's ``conf`` into the ``airflow``
    run facet of every task event (and into DAG-level events), whatever the
    task; a clinical DAG's conf often holds labels, external and accession IDs.
    Airflow's secrets masker does not reach it there. This transformer, set as
    OpenLineage's ``transform`` transport around the real one, replaces every
    value of that ``conf`` by ``"***"`` (the keys stay), except the keys listed
    in the ``keep`` property::

        [openlineage]
        transport = {"type": "transform",
                     "transformer_class": "airflow_provider_fabric.lineage.RedactDagRunConf",
                     "transformer_properties": {"keep": ["project_name"]},
                     "transport": {"type": "http", "url": "https://lineage.example.org"}}

    :param properties: ``{"keep": [conf keys whose values are not PHI]}`` (optional).
    """

    REDACTED = "***"

    def __init__(self, properties: dict[str, Any]) -> None:
        super().__init__(properties)
        self.keep = frozenset(str(name) for name in properties.get("keep") or ())

    def transform(self, event: Any) -> Any:
        """Blank the conf of every ``dagRun`` in the event's run facets (the event is a copy).

        :param event: the OpenLineage event.
        :return: the same event, changed in place.
        """
        run = getattr(event, "run", None)
        for facet in (getattr(run, "facets", None) or {}).values():
            dag_run = getattr(facet, "dagRun", None)
            if isinstance(dag_run, Mapping) and isinstance(dag_run.get("conf"), Mapping):
                dag_run["conf"] = self._redacted(dag_run["conf"])  # type: ignore[index]
        return event

    def _redacted(self, conf: Mapping[str, Any]) -> dict[str, Any]:
        return {key: value if key in self.keep else self.REDACTED for key, value in conf.items()}
