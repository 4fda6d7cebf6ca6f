"""The DEFLATE codec of uploads: deterministic BGZF compression, and the inflater of the stream check.

Both run on ISA-L (the ``isal`` package, a drop-in for :mod:`zlib`): it
inflates about twice and compresses about three times as fast as the
standard library's zlib, which is what lets the checks of an upload keep up
with a gigabit link (``benchmarks/RESULTS.md``, section 7).

:func:`bgzf_chunks` compresses a plain VCF into BGZF, the blocked gzip that
``bgzip`` writes and every VCF tool reads: 65,280 input bytes per block,
each an independent gzip member, then the 28-byte end-of-file block. The
output depends only on the input bytes, the level and the ISA-L version --
not on how the input was split into reads -- so an upload retried later
computes the same checksum and finds the first try's genome.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Iterator
from typing import Any

from isal import isal_zlib

__all__ = ["BGZF_EOF", "BLOCK_INPUT", "INFLATE_ERRORS", "LEVEL", "bgzf_chunks", "gzip_inflater"]

#: The codec: ``isal_zlib`` (benchmarks swap in :mod:`zlib` to measure what it earns).
codec: Any = isal_zlib
#: Compression level (ISA-L's levels are 0-3; 1 is as fast as level 2 and deterministic like any).
LEVEL = 1
#: Uncompressed bytes per BGZF block, as ``bgzip`` uses (a block must stay under 64 KiB compressed).
BLOCK_INPUT = 0xFF00
#: The BGZF end-of-file marker: an empty block (SAM/BAM specification, section 4.1.2).
BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
_MAX_BLOCK = 1 << 16
_OVERHEAD = 26  # 18-byte header with the BC extra field, CRC32 and ISIZE
_HEADER = struct.Struct("<4BI2BH2BHH")
_TRAILER = struct.Struct("<II")


#: What :func:`gzip_inflater` objects raise on corrupt data (ISA-L's own error, or zlib's).
INFLATE_ERRORS: tuple[Any, ...] = (isal_zlib.error, zlib.error)


def gzip_inflater() -> Any:
    """A ``decompressobj`` for one gzip member (``decompress(data, max_length)``, ``eof``...)."""
    return codec.decompressobj(31)


def _block(data: memoryview) -> bytes:
    deflated = codec.compress(data, LEVEL, -15)
    if len(deflated) + _OVERHEAD > _MAX_BLOCK:  # incompressible: stored, like bgzip
        deflated = zlib.compress(data, 0, -15)
    size = len(deflated) + _OVERHEAD
    header = _HEADER.pack(0x1F, 0x8B, 8, 4, 0, 0, 0xFF, 6, 0x42, 0x43, 2, size - 1)
    return header + deflated + _TRAILER.pack(codec.crc32(data) & 0xFFFFFFFF, len(data))


def bgzf_chunks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Compress a byte stream into BGZF, one output chunk per input chunk (bounded memory).

    Blocks are cut at fixed offsets of the whole stream, so the output is the
    same however the input is chunked. The end-of-file block comes last.

    :param chunks: the plain bytes, in order, in chunks of any size.
    :return: the BGZF bytes, in chunks.
    """
    pending = b""
    for chunk in chunks:
        data = memoryview(pending + chunk if pending else chunk)
        whole = len(data) - len(data) % BLOCK_INPUT
        if whole:
            yield b"".join(_block(data[i : i + BLOCK_INPUT]) for i in range(0, whole, BLOCK_INPUT))
        pending = bytes(data[whole:])
    yield (_block(memoryview(pending)) if pending else b"") + BGZF_EOF
