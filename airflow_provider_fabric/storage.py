"""Reading inputs from, and writing outputs to, any place Airflow's object storage reaches.

Tasks never hand files to each other through a worker's local disk: every
input and output is a local path, a ``file://``/``s3://``/``gs://``... URL, or
an :class:`~airflow.sdk.ObjectStoragePath`. Outputs are written under a
temporary name beside the destination and moved into place only when
complete, so a reader never sees half a file and a failed task leaves nothing.
"""

from __future__ import annotations

import contextlib
import glob
import os
import time
import uuid
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

#: Hidden name of a file being written, beside its destination (a random suffix follows).
_PARTIAL_PREFIX = ".{name}.partial-"


def as_path(location: Any) -> ObjectStoragePath:
    """An :class:`ObjectStoragePath` for a path, URL or ObjectStoragePath (local paths made absolute).

    :param location: a local path, a URL such as ``s3://bucket/key``, or an ``ObjectStoragePath``.
    """
    from airflow.providers.common.compat.sdk import ObjectStoragePath

    if isinstance(location, ObjectStoragePath):
        return location
    text = os.fspath(location)
    if "://" not in text:
        text = "file://" + os.path.abspath(os.path.expanduser(text))
    return ObjectStoragePath(text)


def _io_path(location: Any) -> Any:
    """The object to do I/O through: a :class:`pathlib.Path` for local files, else an ObjectStoragePath.

    Local files skip fsspec: opening the first ObjectStoragePath of a task
    registers every installed provider's filesystems (importing boto3 and
    the like), a fixed cost of a tenth of a second that a local read or
    write does not need. Both kinds offer the same path methods.
    """
    from pathlib import Path
    from urllib.parse import unquote, urlsplit

    if getattr(location, "protocol", None) in ("file", "local"):
        return Path(location.path)
    if isinstance(location, str | os.PathLike):
        text = os.fspath(location)
        if "://" not in text:
            return Path(os.path.abspath(os.path.expanduser(text)))
        if text.startswith("file://"):
            return Path(unquote(urlsplit(text).path))
    return as_path(location)


def beside(location: Any, suffix: str) -> Any:
    """The file named like ``location`` plus ``suffix``, beside it (``x.vcf.gz`` -> ``x.vcf.gz.md5``).

    :param location: a local path, a URL or an ``ObjectStoragePath``.
    :param suffix: what to append to the file's name.
    :return: a :class:`pathlib.Path` for a local file, else an ``ObjectStoragePath``.
    """
    path = _io_path(location)
    return path.with_name(path.name + suffix)


def display_name(location: Any) -> str:
    """A path for log lines: the file's base name only (folder names may carry PHI).

    :param location: a local path, a URL or an ``ObjectStoragePath``.
    """
    return as_path(location).name


@contextlib.contextmanager
def open_source(location: Any) -> Iterator[IO[bytes]]:
    """Open an input for streaming binary reads.

    :param location: a local path, a URL or an ``ObjectStoragePath``.
    :raises FabricInputError: the file does not exist.
    """
    path = _io_path(location)
    if not path.exists():
        from airflow_provider_fabric.exceptions import FabricInputError

        # The file name stays out of the message: sample names in file names are PHI too.
        raise FabricInputError("the input file does not exist at the location given to this task")
    with path.open("rb") as handle:
        yield handle


@contextlib.contextmanager
def atomic_writer(destination: Any) -> Iterator[IO[bytes]]:
    """Write ``destination`` all or nothing.

    Yields a binary file under a hidden temporary name in the same folder;
    on success it is moved onto ``destination`` (an atomic rename on local
    disks), on any error it is deleted and the error re-raised.

    :param destination: a local path, a URL or an ``ObjectStoragePath``; its folder is created.
    """
    final = _io_path(destination)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.parent / f"{_PARTIAL_PREFIX.format(name=final.name)}{uuid.uuid4().hex[:12]}"
    started = time.time()
    try:
        with partial.open("wb") as handle:
            yield handle
        partial.replace(final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError, OSError):
            partial.unlink()
        raise
    _remove_stale_partials(final, started)


def _remove_stale_partials(final: Any, started: float) -> None:
    """Delete temporary files of ``final`` left by earlier tries that were killed mid-write.

    A killed process cannot clean up after itself; the next successful write
    of the same destination does. Only files last written before this write
    began are removed, so a concurrent writer's live file is left alone.
    """
    pattern = glob.escape(_PARTIAL_PREFIX.format(name=final.name)) + "*"
    for stale in final.parent.glob(pattern):
        with contextlib.suppress(FileNotFoundError, OSError, AttributeError, TypeError, ValueError):
            if float(stale.stat().st_mtime) < started:
                stale.unlink()
