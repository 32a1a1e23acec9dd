"""Tune's experiment directory (``<results>/tune``), kept whole through a full disk or a crash.

Ray 2.60 saves the experiment state on the driver's local staging directory and then copies it
into the storage path with ``pyarrow.fs.copy_files``, which overwrites each file in place.  A
disk that fills during that copy leaves ``experiment_state-*.json`` cut short and the searcher's
state empty, and ``Tuner.restore`` then logs "Failed to restore the run state", *restarts the
experiment from scratch* (here: one trial of the base config, no grid) and the resumed sweep
drops every earlier trial's rows as unknown to Tune.  tests/test_disk.py saw exactly that.

Two guards, both here:

* ``storage_filesystem()``: the file system every sweep gives Tune (``RunConfig`` and
  ``Tuner.restore``).  It is pyarrow's local file system, except that a file is written through
  ``contract.atomic`` (a temp file beside it, fsync, rename): a copy that fails leaves the
  previous version of each file, never half of one.  That covers Tune's state and the trials'
  checkpoints (uploaded through the same file system).  A failed sync can still leave one
  state file newer than another, each whole, if the disk had room for the small one only:
  the same window as a driver killed between two files of one sync, which Tune has too (a
  searcher state newer than the trial list would not rerun the points in between).
* ``damaged_state()``: what ``resume`` checks before ``Tuner.restore``, so that a directory
  damaged by an older hinr-sweeps (or by anything else) is refused with one clear line
  instead of silently restarted.
"""

from __future__ import annotations

import json
import pickletools
from pathlib import Path

import pyarrow
import pyarrow.fs

from contract.atomic import atomic_file

# Tune's state files (Ray 2.60's CKPT_FILE_TMPL of TuneController, BasicVariantGenerator,
# Searcher, SearchGenerator and CallbackList); Tune restores the newest of each.
EXPERIMENT_STATE = "experiment_state-*.json"
PICKLED_STATES = ("basic-variant-state-*.json", "searcher-state-*.pkl", "search_gen_state-*.json",
                  "callback-states-*.pkl")


class _ReplaceOnClose:
    """A writable file for ``pyarrow.PythonFile``: the content replaces ``path`` at ``close``
    (``contract.atomic.atomic_file``).  A failed write removes the temp file at once: pyarrow drops
    a stream whose copy failed without closing it, and the old file must stay as it was."""

    def __init__(self, path: str):
        self._context = atomic_file(path)
        self._handle = self._context.__enter__()
        self.closed = False

    def _abort(self, err: BaseException | None) -> None:
        if not self.closed:
            self.closed = True
            err = err or RuntimeError("stream dropped without close")
            self._context.__exit__(type(err), err, None)  # removes the temp, keeps the old file

    def write(self, data) -> int:
        try:
            return self._handle.write(data)
        except BaseException as err:
            self._abort(err)
            raise

    def flush(self) -> None:
        try:
            self._handle.flush()
        except BaseException as err:
            self._abort(err)
            raise

    def tell(self) -> int:
        return self._handle.tell()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self._context.__exit__(None, None, None)  # flush, fsync, rename; raises on ENOSPC

    def __del__(self):
        try:
            self._abort(None)
        except BaseException:  # interpreter shutdown: nothing more to do
            pass


