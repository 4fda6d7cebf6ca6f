"""The body of a genome upload: the file streamed while it is checked, and the checksum pass.

An upload cannot take back what it sent, so the checks of the file ride inside
the stream and a failed check *aborts* the request instead of completing it:

* a reader thread reads the file (and, with ``compress=True``, compresses it
  into BGZF), proves a gzip/bzip2 file complete and intact
  (:class:`~airflow_provider_fabric.vcf.StreamChecker`) and verifies a declared
  MD5 of the file, while the sending thread hashes the bytes as they leave.
  The reader runs a few chunks ahead, so the checks overlap the transfer;
* no chunk leaves before the reader has checked it, and the last chunk is held
  back until every check of the whole file has passed. A failed check raises in
  the middle of the request, and the connection is dropped with the body
  incomplete (short of its ``Content-Length``, or without the closing empty
  chunk of a chunked body): no HTTP server takes that for a request, so no
  genome is created.

:func:`upload_checksum` is the checksum pass: the MD5 and size of exactly the
bytes an upload of a file sends, for the ``checksum`` query parameter (which
travels before the body) and the lookup of an earlier try's genome.
:func:`read_md5_sidecar` reads the MD5 a pipeline wrote beside the file.
"""

from __future__ import annotations

import os
import queue
import re
import threading
from collections.abc import Callable, Iterator
from typing import IO, Any, NamedTuple, cast

from airflow_provider_fabric.deflate import BLOCK_INPUT, bgzf_chunks
from airflow_provider_fabric.exceptions import FabricChecksumError, FabricInputError
from airflow_provider_fabric.vcf import StreamChecker

__all__ = [
    "SIDECAR_SUFFIX",
    "Checksum",
    "UploadBody",
    "as_md5",
    "body_chunks",
    "read_md5_sidecar",
    "upload_checksum",
]

#: Bytes per read of the file: 16 BGZF blocks, about 1 MiB (and about as much per socket write).
CHUNK = 16 * BLOCK_INPUT
#: Chunks the reader thread may run ahead of the socket (bounds memory to a few MiB).
_AHEAD = 8
#: How long closing a body waits for its reader thread (it is stuck only inside a read of the file).
_JOIN_SECONDS = 10.0
#: The name of a pipeline's MD5 file, appended to the VCF's name (``sample.vcf.gz.md5``).
SIDECAR_SUFFIX = ".md5"
_SIDECAR_MAX = 1 << 16
_GNU_LINE = re.compile(r"([0-9a-fA-F]{32})(?:[ \t][ *]?(.+))?")
_BSD_LINE = re.compile(r"MD5 ?\((.+)\) ?= ?([0-9a-fA-F]{32})")
_END = object()

ProgressCallback = Callable[[int, int | None], None]


class Checksum(NamedTuple):
    """The MD5 (hex) and the size of the bytes an upload sends."""

    md5: str
    size: int


def as_md5(value: Any, what: str = "md5") -> str:
    """A declared MD5 as 32 lower-case hex digits.

    :param value: the digest as given.
    :param what: the argument's name, for the error message.
    :raises FabricInputError: not 32 hex digits.
    """
    text = str(value).strip().lower()
    if not re.fullmatch(r"[0-9a-f]{32}", text):
        raise FabricInputError(f"{what} must be an MD5 digest: 32 hexadecimal digits")
    return text


def body_chunks(
    fileobj: IO[bytes],
    *,
    compress: bool = False,
    checker: StreamChecker | None = None,
    file_md5: str | None = None,
) -> Iterator[bytes]:
    """The bytes an upload of ``fileobj`` sends, in chunks: the file as stored, or compressed into BGZF.

    :param fileobj: a binary file, read from its current position to the end.
    :param compress: compress into BGZF (:func:`~airflow_provider_fabric.deflate.bgzf_chunks`).
    :param checker: fed every byte read from the file (before compression) and finished at
        its end, before the last chunk is produced.
    :param file_md5: the MD5 ``checker`` must find (it must compute one).
    :raises FabricChecksumError: the file's MD5 is not ``file_md5``.
    """
    chunks: Iterator[bytes] = iter(lambda: fileobj.read(CHUNK), b"")
    if checker is not None:
        chunks = _checked(chunks, checker, file_md5)
    return bgzf_chunks(chunks) if compress else chunks


