"""The one atomic file write of the project: readers see the old file or the new one, never half.

Every file a crash could leave half-written goes through here: the Parquet contract, sweep.yaml
and the trials' PNG grids (through ``contract.schema``), the cached evaluation results
(``sweeps.cache``) and the offline MNIST files (``hinr.data``).  It lives in ``contract``, the lowest layer, which every
other layer may import; it uses the standard library only (``hinr`` imports it without pyarrow).

How: a temp file in the same directory (a rename is atomic only within one file system), named
``.<name>.<random>.tmp`` (hidden, so listings of results skip it, and ``--overwrite`` knows it
as ours), fsync (else a power cut after the rename can leave an empty file under the new name
on some file systems), then ``os.replace``.  On any error the temp file is removed.  The file
gets the mode ``open()`` would give it (0666 less the umask): ``mkstemp`` makes its temp file
0600, which would leave trials.parquet and sweep.yaml unreadable to the other researchers of a
shared results directory.
"""

from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterator


def _umask() -> int:
    # os.umask can only be read by setting it; done once, at import, before any thread starts.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: the mode ``open(path, "w")`` creates files with in this process
NEW_FILE_MODE = 0o666 & ~_umask()


@contextmanager
def atomic_file(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """A binary handle whose content replaces ``path`` only once the block ends without error."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, NEW_FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes_atomic(data: bytes, path: str | os.PathLike) -> None:
    with atomic_file(path) as handle:
        handle.write(data)


def write_text_atomic(text: str, path: str | os.PathLike) -> None:
    write_bytes_atomic(text.encode("utf-8"), path)
