"""Operators for Fabric Genomics genomes: a validated, checksummed, retry-safe VCF upload."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from airflow_provider_fabric.api.reports import as_id
from airflow_provider_fabric.links import FabricGenomeLink
from airflow_provider_fabric.operators.base import FabricBaseOperator

if TYPE_CHECKING:
    from airflow.providers.common.compat.sdk import Context

    from airflow_provider_fabric.lineage import Node
    from airflow_provider_fabric.vcf import VcfInfo

_MB = 1_000_000


def _mb(size: float) -> str:
    """A human size: bytes, kB, MB or GB (decimal units, like the MB/s rates)."""
    if size < 1000:
        return f"{int(size)} bytes"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{int(size)} bytes"


class _UploadProgress:
    """Logs upload progress (bytes, percent, MB/s) every ``interval`` seconds or every 10 %."""

    def __init__(self, log: Any, interval: float) -> None:
        self.log = log
        self.interval = interval
        self.started = time.monotonic()
        self._last_time = self.started
        self._last_decile = 0

    sent = 0
    total: int | None = None

    def __call__(self, sent: int, total: int | None) -> None:
        self.sent, self.total = sent, total
        now = time.monotonic()
        decile = sent * 10 // total if total else 0
        if now - self._last_time < self.interval and decile <= self._last_decile:
            return
        if total and sent >= total:
            return  # the final line is logged once the server has answered
        self._last_time, self._last_decile = now, decile
        rate = sent / max(now - self.started, 1e-6) / _MB
        if total:
            self.log.info(
                "Uploaded %s of %s (%d%%) at %.1f MB/s", _mb(sent), _mb(total), sent * 100 // total, rate
            )
        else:
            self.log.info("Uploaded %s at %.1f MB/s", _mb(sent), rate)


class FabricUploadGenomeOperator(FabricBaseOperator):
    """Upload a VCF into a Fabric project after checking it; returns the genome ID.

    **Where the file comes from.** ``vcf_path`` is a local path, a URL that
    Airflow's object storage understands (``file://``, ``s3://``, ``gs://``...)
    or an :class:`~airflow.sdk.ObjectStoragePath`, so the task works on any
    executor. The file is always streamed, never read whole into memory.
    ``vcf``, ``vcf.gz`` and ``vcf.bz2`` are recognised by their content (the
    name only helps when the content cannot tell).

    **What is checked before anything is sent.** The header and at most
    ``max_records`` records are read with :func:`airflow_provider_fabric.vcf.inspect_vcf`:
    the file must be a VCF 4.0 or later with a proper ``#CHROM`` line and
    GRCh37/hg19 coordinates (GRCh38 is refused with the evidence found). With
    ``for_report=True`` (the default) exactly one sample column is required,
    because a multi-sample genome cannot launch a clinical report; with
    ``for_report=False`` a multi-sample or sites-only file only logs a warning.
    Any failure raises :class:`~airflow_provider_fabric.vcf.VcfValidationError`
    (a :class:`~airflow_provider_fabric.exceptions.FabricInputError`) and
    nothing is sent.

    **What is checked while sending.** A gzip/bzip2 file is proved complete and
    intact, and the bytes are verified against their MD5, *inside* the upload
    stream (:class:`~airflow_provider_fabric.upload.UploadBody`): the last bytes
    leave only once the whole file has passed, and a failed check aborts the
    request with its body incomplete, so the server never creates a genome from
    a truncated or corrupt archive or from bytes that do not match their MD5
    (:class:`~airflow_provider_fabric.exceptions.FabricChecksumError`).

    **The MD5.** It travels in the upload's query, before the body, and finds
    an earlier try's genome. It is taken, in this order, from ``md5``, from an
    ``md5sum``-format file beside the VCF (``sample.vcf.gz.md5``; with
    ``md5_sidecar=True``, the default), or from one pass over the file before
    sending (``checksum=True``, the default; at hashlib speed). A declared MD5
    costs nothing before sending and is verified as the bytes go.

    **Compression on the way.** With ``compress=True`` a plain VCF is compressed
    into BGZF (what ``bgzip`` writes) as it is sent and uploaded as ``vcf.gz``:
    VCF text shrinks about fourfold, so a link of up to a few hundred Mbit/s
    uploads about three times faster (not a gigabit one: there the
    compression, not the link, sets the pace). The compression is deterministic, so the MD5
    sent is that of the compressed bytes and a retry finds the first try's
    genome; computing it takes one compression pass before sending
    (``checksum=True``). A declared MD5 of the plain file (``md5``, sidecar)
    is then verified as the file is read. Compressed files are sent as they are.

    **Idempotency under Airflow retries.** An upload cannot be safely resent:
    if the server stored the genome but its answer was lost (timeout, worker
    crash), a blind retry would create a second genome. So, before uploading,
    the operator lists the project's genomes with this ``external_id`` and
    reuses one whose ``external_id`` equals ``external_id`` exactly and whose
    ``checksum`` equals this file's MD5 (the newest such genome, skipping any
    in status ``FAILED``). Its limits:

    * it needs an ``external_id`` and an MD5 (``checksum=True``, or a declared
      one). Without them there is nothing reliable to match on: no lookup is
      made, and a retry after a lost answer uploads again and can leave a
      duplicate genome in the project;
    * with ``compress=True`` the MD5 is that of the compressed bytes, which
      depend on the version of the ``zlib-ng`` package: a retry on a worker with
      another version does not find the first try's genome;
    * the same file uploaded on purpose twice with the same external ID (in
      another DAG run, say) is also reused: the genome is the same data;
    * a genome whose annotation ``FAILED`` is not reused, so a retry uploads
      the file again.

    **Logs and XCom.** Progress (bytes, percent, MB/s) is logged every
    ``progress_interval`` seconds or every 10 %, and a final line gives size,
    time and throughput. Logs never contain the label, external ID, sample
    names or the file's name; once rendered, the label and external ID are
    masked (``***``) in Airflow's "Rendered Template" view and in any log line. The
    genome ID (an ``int``) is the return value;
    its Fabric Enterprise URL is pushed under ``fabric_genome_url`` when the
    connection has ``ui_url``, for the "Fabric genome" extra link.

    :param project_id: the project to upload into (templated; digits are accepted).
    :param vcf_path: the VCF's location: a local path, an object-storage URL or an
        ``ObjectStoragePath`` (templated).
    :param genome_label: the genome's label in Fabric (templated; PHI, never logged).
    :param genome_sex: ``male``, ``female`` or ``unspecified`` (templated).
    :param external_id: the lab's sample ID (templated; PHI, never logged); with
        ``checksum=True`` it makes retries reuse the first try's genome.
    :param assembly_version: ``hg19`` (``GRCh37`` is the same); Fabric accepts nothing else (templated).
    :param checksum: when no MD5 is declared, compute it before sending (one pass over the
        file, or over its compressed bytes with ``compress=True``), send it with the upload
        and use it to find an earlier try's genome.
    :param md5: the file's MD5 as the pipeline computed it (templated; 32 hex digits):
        no pass before sending; verified while sending.
    :param md5_sidecar: take the MD5 from ``<vcf_path>.md5`` when that file exists.
    :param compress: compress a plain VCF into BGZF on the way and upload it as ``vcf.gz``.
    :param for_report: the genome will launch a clinical report: require exactly one sample.
    :param max_records: how many data records validation reads at most.
    :param bam_file: an optional BAM location passed to Fabric (templated).
    :param progress_interval: seconds between progress lines (also logged at every 10 %).
    :param fabric_conn_id: the ``fabric_genomics`` connection to use.
    :param kwargs: any other :class:`~airflow.models.BaseOperator` argument.
    """

    template_fields: Sequence[str] = (
        "project_id",
        "vcf_path",
        "genome_label",
        "genome_sex",
        "external_id",
        "assembly_version",
        "bam_file",
        "md5",
    )
    phi_fields: Sequence[str] = ("genome_label", "external_id")
    operator_extra_links = (FabricGenomeLink(),)

    def __init__(
        self,
        *,
        project_id: int | str,
        vcf_path: Any,
        genome_label: str,
        genome_sex: str,
        external_id: str | None = None,
        assembly_version: str = "hg19",
        checksum: bool = True,
        md5: str | None = None,
        md5_sidecar: bool = True,
        compress: bool = False,
        for_report: bool = True,
        max_records: int = 1000,
        bam_file: str | None = None,
        progress_interval: float = 5.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.project_id = project_id
        self.vcf_path = vcf_path
        self.genome_label = genome_label
        self.genome_sex = genome_sex
        self.external_id = external_id
        self.assembly_version = assembly_version
        self.checksum = checksum
        self.md5 = md5
        self.md5_sidecar = md5_sidecar
        self.compress = compress
        self.for_report = for_report
        self.max_records = max_records
        self.bam_file = bam_file
        self.progress_interval = progress_interval

    def execute(self, context: Context) -> int:
        """Validate, checksum, look for an earlier try's genome, then upload.

        :param context: the task's execution context.
        :return: the genome's ID.
        """
        from airflow_provider_fabric.api.reports import genome_sex
        from airflow_provider_fabric.exceptions import FabricInputError
        from airflow_provider_fabric.storage import as_path, open_source

        project_id = as_id(self.project_id, "project_id")
        sex = genome_sex(self.genome_sex)
        if not self.genome_label or not str(self.genome_label).strip():
            raise FabricInputError("genome_label is required")
        if str(self.assembly_version).strip().lower() not in ("hg19", "grch37"):
            raise FabricInputError("assembly_version must be hg19 (GRCh37): Fabric annotates hg19 only")
        external_id = str(self.external_id) if self.external_id not in (None, "") else None
        if self.vcf_path in (None, ""):
            raise FabricInputError("vcf_path is required")
        path = as_path(self.vcf_path)

        info = self._inspect(path)
        compress = bool(self.compress) and info.format == "vcf"
        if self.compress and not compress:
            self.log.info("The VCF is already %s-compressed: sent as it is", info.format)
        declared = self._declared_md5(path)
        checksum, body_size = (None if compress else declared), None
        if checksum is None and self.checksum:
            checksum, body_size = self._checksum_pass(path, compress)
        # the file's own MD5 when known (sent, or declared and verified while sending); the MD5 sent
        self.note_lineage(
            size=_size(path),
            file_md5=declared if compress else checksum,
            md5=checksum,
            sent_format="vcf.gz" if compress else info.format,
            **_vcf_facts(info),
        )

        if checksum is not None and external_id is not None:
            reused = self.hook.find_uploaded_genome(project_id, external_id, checksum)
            if reused is not None:
                self.log.info(
                    "Reusing genome %s: same checksum and external ID, uploaded by an earlier try", reused
                )
                self.push_genome_url(context, reused)
                self.note_lineage(genome_id=reused, project_id=project_id, reused=True)
                return reused
        else:
            self.log.info(
                "No earlier-try lookup (needs external_id and an MD5): a retry after a lost answer "
                "would upload again"
            )

        progress = _UploadProgress(self.log, self.progress_interval)
        with open_source(path) as handle:
            answer = self.hook.upload_genome(
                project_id,
                cast(BinaryIO, handle),
                genome_label=str(self.genome_label),
                genome_sex=sex,
                external_id=external_id,
                assembly_version=str(self.assembly_version).strip(),
                format=info.format,
                checksum=checksum,
                bam_file=self.bam_file or None,
                progress=progress,
                compress=compress,
                verify_archive=info.format != "vcf",
                file_md5=declared if compress else None,
                body_size=body_size,
            )
        genome_id = as_id(answer.get("genome_id", answer.get("id")), "genome_id in the upload answer")
        elapsed = max(time.monotonic() - progress.started, 1e-6)
        size = progress.total or progress.sent or _size(path)
        self.log.info(
            "Uploaded genome %s into project %s: %s in %.1f s (%.1f MB/s)",
            genome_id,
            project_id,
            _mb(size) if size is not None else "unknown size",
            elapsed,
            (size or 0) / elapsed / _MB,
        )
        self.push_genome_url(context, genome_id)
        self.note_lineage(genome_id=genome_id, project_id=project_id, reused=False)
        return genome_id

    def lineage_nodes(self, namespace: str | None) -> tuple[list[Node], list[Node]]:
        """Input: the VCF (file name hashed by default); output: the genome, ``genomes/{id}``.

        Both carry what validation found (VCF version, build, sample count); the VCF its format,
        size and MD5 (when known: computed, or declared and verified while sending), the genome
        the MD5 and format sent (those of the compressed bytes with ``compress=True``). A failed
        try reports the VCF with what it had found before failing.

        :param namespace: the Fabric server's namespace, if reached.
        """
        from airflow_provider_fabric.lineage import FabricFileFacet, FabricGenomeFacet, fabric_node, file_node

        facts = self.lineage_facts
        found: dict[str, Any] = {
            "vcfVersion": facts.get("vcf_version"),
            "genomeBuild": facts.get("build"),
            "sampleCount": facts.get("sample_count"),
        }
        inputs = []
        if self.vcf_path not in (None, ""):
            vcf = FabricFileFacet(
                content="VCF", md5=facts.get("file_md5"), fileFormat=facts.get("format"), **found
            )
            inputs.append(file_node(self.vcf_path, vcf, size=facts.get("size")))
        if namespace is None or facts.get("genome_id") is None:
            return inputs, []
        genome = FabricGenomeFacet(
            genomeId=facts["genome_id"],
            projectId=facts.get("project_id"),
            md5=facts.get("md5"),
            fileFormat=facts.get("sent_format"),
            reused=facts.get("reused"),
            **found,
        )
        return inputs, [fabric_node(namespace, "genomes", facts["genome_id"], genome)]

    def _inspect(self, path: Any) -> VcfInfo:
        from airflow_provider_fabric.storage import open_source
        from airflow_provider_fabric.vcf import inspect_vcf

        with open_source(path) as handle:
            info = inspect_vcf(
                cast(BinaryIO, handle), path.name, max_records=self.max_records, for_report=self.for_report
            )
        self.log.info(
            "VCF checks passed: %s, %s, build %s, %d sample column(s), %d records sampled",
            info.format,
            info.fileformat,
            info.build,
            info.sample_count,
            info.records_sampled,
        )
        if info.sample_count > 1:
            self.log.warning(
                "The VCF has %d sample columns: Fabric stores it as one genome that cannot launch a report",
                info.sample_count,
            )
        elif info.sample_count == 0:
            self.log.warning("The VCF has no sample column (sites only): it cannot launch a report")
        return info

    def _declared_md5(self, path: Any) -> str | None:
        """The MD5 given as ``md5``, or by the ``.md5`` file beside the VCF, or ``None``."""
        from airflow_provider_fabric.upload import as_md5, read_md5_sidecar

        if self.md5 not in (None, ""):
            self.log.info("MD5 given by the md5 argument: verified while sending")
            return as_md5(self.md5)
        if self.md5_sidecar:
            declared = read_md5_sidecar(path)
            if declared is not None:
                self.log.info("MD5 given by the .md5 file beside the VCF: verified while sending")
                return declared
        return None

    def _checksum_pass(self, path: Any, compress: bool) -> tuple[str, int | None]:
        """MD5 (and, for ``compress``, size) of the bytes the upload will send: one pass before sending."""
        from airflow_provider_fabric.upload import upload_checksum

        started = time.monotonic()
        md5, size = upload_checksum(path, compress=compress)
        elapsed = max(time.monotonic() - started, 1e-6)
        self.log.info(
            "%s %s in %.1f s (%.1f MB/s)",
            "Compressed and checksummed: BGZF of" if compress else "Checksummed",
            _mb(size),
            elapsed,
            size / elapsed / _MB,
        )
        return md5, size if compress else None


def _vcf_facts(info: VcfInfo) -> dict[str, Any]:
    """What validation found, for lineage: never the sample names."""
    return {
        "format": info.format,
        "vcf_version": info.fileformat,
        "build": info.build,
        "sample_count": info.sample_count,
    }


def _size(path: Any) -> int | None:
    try:
        return int(path.stat().st_size)
    except (OSError, AttributeError, TypeError, ValueError):
        return None
