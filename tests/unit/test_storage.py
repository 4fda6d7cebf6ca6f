"""Outputs appear whole or not at all, wherever they are written."""

from __future__ import annotations

import pytest

from airflow_provider_fabric.exceptions import FabricInputError
from airflow_provider_fabric.storage import as_path, atomic_writer, open_source


@pytest.mark.parametrize("form", ["plain", "file-url", "object"])
def test_atomic_writer_moves_complete_file_into_place(tmp_path, form):
    dest = tmp_path / "out" / "variants.vcf"
    location = {"plain": str(dest), "file-url": f"file://{dest}", "object": as_path(dest)}[form]
    with atomic_writer(location) as handle:
        handle.write(b"part one ")
        assert not dest.exists()  # nothing visible while writing
        handle.write(b"part two")
    assert dest.read_bytes() == b"part one part two"
    assert [p.name for p in dest.parent.iterdir()] == ["variants.vcf"]


def test_failure_mid_write_leaves_nothing_and_keeps_old_file(tmp_path):
    dest = tmp_path / "report.pdf"
    dest.write_bytes(b"previous version")
    with pytest.raises(RuntimeError), atomic_writer(dest) as handle:
        handle.write(b"half")
        raise RuntimeError("connection dropped")
    assert dest.read_bytes() == b"previous version"
    assert [p.name for p in tmp_path.iterdir()] == ["report.pdf"]


def test_open_source_reads_local_and_url_forms(tmp_path):
    src = tmp_path / "in.vcf"
    src.write_bytes(b"##fileformat=VCFv4.2\n")
    for location in (str(src), f"file://{src}"):
        with open_source(location) as handle:
            assert handle.read() == b"##fileformat=VCFv4.2\n"


def test_missing_input_is_a_clear_input_error(tmp_path):
    with (
        pytest.raises(FabricInputError, match="does not exist") as info,
        open_source(tmp_path / "PHI-Doe.vcf"),
    ):
        pass
    assert "PHI-Doe" not in str(info.value)  # file names may hold sample names


def test_a_killed_tries_temporary_file_is_removed_by_the_next_write(tmp_path):
    import os

    dest = tmp_path / "variants.vcf"
    stale = tmp_path / ".variants.vcf.partial-deadbeef0000"
    stale.write_bytes(b"half of an export")
    os.utime(stale, (1, 1))  # written long ago, by a try that was killed
    other = tmp_path / ".other.vcf.partial-deadbeef0000"
    other.write_bytes(b"another destination's live write")
    os.utime(other, (1, 1))
    with atomic_writer(dest) as handle:
        handle.write(b"complete")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.vcf.partial-deadbeef0000", "variants.vcf"]
