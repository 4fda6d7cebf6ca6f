"""The synthetic VCF generator: deterministic, realistic enough, and accepted (or refused) as intended."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from airflow_provider_fabric.testing.vcfgen import (
    CHROMOSOMES,
    header_lines,
    iter_variant_lines,
    main,
    parse_size,
    write_family,
    write_vcf,
)
from airflow_provider_fabric.vcf import GRCH37_LENGTHS, GRCH38_LENGTHS, VcfValidationError, inspect_vcf


def data_lines(path: Path) -> list[str]:
    raw = path.read_bytes()
    if raw.startswith(b"\x1f\x8b"):
        raw = gzip.decompress(raw)
    elif raw.startswith(b"BZh"):
        raw = bz2.decompress(raw)
    return [line for line in raw.decode().splitlines() if not line.startswith("#")]


def inspect(path: Path, **kwargs: object):  # type: ignore[no-untyped-def]
    with open(path, "rb") as f:
        return inspect_vcf(f, path.name, **kwargs)  # type: ignore[arg-type]


def test_same_seed_same_bytes_other_seed_other_variants(tmp_path: Path) -> None:
    a = write_vcf(tmp_path / "a.vcf.gz", 500, compression="gz", seed=7).read_bytes()
    b = write_vcf(tmp_path / "b.vcf.gz", 500, compression="gz", seed=7).read_bytes()
    c = write_vcf(tmp_path / "c.vcf.gz", 500, compression="gz", seed=8).read_bytes()
    assert hashlib.md5(a).digest() == hashlib.md5(b).digest()  # stable checksums for idempotency tests
    assert a != c


def test_records_are_sorted_realistic_and_within_grch37(tmp_path: Path) -> None:
    path = write_vcf(tmp_path / "s.vcf", 5000)
    lines = data_lines(path)
    assert len(lines) == 5000
    order = {c: i for i, c in enumerate(CHROMOSOMES)}
    keys = []
    for line in lines:
        cols = line.split("\t")
        assert len(cols) == 10
        chrom, pos, _id, ref, alt, qual, flt, info, fmt, sample = cols
        assert 0 < int(pos) <= GRCH37_LENGTHS[chrom]
        assert set(ref) <= set("ACGT") and set(alt) <= set("ACGT") and ref != alt
        assert len(ref) == 1 or len(alt) == 1  # SNVs and small indels
        assert float(qual) > 0 and flt == "PASS"
        assert info.startswith("DP=") and ";AF=" in info
        assert fmt == "GT:DP:GQ"
        assert sample.split(":")[0] in ("0/1", "1/1")
        keys.append((order[chrom], int(pos)))
    assert keys == sorted(keys)
    assert {k[0] for k in keys} == set(range(len(CHROMOSOMES)))  # every chromosome has variants
    assert sum(1 for line in lines if len(line.split("\t")[3]) != len(line.split("\t")[4])) > 100  # indels


def test_target_bytes_gives_about_that_size(tmp_path: Path) -> None:
    path = write_vcf(tmp_path / "s.vcf", target_bytes=3_000_000)
    assert 2_850_000 < path.stat().st_size < 3_150_000


def test_header_options(tmp_path: Path) -> None:
    path = write_vcf(
        tmp_path / "s.vcf", 10, source="FAIL_ANNOTATION", fileformat="VCFv4.1", chr_prefix=True, sample="X1"
    )
    text = path.read_text()
    assert text.startswith("##fileformat=VCFv4.1\n")
    assert "##source=airflow-provider-fabric-vcfgen (synthetic data, no PHI) FAIL_ANNOTATION\n" in text
    assert "##reference=hg19\n" in text
    assert "##contig=<ID=chr1,length=249250621>\n" in text
    assert text.split("\n")[-2].startswith("chr")
    assert "\tFORMAT\tX1\n" in text
    bare = write_vcf(tmp_path / "bare.vcf", 10, with_contigs=False, reference_line=False).read_text()
    assert "##contig" not in bare and "##reference" not in bare


def test_sites_only_and_multi_sample(tmp_path: Path) -> None:
    sites = write_vcf(tmp_path / "sites.vcf", 50, samples=())
    assert all(len(line.split("\t")) == 8 for line in data_lines(sites))
    assert header_lines(())[-1] == "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"
    multi = write_vcf(tmp_path / "multi.vcf", 200, samples=("A", "B", "C"))
    lines = data_lines(multi)
    assert all(len(line.split("\t")) == 12 for line in lines)
    gts = {g.split(":")[0] for line in lines for g in line.split("\t")[9:]}
    assert gts == {"0/0", "0/1", "1/1"}
    assert inspect(multi).samples == ("A", "B", "C")


def test_windows_line_endings(tmp_path: Path) -> None:
    raw = write_vcf(tmp_path / "s.vcf", 10, line_ending="\r\n").read_bytes()
    assert raw.count(b"\r\n") == raw.count(b"\n")


@pytest.mark.parametrize("compression", ["gz", "bz2"])
def test_compressed_output_holds_the_same_text(tmp_path: Path, compression: str) -> None:
    plain = write_vcf(tmp_path / "p.vcf", 300).read_bytes()
    packed = write_vcf(tmp_path / f"p.vcf.{compression}", 300, compression=compression).read_bytes()
    unpack = gzip.decompress if compression == "gz" else bz2.decompress
    assert unpack(packed) == plain


def test_iter_variant_lines_matches_the_file(tmp_path: Path) -> None:
    path = write_vcf(tmp_path / "s.vcf", 123, seed=3, chr_prefix=True)
    lines = list(iter_variant_lines(123, seed=3, chr_prefix=True))
    assert all(line.endswith("\n") for line in lines)
    assert [line.rstrip("\n") for line in lines] == data_lines(path)


def test_generated_files_pass_or_fail_inspection_as_intended(tmp_path: Path) -> None:
    assert (
        inspect(write_vcf(tmp_path / "ok.vcf.gz", 100, compression="gz"), for_report=True).build == "GRCh37"
    )
    bad = write_vcf(tmp_path / "b38.vcf", 3000, build="GRCh38", with_contigs=False, reference_line=False)
    assert all(int(line.split("\t")[1]) <= GRCH38_LENGTHS[line.split("\t")[0]] for line in data_lines(bad))
    b38 = write_vcf(tmp_path / "b38h.vcf", 10, build="GRCh38")
    with pytest.raises(VcfValidationError, match="GRCh38"):
        inspect(b38)


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="build"):
        write_vcf(tmp_path / "x.vcf", 1, build="hg38")
    with pytest.raises(ValueError, match="compression"):
        write_vcf(tmp_path / "x.vcf", 1, compression="xz")


def test_family_files_share_inherited_variants(tmp_path: Path) -> None:
    paths = write_family(tmp_path / "fam", "FAM001", n_records=600, seed=1)
    assert [p.name for p in paths] == ["FAM001_proband.vcf", "FAM001_mother.vcf", "FAM001_father.vcf"]
    sites = {}
    for path, member in zip(paths, ("proband", "mother", "father"), strict=True):
        info = inspect(path, for_report=True)
        assert info.samples == (f"FAM001_{member}",)
        lines = data_lines(path)
        assert 400 < len(lines) < 800
        sites[member] = {tuple(line.split("\t")[:2]) for line in lines}
    proband, mother, father = sites["proband"], sites["mother"], sites["father"]
    from_mother, from_father = len(proband & mother), len(proband & father)
    assert 0.3 < from_mother / len(mother) < 0.8  # about half of each parent's variants are transmitted
    assert 0.3 < from_father / len(father) < 0.8
    de_novo = proband - mother - father
    assert 0 < len(de_novo) < 0.05 * len(proband)
    again = write_family(tmp_path / "fam2", "FAM001", n_records=600, seed=1)
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in paths]


def test_family_with_siblings_and_compression(tmp_path: Path) -> None:
    paths = write_family(
        tmp_path, "FAM002", members=("kid", "mother", "father", "sibling"), n_records=100, compression="gz"
    )
    assert [p.name for p in paths][-1] == "FAM002_sibling.vcf.gz"
    assert all(inspect(p, for_report=True).format == "vcf.gz" for p in paths)


def test_parse_size() -> None:
    assert parse_size("200M") == 200 * 2**20
    assert parse_size("1G") == 2**30
    assert parse_size("1.5k") == 1536
    assert parse_size("4096") == 4096
    assert parse_size("10MiB") == 10 * 2**20


def test_cli_writes_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.vcf.gz"
    assert main([str(out), "--records", "25", "--gz", "--seed", "2", "--sample", "CLI1"]) == 0
    assert str(out) in capsys.readouterr().out
    assert len(data_lines(out)) == 25
    assert inspect(out).samples == ("CLI1",)


def test_cli_as_a_module(tmp_path: Path) -> None:
    out = tmp_path / "m.vcf.bz2"
    done = subprocess.run(
        [sys.executable, "-m", "airflow_provider_fabric.testing.vcfgen", str(out), "--size", "64K", "--bz2"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "bytes" in done.stdout
    assert 60_000 < len(bz2.decompress(out.read_bytes())) < 72_000
