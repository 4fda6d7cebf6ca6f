"""Deterministic synthetic VCFs for tests, the demo and benchmarks.

Everything here is made up: sample IDs are obviously fake (``SAMPLE1``,
``FAM001_proband``), variants are random SNVs and small indels at sorted
positions on real GRCh37 (or, to make bad files, GRCh38) chromosome
lengths. The same arguments always give byte-identical files.

Fast enough for benchmark-sized files (lines are built in batches from
pre-rendered pools and written in large buffers; gzip uses level 1)::

    python -m airflow_provider_fabric.testing.vcfgen out.vcf.gz --size 200M --gz
"""

from __future__ import annotations

import argparse
import bz2
import contextlib
import gzip
import math
import random
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from airflow_provider_fabric.vcf import GRCH37_LENGTHS, GRCH38_LENGTHS

__all__ = ["header_lines", "iter_variant_lines", "main", "parse_size", "write_family", "write_vcf"]

CHROMOSOMES: tuple[str, ...] = tuple(str(i) for i in range(1, 23)) + ("X", "Y")
_BUILD_LENGTHS = {"GRCh37": GRCH37_LENGTHS, "GRCh38": GRCH38_LENGTHS}
_REFERENCE_NAMES = {("GRCh37", False): "GRCh37", ("GRCh37", True): "hg19", ("GRCh38", False): "GRCh38"}
_REFERENCE_NAMES[("GRCh38", True)] = "hg38"
_POOL = 4093  # rendered variant suffixes (prime, so it does not beat with the jitter pool)
_JITTER = 8192
_BATCH = 50_000
_MARGIN = 10_000  # keep positions away from the telomere ends
_BASES = "ACGT"


def _lengths(build: str) -> dict[str, int]:
    try:
        return _BUILD_LENGTHS[build]
    except KeyError:
        raise ValueError(f"build must be 'GRCh37' or 'GRCh38', not {build!r}") from None


def _chrom_name(chrom: str, chr_prefix: bool) -> str:
    return f"chr{chrom}" if chr_prefix else chrom


def header_lines(
    samples: Sequence[str] = ("SAMPLE1",),
    *,
    build: str = "GRCh37",
    chr_prefix: bool = False,
    source: str | None = None,
    fileformat: str = "VCFv4.2",
    with_contigs: bool = True,
    reference_line: bool = True,
) -> list[str]:
    """The header lines (without line endings), ending with the ``#CHROM`` line.

    :param samples: sample column names; ``()`` gives a sites-only header (no ``##FORMAT``
        lines, no FORMAT column).
    :param build: ``"GRCh37"`` or ``"GRCh38"``: the ``##contig`` lengths and the
        ``##reference`` name.
    :param chr_prefix: name contigs ``chr1``, ``chr2``... and the reference ``hg19``/``hg38``
        instead of ``GRCh37``/``GRCh38``.
    :param source: extra text appended, after a space, to the ``##source=`` line.
    :param fileformat: the ``##fileformat=`` value, written as given (any text, to make bad files).
    :param with_contigs: write ``##contig`` lines with lengths for chromosomes 1-22, X and Y.
    :param reference_line: write a ``##reference`` line.
    :raises ValueError: an unknown ``build``.
    """
    lengths = _lengths(build)
    lines = [
        f"##fileformat={fileformat}",
        "##fileDate=20240101",
        "##source=airflow-provider-fabric-vcfgen (synthetic data, no PHI)" + (f" {source}" if source else ""),
    ]
    if reference_line:
        lines.append(f"##reference={_REFERENCE_NAMES[(build, chr_prefix)]}")
    if with_contigs:
        lines += [f"##contig=<ID={_chrom_name(c, chr_prefix)},length={lengths[c]}>" for c in CHROMOSOMES]
    lines += [
        '##INFO=<ID=DP,Number=1,Type=Integer,Description="Total read depth">',
        '##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency">',
        '##FILTER=<ID=PASS,Description="All filters passed">',
    ]
    columns = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"
    if samples:
        lines += [
            '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
            '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Read depth">',
            '##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype quality">',
        ]
        columns += "\tFORMAT\t" + "\t".join(samples)
    lines.append(columns)
    return lines


