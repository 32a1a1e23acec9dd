"""The results directory's life as a driver meets it, before Ray starts: may this run use it,
which driver holds it, and is what it holds damaged?

**May a run use it.**  A results directory is a directory of its own (never a symlink, the
working directory or an ancestor of it, or the home directory), writable, with room, and empty
or holding this sweep; ``--overwrite`` deletes only a directory holding this sweep's name and
nothing a sweep does not write.  A directory that exists is checked against the results
contract before ``resume`` or ``status`` read it (``contract.resultsdir``).  Each check returns
why it refuses, one line naming the path, or None.

**One driver per results directory.**  Two drivers on one results directory (a ``resume``
typed while the first run still goes, or a ``run --overwrite`` that would delete its files)
would interleave two Tune experiments and two writers of the same Parquet files.  ``launch.py
run``, ``resume`` and ``extend`` therefore hold an exclusive lock for the whole sweep
(``driver_lock``): ``<parent>/.<name>.lock`` beside the results directory (so that
``--overwrite`` can replace the directory while holding it), and a ``.<name>.driver.json``
saying who holds it, for the error message and ``launch.py status``.  The lock is an OS file
lock (``filelock``: ``flock`` on Unix), so a driver that dies, even by SIGKILL, releases it
with its last file descriptor; a stale ``.driver.json`` is then ignored.  On storage without
working ``flock`` (some NFS mounts) the lock cannot be taken and the error says so, naming the
lock file and the OS error.

No Ray, no torch: refusals come at once.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from filelock import FileLock, Timeout

from contract import schema
from contract.resultsdir import ResultsDirError, check, check_entries, check_path, read_sweep_doc

from .invocation import launch_command
from .specerror import show
from .specyaml import safe_load

MIN_FREE_BYTES = 64 << 20  # a sweep's Parquet, checkpoints and TensorBoard need at least this


def unsafe_results_dir(results_dir: Path) -> str | None:
    """A results directory is a directory of its own: never a symlink (deleting or writing
    through it reaches elsewhere), the working directory, or one of its ancestors."""
    try:
        check_path(results_dir)  # Parquet, the report and the console need a text path
    except ResultsDirError as err:
        return str(err)
    if results_dir.is_symlink():
        return f"{results_dir}: is a symbolic link; give the real directory with --results"
    if results_dir.parts and results_dir.parts[0].startswith("~"):
        # A quoted ~ reaches us unexpanded: Python would create "./~", pyarrow reads $HOME.
        return f"{results_dir}: starts with ~, which the shell did not expand; write the path out"
    here = Path.cwd().resolve()
    target = results_dir.resolve()
    if target == here or target in here.parents:
        return (f"{results_dir}: is the working directory or one above it; results need a "
                "directory of their own (--results DIR)")
    if target == Path(os.path.expanduser("~")).resolve():
        return f"{results_dir}: is the home directory; results need a directory of their own"
    return None


def check_results_dir(spec, results_dir: Path, overwrite: bool, locked: bool = True) -> str | None:
    """Refuse to mix two sweeps in one directory, and to overwrite without being told.
    --overwrite deletes only a results directory of this product holding this sweep's name.
    Unless ``locked``, only what --overwrite may not delete and what is not a sweep's results
    are refused (before the lock: they leave not even a lock file); "holds this sweep" or "a
    different one" wait for the lock, since a live driver is the better answer then."""
    existing = results_dir / schema.SPEC_FILE
    if results_dir.exists() and not results_dir.is_dir():
        return f"{results_dir}: is not a directory; choose --results elsewhere"
    if not results_dir.exists() or not any(results_dir.iterdir()):
        return None
    if not existing.is_file() or existing.is_symlink():
        return (f"{results_dir}: exists and is not a sweep results directory (no "
                f"{schema.SPEC_FILE}); choose --results elsewhere (--overwrite deletes only a "
                "sweep's own results)")
    try:
        doc = read_sweep_doc(results_dir, safe_load)
    except Exception:  # noqa: BLE001 - any damage reads the same: not ours to delete
        doc = None
    if not isinstance(doc, dict):
        return (f"{existing}: damaged sweep file; choose --results elsewhere, or remove "
                f"{results_dir} yourself if it is a sweep you no longer need")
    doc.pop("provenance", None)
    doc.pop("stages", None)  # the stages run so far (sweeps.life)
    if overwrite:
        if doc.get("name") != spec.name:
            return (f"{results_dir}: holds sweep {show(doc.get('name'))}, not {spec.name}; "
                    "--overwrite replaces only the same sweep: choose --results elsewhere")
        # What a sweep writes there (and atomic writes' hidden temp files); anything else is
        # the user's, and not ours to delete.
        foreign = sorted(p.name for p in results_dir.iterdir() if p.name not in schema.SWEEP_ENTRIES
                         and not (p.name.startswith(".") and p.name.endswith(".tmp")))
        if foreign:
            return (f"{results_dir}: holds {show(foreign[0])}, which a sweep does not write; "
                    "--overwrite deletes only a sweep's own results: move it, or choose "
                    "--results elsewhere")
        # Only regular files and directories, no deeper than a sweep writes: a link or a
        # strange tree inside is refused, never followed or walked by the delete.
        try:  # every entry: the sweep's, and the hidden temp files of its atomic writes
            check_entries(results_dir, tuple(p.name for p in results_dir.iterdir()))
        except ResultsDirError as err:
            return str(err)
        return None
    if not locked:
        return None
    return _held(doc, spec, results_dir)


