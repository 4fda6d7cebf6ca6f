"""The DEFLATE codec of uploads: deterministic BGZF compression, and the inflater of the stream check.

:func:`bgzf_chunks` compresses a plain VCF into BGZF, the blocked gzip that
``bgzip`` writes and every VCF tool reads: 65,280 input bytes per block,
each an independent gzip member, then the 28-byte end-of-file block. Blocks
are cut at fixed offsets, so the output depends only on the input bytes, the
level and the zlib-ng version -- not on how the input was split into reads, nor
on the threads that compress it -- and an upload retried later computes the
same checksum and finds the first try's genome.

Compression runs on zlib-ng (the ``zlib-ng`` package) at level 2: about
1.7 times as fast as the standard library's zlib at level 1 and 7 % smaller,
with output that is reproducible for a given zlib-ng version. ISA-L (the
``isal`` package) compresses faster still but not reproducibly: the same
input gave different bytes in different processes (``benchmarks/RESULTS.md``,
section 8; intel/isa-l issue 140). Inflating has no such concern -- there is
one right output -- so the stream check inflates with ISA-L, about twice as
fast as zlib, which is what lets it keep up with a gigabit link.
"""

from __future__ import annotations

import struct
import zlib
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from isal import isal_zlib
from zlib_ng import zlib_ng

__all__ = ["BGZF_EOF", "BLOCK_INPUT", "INFLATE_ERRORS", "LEVEL", "bgzf_chunks", "gzip_inflater"]

#: The inflater's codec: ``isal_zlib`` (benchmarks swap in :mod:`zlib` to measure what it earns).
codec: Any = isal_zlib
#: zlib-ng compression level: 2 shrinks VCF text about 3.9 times at ~0.2 GB/s per core.
LEVEL = 2
#: Threads compressing BGZF blocks side by side (zlib-ng releases the GIL).
WORKERS = 2
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
    deflated = zlib_ng.compress(data, LEVEL, -15)
    if len(deflated) + _OVERHEAD > _MAX_BLOCK:  # incompressible: stored, like bgzip
        deflated = zlib.compress(data, 0, -15)
    size = len(deflated) + _OVERHEAD
    header = _HEADER.pack(0x1F, 0x8B, 8, 4, 0, 0, 0xFF, 6, 0x42, 0x43, 2, size - 1)
    return header + deflated + _TRAILER.pack(zlib_ng.crc32(data), len(data))


def _blocks(data: bytes) -> bytes:
    view = memoryview(data)
    return b"".join(_block(view[i : i + BLOCK_INPUT]) for i in range(0, len(view), BLOCK_INPUT))


def _whole_blocks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Regroup chunks of any size into runs of whole blocks (the last run may end short)."""
    pending = b""
    for chunk in chunks:
        data = pending + chunk if pending else chunk
        whole = len(data) - len(data) % BLOCK_INPUT
        if whole:
            yield data[:whole]
        pending = data[whole:]
    if pending:
        yield pending


def bgzf_chunks(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Compress a byte stream into BGZF, one output chunk per run of input (bounded memory).

    Runs of blocks are compressed by :data:`WORKERS` threads, at most one run
    ahead each, and come out in order. The end-of-file block comes last.

    :param chunks: the plain bytes, in order, in chunks of any size.
    :return: the BGZF bytes, in chunks.
    """
    with ThreadPoolExecutor(WORKERS, thread_name_prefix="fabric-bgzf") as pool:
        ahead: deque[Future[bytes]] = deque()
        for run in _whole_blocks(chunks):
            ahead.append(pool.submit(_blocks, run))
            if len(ahead) > WORKERS:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()
    yield BGZF_EOF