def _ref_alt(rng: random.Random) -> tuple[str, str]:
    ref = rng.choice(_BASES)
    r = rng.random()
    if r < 0.85:  # SNV
        return ref, rng.choice([b for b in _BASES if b != ref])
    n = rng.randint(1, 4)
    extra = "".join(rng.choice(_BASES) for _ in range(n))
    if r < 0.93:  # insertion
        return ref, ref + extra
    return ref + extra, ref  # deletion


def _suffix_pool(rng: random.Random, n_samples: int, line_ending: str) -> list[str]:
    """Everything after POS, pre-rendered (ID to the last sample column, with the line ending)."""
    pool = []
    for _ in range(_POOL):
        ref, alt = _ref_alt(rng)
        qual = f"{rng.uniform(30, 3000):.1f}"
        gts = [("0/1" if rng.random() < 0.7 else "1/1") for _ in range(n_samples)]
        if n_samples > 1:  # some samples carry no alternate allele at this site
            gts = [gt if rng.random() < 0.6 else "0/0" for gt in gts]
            if all(gt == "0/0" for gt in gts):
                gts[0] = "0/1"
        dps = [rng.randint(8, 90) for _ in range(n_samples)] or [rng.randint(8, 90)]
        alleles = sum(gt.count("1") for gt in gts)
        af = alleles / (2 * n_samples) if n_samples else round(rng.uniform(0.01, 1.0), 3)
        info = f"DP={sum(dps)};AF={af:.3g}"
        s = f"\t.\t{ref}\t{alt}\t{qual}\tPASS\t{info}"
        if n_samples:
            s += "\tGT:DP:GQ\t" + "\t".join(
                f"{gt}:{dp}:{rng.randint(20, 99)}" for gt, dp in zip(gts, dps, strict=True)
            )
        pool.append(s + line_ending)
    return pool