def _checked(chunks: Iterator[bytes], checker: StreamChecker, file_md5: str | None) -> Iterator[bytes]:
    for chunk in chunks:
        checker.update(chunk)
        yield chunk
    digest = checker.finish()
    if file_md5 is not None:
        _verify_md5(digest, file_md5, "the file")


def _verify_md5(actual: str | None, expected: str, what: str) -> None:
    """Raise :class:`FabricChecksumError` unless ``actual`` is ``expected``.

    :param actual: the MD5 computed.
    :param expected: the MD5 declared.
    :param what: what was hashed, for the message ("the file", "the bytes sent").
    """
    if actual != expected:
        raise FabricChecksumError(
            f"MD5 mismatch: {what} hash to {actual}, not the declared {expected}; the upload was "
            "aborted before its last byte, so no genome was created",
            expected=expected,
            actual=str(actual),
        )


def upload_checksum(location: Any, *, compress: bool = False) -> Checksum:
    """The checksum pass: MD5 and size of exactly the bytes an upload of ``location`` sends.

    :param location: a local path, a URL or an ``ObjectStoragePath``.
    :param compress: the upload compresses the file into BGZF: hash the compressed bytes.
    """
    from airflow_provider_fabric.storage import open_source

    digest = StreamChecker("vcf")
    with open_source(location) as handle:
        if compress:
            for chunk in body_chunks(handle, compress=True):
                digest.update(chunk)
        else:  # the bytes sent are the file's: read them into one buffer (~10% faster than read())
            buffer = memoryview(bytearray(CHUNK))
            while got := handle.readinto(buffer):  # type: ignore[attr-defined]
                digest.update(cast(bytes, buffer[:got]))  # md5 takes any buffer
    return Checksum(str(digest.finish()), digest.bytes_in)


def read_md5_sidecar(location: Any) -> str | None:
    """The MD5 that the ``.md5`` file beside ``location`` gives for it, or ``None`` without such a file.

    Reads what ``md5sum`` writes (``<digest>  <name>``, or ``<digest> *<name>``),
    the BSD form (``MD5 (<name>) = <digest>``) and a bare digest. A line whose
    name (folders ignored) is not this file's is skipped.

    :param location: the VCF: a local path, a URL or an ``ObjectStoragePath``.
    :raises FabricInputError: the file is not in one of those forms, or gives no
        (or more than one) digest for this file. The message never names the file.
    """
    from airflow_provider_fabric.storage import beside

    sidecar = beside(location, SIDECAR_SUFFIX)
    if not sidecar.exists():
        return None
    with sidecar.open("rb") as handle:
        text = handle.read(_SIDECAR_MAX).decode("utf-8", errors="replace")
    name = os.path.basename(str(getattr(location, "name", "") or os.fspath(location)))
    found = set()
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        gnu, bsd = _GNU_LINE.fullmatch(line), _BSD_LINE.fullmatch(line)
        if gnu:
            digest, listed = gnu.group(1), gnu.group(2)
        elif bsd:
            listed, digest = bsd.group(1), bsd.group(2)
        else:
            raise FabricInputError(
                f"the {SIDECAR_SUFFIX} file beside the VCF is not md5sum output ('<md5>  <file name>')"
            )
        if listed is None or os.path.basename(listed.replace("\\", "/")) == name:
            found.add(digest.lower())
    if len(found) != 1:
        raise FabricInputError(
            f"the {SIDECAR_SUFFIX} file beside the VCF gives "
            f"{'no' if not found else 'more than one'} MD5 for it"
        )
    return found.pop()


