"""One driver per results directory.

Two drivers on one results directory (a ``resume`` typed while the first run still goes, or a
``run --overwrite`` that would delete its files) would interleave two Tune experiments and two
writers of the same Parquet files.  ``launch.py run`` and ``resume`` therefore hold an
exclusive lock for the whole sweep: ``<parent>/.<name>.lock`` beside the results directory (so
that ``--overwrite`` can replace the directory while holding it), and a ``.<name>.driver.json``
saying who holds it, for the error message and ``launch.py status``.

The lock is an OS file lock (``filelock``: ``flock`` on Unix), so a driver that dies, even
by SIGKILL, releases it with its last file descriptor; a stale ``.driver.json`` is then
ignored.  On storage without working ``flock`` (some NFS mounts) the lock cannot be taken and
the error says so, naming the lock file and the OS error.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from filelock import FileLock, Timeout


class SweepInUse(RuntimeError):
    """Another live driver holds the results directory (the message says which and what to do),
    or its place has no working file locks."""


def _paths(results_dir: Path) -> tuple[Path, Path]:
    results_dir = Path(results_dir).absolute()
    return (results_dir.parent / f".{results_dir.name}.lock",
            results_dir.parent / f".{results_dir.name}.driver.json")


def _holder(info_path: Path) -> dict[str, Any]:
    try:
        return json.loads(info_path.read_text())
    except (OSError, ValueError):
        return {}


def describe_holder(info: dict[str, Any]) -> str:
    if not info:
        return "another driver"
    since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(info.get("started", 0)))
    return (f"pid {info.get('pid')} on {info.get('host')}, since {since}: "
            f"{' '.join(info.get('command', []))}")


@contextmanager
def driver_lock(results_dir: Path, command: list[str] | None = None) -> Iterator[None]:
    """Hold ``results_dir`` for this process, or raise ``SweepInUse`` at once."""
    lock_path, info_path = _paths(results_dir)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(lock_path, timeout=0)
    try:
        lock.acquire()
    except Timeout:  # before OSError: filelock's Timeout is a TimeoutError
        raise SweepInUse(f"{results_dir}: a sweep driver is running on it "
                         f"({describe_holder(_holder(info_path))}); wait for it to end, or "
                         f"stop it and continue with: python launch.py resume {results_dir}"
                         ) from None
    except OSError as err:
        raise SweepInUse(f"{results_dir}: cannot take the driver lock {lock_path} ({err}); "
                         "the results need a place where files can be created and locked"
                         ) from None
    try:
        info = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.time(),
                "command": command or sys.argv}
        info_path.write_text(json.dumps(info))
        yield
    finally:
        info_path.unlink(missing_ok=True)
        lock.release()


def running_driver(results_dir: Path) -> dict[str, Any] | None:
    """Who holds ``results_dir`` now ({} if unknown), or None if no live driver does."""
    lock_path, info_path = _paths(results_dir)
    if not lock_path.exists():
        return None
    lock = FileLock(lock_path, timeout=0)
    try:
        lock.acquire()
    except Timeout:  # before OSError: filelock's Timeout is a TimeoutError
        return _holder(info_path)
    except OSError:  # an unreadable or read-only place: nobody could be holding it from here
        return None
    lock.release()
    return None
