"""Regenerate the small files of the bad-input corpus (``bad_inputs/``).

The files are committed so a reader can open each one; this script documents
how each was made and rebuilds them: ``python tests/corpus/make_bad_inputs.py``.
"""

from __future__ import annotations

import bz2
import gzip
import random
from pathlib import Path

HERE = Path(__file__).parent / "bad_inputs"
HEADER = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tSAMPLE1\n"
RECORDS = "".join(f"1\t{100000 + i * 1000}\t.\tA\tG\t50\tPASS\tDP=30\tGT\t0/1\n" for i in range(40))
GOOD = "##fileformat=VCFv4.2\n##reference=GRCh37\n" + HEADER + RECORDS


def vcf(meta: str = "", header: str = HEADER, records: str = RECORDS, fileformat: str = "VCFv4.2") -> str:
    return f"##fileformat={fileformat}\n{meta}{header}{records}"


def main() -> None:
    HERE.mkdir(exist_ok=True)
    files: dict[str, bytes] = {
        "empty.vcf": b"",
        "report.pdf.vcf": b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n",
        "random.vcf": random.Random(7).randbytes(4096),
        "table.vcf": b"chrom,pos,ref,alt\n1,100,A,G\n2,200,C,T\n",
        "vcf33.vcf": vcf(fileformat="VCFv3.3").encode(),
        "no_fileformat.vcf": (HEADER + RECORDS).encode(),
        "no_chrom_header.vcf": ("##fileformat=VCFv4.2\n" + RECORDS).encode(),
        "grch38_contigs.vcf": vcf(
            "##contig=<ID=1,length=248956422>\n##contig=<ID=2,length=242193529>\n"
        ).encode(),
        "grch38_reference.vcf": vcf("##reference=GRCh38\n").encode(),
        "hg38_chr_contigs.vcf": vcf(
            "##contig=<ID=chr1,length=248956422>\n",
            records=RECORDS.replace("1\t", "chr1\t"),
        ).encode(),
        "grch38_by_position.vcf": vcf(records="X\t155500000\t.\tA\tG\t50\tPASS\tDP=30\tGT\t0/1\n").encode(),
        "conflicting_build.vcf": vcf("##reference=GRCh37\n##contig=<ID=1,length=248956422>\n").encode(),
        "truncated.vcf.gz": gzip.compress(GOOD.encode() * 50, mtime=0)[:-400],
        "corrupt.vcf.gz": _corrupt(gzip.compress(GOOD.encode() * 50, mtime=0)),
        "truncated.vcf.bz2": bz2.compress(GOOD.encode() * 50)[:-200],
        "multi_sample.vcf": vcf(
            header=HEADER.rstrip("\n") + "\tSAMPLE2\n", records=RECORDS.replace("\t0/1\n", "\t0/1\t1/1\n")
        ).encode(),
        "short_line.vcf": vcf(records=RECORDS + "1\t999999\t.\tA\n").encode(),
        "gzipped_csv.vcf.gz": gzip.compress(b"chrom,pos,ref,alt\n1,100,A,G\n", mtime=0),
        "bam_like.bam.vcf": gzip.compress(b"BAM\x01" + bytes(200), mtime=0),
    }
    for name, data in files.items():
        (HERE / name).write_bytes(data)


def _corrupt(data: bytes) -> bytes:
    middle = len(data) // 2
    return data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 64]) + data[middle + 64 :]


if __name__ == "__main__":
    main()