class AtomicLocalHandler(pyarrow.fs.FileSystemHandler):
    """pyarrow's ``LocalFileSystem`` with whole-file writes (see the module docstring)."""

    def __init__(self):
        self._local = pyarrow.fs.LocalFileSystem()

    def __eq__(self, other):
        return isinstance(other, AtomicLocalHandler)

    def __reduce__(self):  # pickled into tuner.pkl and sent to the trial workers
        return AtomicLocalHandler, ()

    def get_type_name(self):
        return "hinr-atomic-local"

    def normalize_path(self, path):
        return self._local.normalize_path(path)

    def get_file_info(self, paths):
        return self._local.get_file_info(paths)

    def get_file_info_selector(self, selector):
        return self._local.get_file_info(selector)

    def create_dir(self, path, recursive):
        self._local.create_dir(path, recursive=recursive)

    def delete_dir(self, path):
        self._local.delete_dir(path)

    def delete_dir_contents(self, path, missing_dir_ok=False):
        self._local.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self):
        raise PermissionError("hinr-sweeps never empties the root directory")

    def delete_file(self, path):
        self._local.delete_file(path)

    def move(self, src, dest):
        self._local.move(src, dest)

    def copy_file(self, src, dest):
        with self._local.open_input_stream(src) as source, \
                self.open_output_stream(dest, None) as target:
            while chunk := source.read(1 << 24):
                target.write(chunk)

    def open_input_stream(self, path):
        return self._local.open_input_stream(path)

    def open_input_file(self, path):
        return self._local.open_input_file(path)

    def open_output_stream(self, path, metadata):
        return pyarrow.PythonFile(_ReplaceOnClose(path), mode="w")

    def open_append_stream(self, path, metadata):
        return self._local.open_append_stream(path, metadata=metadata)


def storage_filesystem() -> pyarrow.fs.FileSystem:
    return pyarrow.fs.PyFileSystem(AtomicLocalHandler())


def _complete_pickle(data: bytes) -> bool:
    """Whether ``data`` is one whole pickle, read opcode by opcode without running any of it."""
    last = None
    try:
        for last, _, _ in pickletools.genops(data):
            pass
    except Exception:
        return False
    return last is not None and last.name == "STOP"


def damaged_state(tune_dir: Path) -> str | None:
    """Why Tune could not restore ``tune_dir`` (a file and what is wrong with it), or None.
    Checks the files ``Tuner.restore`` reads: the newest experiment state must be whole JSON
    and the newest of each pickled state a whole pickle (neither cut short, nor empty)."""
    states = sorted(tune_dir.glob(EXPERIMENT_STATE))
    if not states:
        return f"{tune_dir}: no {EXPERIMENT_STATE} (Tune saved no state before the driver stopped)"
    try:
        json.loads(states[-1].read_bytes())
    except (OSError, ValueError) as err:
        return f"{states[-1]}: not whole JSON ({type(err).__name__}: {str(err)[:80]})"
    for pattern in PICKLED_STATES:
        files = sorted(tune_dir.glob(pattern))
        if files and not _complete_pickle(files[-1].read_bytes()):
            size = files[-1].stat().st_size
            return f"{files[-1]}: {'empty' if size == 0 else f'cut short at {size} bytes'}"
    return None


# The commit that made a searched sweep's replicate seed a plain config field (the SeedRepeater
# of sweeps/tune/search.py); Tune state saved before it keeps the replicates in a shape this
# code cannot load.
SEED_FIELD_COMMIT = "9761130"


def state_from_older_version(tune_dir: Path) -> str | None:
    """Why ``tune_dir`` holds Tune state this version cannot resume (the file and why), or None.

    Before SEED_FIELD_COMMIT a random or Optuna sweep's trials carried the replicate seeds as a
    ``seeds`` list plus Ray's ``__trial_index__`` (its Repeater's), and the searcher that
    handed them out was pickled with that shape; restoring it under today's SeedRepeater hangs
    the driver.  Read from the newest experiment state's trial configs (plain JSON), so nothing
    is unpickled and Ray is not started.  Call after ``damaged_state`` found the file whole.
    """
    states = sorted(tune_dir.glob(EXPERIMENT_STATE))
    if not states:
        return None
    for entry in json.loads(states[-1].read_bytes()).get("trial_data", []):
        try:
            config = json.loads(entry[0]).get("config", {})
        except (TypeError, ValueError, IndexError, AttributeError):
            continue  # not a trial record of the shape Tune 2.60 writes: not for this check
        if isinstance(config, dict) and ("__trial_index__" in config
                                         or ("seeds" in config and "seed" not in config)):
            return (f"{states[-1]}: Tune's state was saved by hinr-sweeps before commit "
                    f"{SEED_FIELD_COMMIT} (replicates as seeds + __trial_index__)")
    return None