class UploadBody:
    """A request body (file-like, for ``requests``) that streams a file while it is checked.

    Read it to the end: every chunk comes out only after the reader thread has
    checked it, and the last one only after every check of the whole file has
    passed; otherwise :meth:`read` raises. Always :meth:`close` it (it stops
    the reader thread), before closing ``fileobj``.

    :param fileobj: the file, read from its current position; never closed here.
    :param size: bytes the body will have (sent as ``Content-Length`` and verified),
        or ``None`` when unknown (sent chunked).
    :param compress: compress the file into BGZF on the way.
    :param archive_format: ``"vcf.gz"`` or ``"vcf.bz2"``: prove the file such an archive,
        complete and intact; ``None``: no such check.
    :param file_md5: the MD5 the file as read must have (before compression).
    :param md5: the MD5 the bytes sent must have.
    :param progress: called as ``progress(bytes_sent, size)`` after every chunk.
    """

    def __init__(
        self,
        fileobj: IO[bytes],
        *,
        size: int | None = None,
        compress: bool = False,
        archive_format: str | None = None,
        file_md5: str | None = None,
        md5: str | None = None,
        progress: ProgressCallback | None = None,
    ) -> None:
        self._size = size
        self._md5 = md5
        self._progress = progress
        self._sent_digest = StreamChecker("vcf") if md5 else None
        kind = archive_format or ("vcf" if file_md5 else None)
        checker = StreamChecker(kind, md5=file_md5 is not None) if kind else None
        self._chunks = body_chunks(fileobj, compress=compress, checker=checker, file_md5=file_md5)
        self._queue: queue.Queue[Any] = queue.Queue(_AHEAD)
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read_ahead, name="fabric-upload-reader", daemon=True)
        self._next: Any = None
        self._current = b""
        self._offset = 0
        self._fetched = 0
        self._finished = False
        self._error: Exception | None = None
        self.sent = 0  #: bytes handed out so far

    def __len__(self) -> int:
        return self._size or 0

    def __bool__(self) -> bool:  # requests tests ``if data:``; an unknown size must not read as empty
        return True

    def read(self, amount: int | None = -1) -> bytes:
        """Up to ``amount`` bytes of the body (``b""`` at its end).

        :param amount: most bytes to return; ``-1`` or ``None``: the rest of the current chunk.
        :raises VcfValidationError: the archive is corrupt or truncated.
        :raises FabricChecksumError: the file or the bytes sent differ from their declared MD5.
        :raises FabricInputError: the file changed size while it was read.
        :raises ValueError: the body was closed.
        """
        if self._stop.is_set():  # never b"": a chunked sender would then close the body as complete
            raise ValueError("read from a closed upload body")
        if self._error is not None:  # nor after a failed check, however often it is asked
            raise self._error
        if self._offset >= len(self._current):
            try:
                self._current, self._offset = self._take(), 0
            except Exception as err:
                self._error = err
                raise
            if not self._current:
                return b""
        end = len(self._current)
        if amount is not None and amount >= 0:
            end = min(end, self._offset + amount)
        whole = self._offset == 0 and end == len(self._current)
        out = self._current if whole else self._current[self._offset : end]
        self._offset = end
        self.sent += len(out)
        if self._progress is not None:
            self._progress(self.sent, self._size)
        return out

    def close(self) -> None:
        """Stop the reader thread (the file itself stays open)."""
        self._stop.set()
        if self._reader.is_alive():
            self._reader.join(_JOIN_SECONDS)

    def _take(self) -> bytes:
        """The next chunk to send; checks everything before the last one leaves."""
        if self._finished:
            return b""
        if self._next is None:
            self._reader.start()
            self._next = self._fetch()
        chunk = self._next
        if chunk is not _END:
            self._next = self._fetch()
        if self._next is _END:
            self._finished = True
            self._verify_whole()
        return b"" if chunk is _END else chunk

    def _fetch(self) -> Any:
        item = self._queue.get()
        if item is _END:
            return item
        if isinstance(item, Exception):
            raise item
        self._fetched += len(item)
        if self._size is not None and self._fetched > self._size:
            raise FabricInputError(
                f"the file grew while it was being uploaded (past {self._size} bytes); the upload was "
                "aborted before its last byte, so no genome was created"
            )
        if self._sent_digest is not None:
            self._sent_digest.update(item)
        return item

    def _verify_whole(self) -> None:
        if self._size is not None and self._fetched != self._size:
            raise FabricInputError(
                f"the file shrank while it was being uploaded ({self._fetched} bytes, not {self._size}); "
                "the upload was aborted before its last byte, so no genome was created"
            )
        if self._sent_digest is not None and self._md5 is not None:
            _verify_md5(self._sent_digest.finish(), self._md5, "the bytes sent")

    def _read_ahead(self) -> None:
        try:
            for chunk in self._chunks:
                if not self._put(chunk):
                    return
            self._put(_END)
        except Exception as err:  # raised in the sending thread, where it aborts the request
            self._put(err)

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return True
            except queue.Full:
                continue
        return False