def _held(doc: dict, spec, results_dir: Path) -> str | None:
    """Why ``run`` may not start in a directory whose sweep.yaml (``doc``, without provenance
    and stages) is there: it holds this sweep (extended, or to resume) or another one; None
    where it was written and refused before Tune began (run it again)."""
    started = (results_dir / schema.TUNE_DIR).is_dir() or (results_dir / schema.TRIALS_FILE).exists()
    added = doc.pop("extensions", None)
    if added and extended_from(doc, spec.raw):
        what = "; ".join(str(e.get("added")) for e in added if isinstance(e, dict))
        return (f"{results_dir}: already holds this sweep, extended since ({what}); see it with: "
                f"{launch_command()} status {results_dir}, or pass --results NEW_DIR to run the "
                "file again")
    if added:
        doc["extensions"] = added
    if doc != spec.raw:
        hint = ("pass --overwrite, --results NEW_DIR, or a new name" if doc.get("name") == spec.name
                else "pass --results NEW_DIR or give the sweep a new name")
        return (f"{results_dir}: already holds a different sweep "
                f"({results_dir / schema.SPEC_FILE}); {hint}")
    if not started:  # written, then refused before Tune began (no tune/): run it again
        return None
    return (f"{results_dir}: already holds this sweep; continue it with: {launch_command()} resume "
            f"{results_dir} (or pass --overwrite to start again)")


def _levels_appended(old: Any, new: Any) -> bool:
    """axes: the same axes, each list axis's old levels first (a distribution unchanged)."""
    if not (isinstance(old, dict) and isinstance(new, dict)) or set(old) != set(new):
        return old == new
    return all(new[k][:len(v)] == v if isinstance(v, list) and isinstance(new[k], list)
               else new[k] == v for k, v in old.items())


def _seeds_appended(old: Any, new: Any) -> bool:
    return new[:len(old)] == old if isinstance(old, list) and isinstance(new, list) \
        else old == new


def _fraction_only(old: Any, new: Any) -> bool:
    if not (isinstance(old, dict) and isinstance(new, dict)):
        return old == new
    return ({k: v for k, v in old.items() if k != "fraction"}
            == {k: v for k, v in new.items() if k != "fraction"})


#: what launch.py extend may change in a sweep document, section by section (sweeps.extend)
EXTENDED = {"axes": _levels_appended, "seeds": _seeds_appended, "design": _fraction_only}


def extended_from(pooled: dict, raw: dict) -> bool:
    """Whether ``pooled`` (an extended sweep as sweep.yaml holds it) grew from ``raw`` (a sweep
    file as resolved) by what ``launch.py extend`` may change (``EXTENDED``: axis levels and
    seeds appended, a design's fraction); everything else the same."""
    if set(pooled) != set(raw):
        return False
    same = lambda old, new: old == new  # noqa: E731
    return all(EXTENDED.get(key, same)(raw[key], pooled[key]) for key in raw)


def unwritable(results_dir: Path) -> str | None:
    """Why a results directory cannot be written, or its disk is nearly full (before Ray
    starts; root ignores permission bits, so this probes with a real write), or None."""
    probe = results_dir
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        return (f"{results_dir}: cannot create results directory ({probe} is not a directory)")
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as err:
        return f"{probe}: results directory is not writable ({err.strerror})"
    free = shutil.disk_usage(probe).free
    if free < MIN_FREE_BYTES:
        return (f"{probe}: only {free >> 20} MiB free; a sweep needs at least "
                f"{MIN_FREE_BYTES >> 20} MiB for results and checkpoints")
    return None


def damaged(results_dir: Path, epochs: bool = False) -> str | None:
    """Why ``results_dir`` breaks the results contract (contract/resultsdir.py), or None.  Run
    first: it imports no Ray, so a damaged directory is answered at once."""
    if not results_dir.is_dir():
        return None  # not a results directory at all: read_spec says so, and what to run
    try:
        check(results_dir, epochs=epochs)
    except ResultsDirError as err:
        return str(err)
    return None


# ------------------------------------------------------------------ one driver at a time
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
                         f"stop it and continue with: {launch_command()} resume {results_dir}"
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