def _allocate(n: int, lengths: dict[str, int]) -> list[tuple[str, int]]:
    """Split ``n`` records over the chromosomes in proportion to their lengths."""
    total = sum(lengths[c] for c in CHROMOSOMES)
    counts = [n * lengths[c] // total for c in CHROMOSOMES]
    for i in range(n - sum(counts)):
        counts[i % len(counts)] += 1
    return list(zip(CHROMOSOMES, counts, strict=True))


def _estimate_records(target_bytes: int, pool: list[str], lengths: dict[str, int], chr_prefix: bool) -> int:
    suffix = sum(len(s) for s in pool) / len(pool)
    total = sum(lengths[c] for c in CHROMOSOMES)
    prefix = sum(
        (len(_chrom_name(c, chr_prefix)) + 1 + len(str(lengths[c] // 2))) * lengths[c] / total
        for c in CHROMOSOMES
    )
    return max(1, math.ceil(target_bytes / (suffix + prefix)))


def _batches(
    n_records: int | None,
    target_bytes: int | None,
    samples: Sequence[str],
    build: str,
    chr_prefix: bool,
    seed: int,
    line_ending: str,
) -> Iterator[list[str]]:
    """Lists of data lines (each with its line ending), sorted by chromosome and position."""
    lengths = _lengths(build)
    rng = random.Random(seed)  # noqa: S311  # synthetic test data, not security  # nosec B311
    pool = _suffix_pool(rng, len(samples), line_ending)
    jitter = [rng.random() * 0.9 for _ in range(_JITTER)]
    if n_records is None:
        if target_bytes is None:
            raise ValueError("give n_records or target_bytes")
        n_records = _estimate_records(target_bytes, pool, lengths, chr_prefix)
    offset = 0
    for chrom, count in _allocate(n_records, lengths):
        if count <= 0:
            continue
        prefix = _chrom_name(chrom, chr_prefix) + "\t"
        step = (lengths[chrom] - 2 * _MARGIN) / count
        for start in range(0, count, _BATCH):
            stop = min(start + _BATCH, count)
            yield [
                f"{prefix}{_MARGIN + int((i + jitter[i % _JITTER]) * step)}{pool[(i + offset) % _POOL]}"
                for i in range(start, stop)
            ]
        offset += count


def _resolve_samples(sample: str, samples: Sequence[str] | None) -> tuple[str, ...]:
    return (sample,) if samples is None else tuple(samples)


def iter_variant_lines(
    n_records: int | None = None,
    *,
    target_bytes: int | None = None,
    sample: str = "SAMPLE1",
    samples: Sequence[str] | None = None,
    build: str = "GRCh37",
    chr_prefix: bool = False,
    seed: int = 0,
    line_ending: str = "\n",
) -> Iterator[str]:
    """Yield the data lines (with ``line_ending``) that :func:`write_vcf` writes after the header.

    Lines come sorted by chromosome (1-22, X, Y) and position, spread over the chromosomes
    in proportion to their lengths. Unlike :func:`write_vcf` there is no default count.

    :param n_records: number of lines.
    :param target_bytes: approximate total size of the lines, used when ``n_records`` is ``None``.
    :param sample: the one sample column's name, used when ``samples`` is ``None``.
    :param samples: sample column names (``()`` for sites-only lines).
    :param build: ``"GRCh37"`` or ``"GRCh38"`` (chromosome lengths the positions fit).
    :param chr_prefix: name chromosomes ``chr1``, ``chr2``...
    :param seed: random seed; the same arguments always give the same lines.
    :param line_ending: appended to every line.
    :raises ValueError: neither ``n_records`` nor ``target_bytes`` given, or an unknown
        ``build`` (raised when iteration starts).
    """
    for batch in _batches(
        n_records, target_bytes, _resolve_samples(sample, samples), build, chr_prefix, seed, line_ending
    ):
        yield from batch


@contextlib.contextmanager
def _open_out(path: Path, compression: str | None) -> Iterator[Any]:
    if compression not in (None, "gz", "bz2"):
        raise ValueError(f"compression must be None, 'gz' or 'bz2', not {compression!r}")
    with open(path, "wb", buffering=1 << 20) as raw:
        if compression is None:
            yield raw
        elif compression == "gz":
            # No file name and a zero mtime in the gzip header: same content, same bytes, same MD5.
            with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=1, mtime=0) as out:
                yield out
        else:
            with bz2.BZ2File(raw, "wb", compresslevel=9) as out:
                yield out


def write_vcf(
    path: str | Path,
    n_records: int | None = None,
    *,
    target_bytes: int | None = None,
    sample: str = "SAMPLE1",
    samples: Sequence[str] | None = None,
    compression: str | None = None,
    build: str = "GRCh37",
    chr_prefix: bool = False,
    seed: int = 0,
    source: str | None = None,
    fileformat: str = "VCFv4.2",
    with_contigs: bool = True,
    reference_line: bool = True,
    line_ending: str = "\n",
) -> Path:
    """Write a synthetic VCF and return its path.

    :param path: the file to write (replaced if it exists; its folder must exist). Its name
        does not choose the compression.
    :param n_records: number of data lines; or give ``target_bytes`` (the
        approximate uncompressed size) instead. Default 1000.
    :param target_bytes: approximate uncompressed size, used when ``n_records`` is ``None``.
    :param sample: the one sample column's name, used when ``samples`` is ``None``.
    :param samples: sample column names (``()`` for a sites-only VCF);
        default ``(sample,)``.
    :param compression: ``None`` (plain text), ``"gz"`` (gzip level 1) or ``"bz2"``.
    :param build: ``"GRCh37"``, or ``"GRCh38"`` to make a file Fabric must refuse
        (GRCh38 contig lengths, ``##reference=GRCh38`` and GRCh38 positions).
    :param chr_prefix: name chromosomes ``chr1``, ``chr2``... (and the reference ``hg19``/``hg38``).
    :param seed: random seed; the same arguments always give byte-identical files.
    :param source: extra text appended to the ``##source=`` line (e.g. a marker
        the sandbox reacts to).
    :param fileformat: the ``##fileformat=`` value, written as given.
    :param with_contigs: write ``##contig`` lines with lengths.
    :param reference_line: write a ``##reference`` line.
    :param line_ending: ``"\\n"`` or ``"\\r\\n"``, for the header and data lines alike.
    :return: ``path``, as a :class:`~pathlib.Path`.
    :raises ValueError: an unknown ``compression`` or ``build``.
    """
    if n_records is None and target_bytes is None:
        n_records = 1000
    path = Path(path)
    names = _resolve_samples(sample, samples)
    header = header_lines(
        names,
        build=build,
        chr_prefix=chr_prefix,
        source=source,
        fileformat=fileformat,
        with_contigs=with_contigs,
        reference_line=reference_line,
    )
    with _open_out(path, compression) as out:
        out.write((line_ending.join(header) + line_ending).encode())
        for batch in _batches(n_records, target_bytes, names, build, chr_prefix, seed, line_ending):
            out.write("".join(batch).encode())
    return path


# ---------------------------------------------------------------------------
# families


def _parent_copies(rng: random.Random) -> int:
    r = rng.random()
    return 0 if r < 0.5 else 1 if r < 0.9 else 2


def write_family(
    directory: str | Path,
    family_id: str,
    members: Sequence[str] = ("proband", "mother", "father"),
    n_records: int = 1000,
    seed: int = 0,
    *,
    compression: str | None = None,
    build: str = "GRCh37",
    chr_prefix: bool = False,
) -> list[Path]:
    """Write one single-sample VCF per family member and return their paths, in ``members`` order.

    Genotypes follow Mendelian inheritance: the parents' variants are drawn
    first and every other member (the proband, siblings...) inherits one
    allele from each parent at random, plus a few de novo variants in the
    first member. So the proband shares about half of each parent's
    variants. Each file holds about ``n_records`` records (its non-reference
    sites). Files are named ``{family_id}_{member}.vcf[.gz|.bz2]`` and the
    sample column is ``{family_id}_{member}``.

    :param directory: where to write the files (created if missing).
    :param family_id: prefix of every file and sample name; also seeds the genotypes.
    :param members: member names, unique; the first is the proband, and members named
        ``mother`` and ``father`` carry the parents' genotypes.
    :param n_records: about how many records each file holds.
    :param seed: random seed; the same arguments always give byte-identical files.
    :param compression: ``None`` (plain text), ``"gz"`` (gzip level 1) or ``"bz2"``.
    :param build: ``"GRCh37"``, or ``"GRCh38"`` to make files Fabric must refuse.
    :param chr_prefix: name chromosomes ``chr1``, ``chr2``...
    :return: the files written, one per member, in ``members`` order.
    :raises ValueError: no members, duplicate member names, or an unknown ``compression``
        or ``build``.
    """
    if not members:
        raise ValueError("members must name at least one family member")
    if len(set(members)) != len(members):
        raise ValueError("family member names must be unique")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"{seed}:{family_id}")  # noqa: S311  # synthetic test data  # nosec B311
    sites = math.ceil(n_records * 1.5)
    member_lines: dict[str, list[str]] = {m: [] for m in members}
    proband = members[0]
    for batch in _batches(sites, None, (), build, chr_prefix, seed, "\n"):
        for line in batch:
            base = line.rstrip("\n").rsplit("\t", 1)[0]  # CHROM..FILTER, INFO replaced below
            if rng.random() < 0.02:
                gts = {m: (1 if m == proband else 0) for m in members}
            else:
                gm = gf = 0
                while not (gm or gf):  # copies of the alternate allele in each parent
                    gm, gf = _parent_copies(rng), _parent_copies(rng)
                gts = {}
                for m in members:
                    if m == "mother":
                        gts[m] = gm
                    elif m == "father":
                        gts[m] = gf
                    else:
                        am = gm == 2 or (gm == 1 and rng.random() < 0.5)
                        af = gf == 2 or (gf == 1 and rng.random() < 0.5)
                        gts[m] = int(am) + int(af)
            for m, g in gts.items():
                if g:
                    dp = rng.randint(10, 80)
                    gt = "0/1" if g == 1 else "1/1"
                    member_lines[m].append(
                        f"{base}\tDP={dp};AF={g / 2:.1f}\tGT:DP:GQ\t{gt}:{dp}:{rng.randint(20, 99)}\n"
                    )
    paths = []
    suffix = {None: ".vcf", "gz": ".vcf.gz", "bz2": ".vcf.bz2"}.get(compression)
    if suffix is None:
        raise ValueError(f"compression must be None, 'gz' or 'bz2', not {compression!r}")
    for m in members:
        name = f"{family_id}_{m}"
        path = directory / f"{name}{suffix}"
        header = header_lines((name,), build=build, chr_prefix=chr_prefix, source=f"family={family_id}")
        with _open_out(path, compression) as out:
            out.write(("\n".join(header) + "\n").encode())
            out.write("".join(member_lines[m]).encode())
        paths.append(path)
    return paths


# ---------------------------------------------------------------------------
# command line

_UNITS = {"": 1, "B": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def parse_size(text: str) -> int:
    """``"200M"`` -> 209715200; units K, M, G (powers of 1024), optional trailing ``B``.

    :param text: a number with an optional unit, case-insensitive (``"512k"``, ``"1.5G"``,
        ``"10MiB"``).
    :return: the size in bytes (fractions of a byte dropped).
    :raises argparse.ArgumentTypeError: not a number with an optional unit.
    """
    t = text.strip().upper().removesuffix("IB").removesuffix("B")
    unit = t[-1:] if t[-1:] in _UNITS else ""
    number = t[: len(t) - len(unit)]
    try:
        value = float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (try 200M or 1G)") from None
    return int(value * _UNITS[unit])


def main(argv: Sequence[str] | None = None) -> int:
    """The command line: write one synthetic VCF and print its path and size.

    Options: ``--records N`` or ``--size 200M``, ``--gz`` or ``--bz2``, ``--seed``,
    ``--sample NAME`` (repeat for more samples), ``--build``, ``--chr-prefix``.

    :param argv: the arguments, without the program name (default: ``sys.argv[1:]``).
    :return: the exit status, ``0``.
    :raises SystemExit: bad arguments or ``--help`` (from :mod:`argparse`).
    """
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_fabric.testing.vcfgen",
        description="Write a deterministic synthetic VCF (no PHI) for tests, demos and benchmarks.",
    )
    parser.add_argument("out", type=Path, help="output file")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--records", type=int, help="number of data lines (default 1000)")
    size.add_argument("--size", type=parse_size, help="approximate uncompressed size, e.g. 200M or 1G")
    comp = parser.add_mutually_exclusive_group()
    comp.add_argument("--gz", action="store_const", const="gz", dest="compression", help="gzip (level 1)")
    comp.add_argument("--bz2", action="store_const", const="bz2", dest="compression", help="bzip2")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sample", action="append", help="sample name (repeat for a multi-sample VCF)")
    parser.add_argument("--build", choices=sorted(_BUILD_LENGTHS), default="GRCh37")
    parser.add_argument("--chr-prefix", action="store_true", help="name chromosomes chr1, chr2...")
    args = parser.parse_args(argv)
    path = write_vcf(
        args.out,
        args.records,
        target_bytes=args.size,
        samples=args.sample,
        compression=args.compression,
        build=args.build,
        chr_prefix=args.chr_prefix,
        seed=args.seed,
    )
    print(f"{path} {path.stat().st_size} bytes", file=sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
