"""The one reader of a results directory: everything checked before anything is used.

A results directory is input like a sweep file: users copy, merge, sync and edit them.  Every
command that reads one (``launch.py status``, ``resume``, ``report``, ``run --overwrite``,
``python -m analysis``) goes through ``check`` first, which refuses with one line naming the
file and what to do (``ResultsDirError``) when the directory breaks the contract of
``contract.schema``:

* the path itself is not valid UTF-8 (pyarrow and the report need text paths);
* an entry the sweep writes (``schema.SWEEP_ENTRIES`` and everything below them) is not a
  regular file or directory (a symlink, which could lead out of the directory; a FIFO, which
  would hang a reader; a device or socket), or lies deeper than a sweep ever writes.  Entries
  are looked at with ``lstat`` only: nothing is followed or opened to find out what it is;
* trials.parquet is not a regular Parquet file of a known schema version, a column has
  another type than the contract's, a trial id is missing, repeated or not a safe path
  component, a status is unknown, a count is negative;
* sweep.yaml names another sweep than trials.parquet's rows and metadata.

Files a sweep does not write (a user's notes beside the results) are never read, so they are
not checked; ``run --overwrite`` refuses them itself.  What is odd but valid (columns outside
the contract, null or NaN metrics, no rows) is accepted and listed in ``ResultsDir.notes`` so
a report can say what it skipped.  Epochs files are checked one by one (``read_epochs_file``):
``resume`` refuses the first bad one (``check(..., epochs=True)``), the report skips each and
says so.

Code that needs one file, not the whole directory, reads it here too, so no other module opens
trials.parquet or sweep.yaml: ``trial_rows`` / ``trial_ids`` (trials.parquet, checked like
``check`` checks it; ``read_trials_file`` for a file given by path, such as a pilot's) and
``read_sweep_doc`` (sweep.yaml parsed whole, damage left for its caller to name).

Imports pyarrow, yaml and the rest of the contract only, so ``analysis`` can use it without
torch or Ray.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from . import schema
from .fields import CONFIG_FIELDS

#: The deepest path a sweep writes below its results directory is 4 levels
#: (tune/<trial>/checkpoint_000003/state.pt); Ray may nest a little more in later versions.
#: Anything deeper is not a sweep's, and a walk of it is refused rather than followed.
MAX_DEPTH = 8
#: sweep.yaml is read here only for its name; one larger than this is not a sweep's
MAX_SPEC_BYTES = 1 << 20
#: trials.parquet rows read at most: a sweep file allows 10,000 trials (sweeps.specsections.MAX_TRIALS)
#: and each extension as many again, so 100,000 is more than any sweep writes; a larger file is
#: refused from its footer, before a row is read or any analysis starts (issue 45: a 1,000,000-
#: row file kept report busy past 120 s)
MAX_TRIAL_ROWS = 100_000

STRING_TYPES = (pa.string(), pa.large_string())
# What each config field's column may hold, by the field's type (contract.fields: a float
# field given as 1 in YAML may have been written as int64 by older writers).
# A tuple field (label_counts) is written as its text (TrainingConfig.flat_dict).
CONFIG_TYPES = {"str": STRING_TYPES, "float": (pa.float64(), pa.int64()), "int": (pa.int64(),),
                "bool": (pa.bool_(),), "tuple": STRING_TYPES}
ANY_CONFIG_TYPES = STRING_TYPES + (pa.float64(), pa.int64(), pa.bool_())
# Core columns that may be null in every row (a trial that never failed, diverged, ran).
NULLABLE_CORE = ("node", "device", "error", "diverged_epoch", "diverged_step")


class ResultsDirError(ValueError):
    """A results directory (or one file in it) that breaks the contract; the message is one
    line naming the file and what to do."""


@dataclass
class ResultsDir:
    """A checked results directory: trials.parquet's table (None when there is none yet), the
    sweep's name where known, and what a reader skips (``notes``: one line each)."""
    root: Path
    trials: pa.Table | None
    name: str | None
    notes: list[str] = field(default_factory=list)

    def rows(self) -> list[dict]:
        return [] if self.trials is None else self.trials.to_pylist()


def shown(path: str | os.PathLike) -> str:
    """``path`` as printable text: bytes that are not UTF-8 as \\xNN escapes."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _damaged(path: Path, reason: str, root: Path) -> ResultsDirError:
    return ResultsDirError(
        f"{shown(path)}: damaged results file ({reason}); restore it from a copy, or start the "
        f"sweep again with: python launch.py run SWEEP.yaml --results {shown(root)} --overwrite")


# ------------------------------------------------------------------------------ the path
def check_path(root: str | os.PathLike) -> None:
    """Refuse a results path that is not valid UTF-8 (Parquet, HTML and the console need
    text), naming it with its odd bytes escaped."""
    full = os.fsencode(os.path.abspath(root))
    try:
        full.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ResultsDirError(
            f"{shown(full)}: the path is not valid UTF-8 (byte {full[err.start]:#04x}); "
            "rename the directory, or copy the results to a UTF-8 path") from None


# ------------------------------------------------------------------------------ entries
def _kind(mode: int) -> str | None:
    """What a non-regular, non-directory entry is, or None for a regular file or directory."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISBLK(mode) or stat.S_ISCHR(mode):
        return "a device"
    return "not a regular file"


def _refuse_entry(path: Path, what: str) -> ResultsDirError:
    return ResultsDirError(f"{shown(path)}: is {what}; a results directory holds only regular "
                           "files and directories a sweep writes: replace it with the real "
                           "file, or remove it")


def check_entries(root: str | os.PathLike, names: tuple[str, ...] = schema.SWEEP_ENTRIES) -> int:
    """Walk ``names`` under ``root`` (what a sweep writes) with lstat only, never following a
    link or opening a file: refuse anything that is not a regular file or directory, and any
    path deeper than ``MAX_DEPTH``.  Returns the number of entries seen."""
    root = Path(root)
    seen = 0
    stack: list[tuple[Path, int]] = []
    for name in names:
        path = root / name
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            continue
        except OSError as err:
            raise ResultsDirError(f"{shown(path)}: cannot be read ({err.strerror}); "
                                  "check its permissions") from None
        what = _kind(mode)
        if what:
            raise _refuse_entry(path, what)
        seen += 1
        if stat.S_ISDIR(mode):
            stack.append((path, 1))
    while stack:
        folder, depth = stack.pop()
        found = []
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    try:
                        found.append((Path(entry.path), entry.stat(follow_symlinks=False).st_mode))
                    except FileNotFoundError:  # a live sweep deleted it (an old checkpoint)
                        continue
        except FileNotFoundError:
            continue
        except OSError as err:
            raise ResultsDirError(f"{shown(folder)}: cannot be read ({err.strerror}); "
                                  "check its permissions") from None
        for path, mode in found:
            seen += 1
            what = _kind(mode)
            if what:
                raise _refuse_entry(path, what)
            if stat.S_ISDIR(mode):
                if depth + 1 >= MAX_DEPTH:
                    raise ResultsDirError(
                        f"{shown(path)}: lies deeper than a sweep writes ({MAX_DEPTH} levels "
                        "below the results directory); remove it, or move it out")
                stack.append((path, depth + 1))
    return seen


def open_regular(path: Path):
    """A regular file opened for reading, never a FIFO or a link (O_NOFOLLOW, O_NONBLOCK: a
    FIFO swapped in after the walk opens without waiting for a writer, then is refused)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise IsADirectoryError(0, "not a regular file")
    return os.fdopen(fd, "rb")


# ------------------------------------------------------------------------------ Parquet
def _type_ok(actual: pa.DataType, allowed: tuple[pa.DataType, ...]) -> bool:
    return pa.types.is_null(actual) or any(actual.equals(t) for t in allowed)


def _type_names(allowed: tuple[pa.DataType, ...]) -> str:
    return " or ".join(dict.fromkeys(str(t) for t in allowed))


def check_columns(arrow_schema: pa.Schema, core: pa.Schema, path: Path, root: Path) -> list[str]:
    """Refuse a schema whose columns disagree with the contract (core, ``config.*``,
    ``metric.*``); returns the names of columns outside it (a reader ignores them).

    The last schema that passed is remembered: 10,000 epochs files share a few schemas, and
    comparing one in C is ~50x cheaper than checking its columns in Python again."""
    last = _LAST_PASSED
    if last is not None and last[1] is core and arrow_schema.equals(last[0]):
        return list(last[2])
    extra = _check_columns(arrow_schema, core, path, root)
    globals()["_LAST_PASSED"] = (arrow_schema, core, tuple(extra))  # one tuple: thread-safe
    return extra


_LAST_PASSED: tuple | None = None


def _check_columns(arrow_schema: pa.Schema, core: pa.Schema, path: Path, root: Path) -> list[str]:
    names = arrow_schema.names
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})[0]
        raise _damaged(path, f"column {twice!r} appears twice", root)
    extra = []
    for column in core:
        if column.name not in names:
            raise _damaged(path, f"no column {column.name!r}", root)
    for column in arrow_schema:
        name, actual = column.name, column.type
        if core.get_field_index(name) >= 0:
            expected = core.field(name).type
            allowed = STRING_TYPES if expected in STRING_TYPES else (expected,)
        elif core is schema.TRIAL_CORE and schema.TRIAL_OPTIONAL.get_field_index(name) >= 0:
            allowed = (schema.TRIAL_OPTIONAL.field(name).type,)
        elif name.startswith(schema.CONFIG_PREFIX):
            ftype = CONFIG_FIELDS.get(name[len(schema.CONFIG_PREFIX):])
            allowed = CONFIG_TYPES.get(ftype, ANY_CONFIG_TYPES)
        elif name.startswith(schema.METRIC_PREFIX):
            allowed = (pa.float64(),)
        else:
            extra.append(name)
            continue
        if not _type_ok(actual, allowed):
            raise _damaged(path, f"column {name!r} holds {actual}, the contract says "
                                 f"{_type_names(allowed)}", root)
    return extra


def _null_count(table: pa.Table, name: str) -> int:
    return table.column(name).null_count


def _check_ids(table: pa.Table, path: Path, root: Path, unique: bool) -> None:
    ids = table.column("trial_id")
    if ids.null_count:
        raise _damaged(path, "a row without a trial_id", root)
    if not len(ids):
        return
    safe = pc.match_substring_regex(ids, f"^{schema.TRIAL_ID.pattern}$")
    if not pc.all(safe).as_py():
        bad = ids.filter(pc.invert(safe))[0].as_py()
        raise _damaged(path, f"trial_id {bad[:80]!r} is not a trial id (letters, digits, _ and -: "
                             "ids name files, never paths)", root)
    if unique and pc.count_distinct(ids).as_py() != len(ids):
        counts = pc.value_counts(ids)
        twice = counts.filter(pc.greater(counts.field("counts"), 1))[0]["values"].as_py()
        raise _damaged(path, f"trial_id {twice!r} appears in more than one row", root)


def _check_not_negative(table: pa.Table, names: tuple[str, ...], path: Path, root: Path) -> None:
    """Counts and durations are finite and >= 0 where given (no writer stores anything else)."""
    for name in names:
        column = table.column(name)
        if not len(column) or column.null_count == len(column):
            continue
        if pa.types.is_floating(column.type) and pc.any(pc.invert(pc.is_finite(column))).as_py():
            raise _damaged(path, f"column {name!r} holds a NaN or infinite value", root)
        low = pc.min(column).as_py()
        if low is not None and low < 0:
            raise _damaged(path, f"column {name!r} holds {low}, which no sweep writes", root)


def _sweep_names(table: pa.Table) -> list[str]:
    return sorted(v for v in pc.unique(table.column("sweep")).to_pylist() if v is not None)


def _read_table(path: Path, root: Path, max_rows: int | None = None) -> pa.Table:
    """``path`` read whole (version first), on this thread only.  Through a Python file
    handle (``open_regular``: no FIFO, no link) a threaded read can leave one of Arrow's pool
    threads running when a short command exits, and the process then aborts after its
    answer ("terminate called without an active exception", exit -6; apache/arrow#34314,
    #50482): seen here once, in tests/test_results_input.py on a damaged directory under load.
    The threads halved the read of a million-trial trials.parquet only."""
    try:
        with open_regular(path) as handle:
            parquet = pq.ParquetFile(handle, pre_buffer=False)
            schema.check_version(parquet.schema_arrow, path)
            rows = parquet.metadata.num_rows
            if max_rows is not None and rows > max_rows:
                raise ResultsDirError(
                    f"{shown(path)}: {rows:,} rows, more than any sweep writes (at most "
                    f"{max_rows:,} are read: 10,000 trials per sweep file, as many per "
                    "extension); this is not one sweep's trials.parquet: split it by sweep")
            return parquet.read(use_threads=False)
    except IsADirectoryError:
        raise _damaged(path, "not a regular file", root) from None
    except ResultsDirError:
        raise
    except schema.SchemaError as err:
        reason = str(err).split(": ", 1)[-1]
        raise _damaged(path, reason, root) from None
    except (OSError, ValueError, pa.ArrowException) as err:
        reason = (str(err).splitlines() or [type(err).__name__])[0].split(". ")[0][:160]
        raise _damaged(path, reason or type(err).__name__, root) from None


def read_trials_file(path: Path, root: Path) -> tuple[pa.Table, list[str]]:
    """trials.parquet, checked: version, column types, ids, statuses, counts.  Returns the
    table and the columns outside the contract."""
    table = _read_table(path, root, MAX_TRIAL_ROWS)
    extra = check_columns(table.schema, schema.TRIAL_CORE, path, root)
    _check_ids(table, path, root, unique=True)
    status = table.column("status")
    known = pc.is_in(status, value_set=pa.array(schema.STATUSES, pa.string()))
    if len(status) and (status.null_count or not pc.all(pc.fill_null(known, False)).as_py()):
        bad = pc.unique(status.filter(pc.invert(pc.fill_null(known, False)))).to_pylist()[:1]
        raise _damaged(path, f"status {bad[0] if bad else None!r} is not one of "
                             f"{', '.join(schema.STATUSES)}", root)
    _check_not_negative(table, ("epochs_done", "retries", "wall_seconds", "diverged_epoch",
                                "diverged_step") + tuple(
                                    f.name for f in schema.TRIAL_OPTIONAL if f.name in
                                    table.column_names and not pa.types.is_timestamp(f.type)),
                        path, root)
    if len(_sweep_names(table)) > 1:
        names = _sweep_names(table)
        raise _damaged(path, f"rows of {len(names)} sweeps ({names[0]!r}, {names[1]!r}, ...); "
                             "one results directory holds one sweep", root)
    # What the columns mean (schema.read_contract): each key JSON of the shape readers expect.
    meta = table.schema.metadata or {}
    shapes = {"spec": dict, "factors": dict, "references": dict, "seeds": list}
    for key, kind in shapes.items():
        text = meta.get(f"hinr_{key}".encode())
        if text is None:
            continue
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if not isinstance(value, kind):
            raise _damaged(path, f"its hinr_{key} metadata is not a JSON "
                                 f"{'object' if kind is dict else 'list'}", root)
    return table, extra


def read_epochs_file(path: Path, root: Path, sweep: str | None = None) -> pa.Table:
    """One epochs/<trial>.parquet, checked like trials.parquet: version, column types, its rows
    all of trial ``path``'s stem, each epoch once, of sweep ``sweep`` (when known)."""
    return check_epochs_table(_read_table(path, root), path, root, sweep)


def check_epochs_table(table: pa.Table, path: Path, root: Path, sweep: str | None = None,
                       ) -> pa.Table:
    """``read_epochs_file``'s checks of a table already read (and version-checked)."""
    check_columns(table.schema, schema.EPOCH_CORE, path, root)
    # Every row the file's own trial (a safe id): cheaper than a regex per row, and it is
    # per file, 10,000 times for a large sweep.
    ids = pc.unique(table.column("trial_id")).to_pylist()
    if not schema.is_trial_id(path.stem):
        raise _damaged(path, f"{path.stem[:80]!r} is not a trial id", root)
    if ids and ids != [path.stem]:
        raise _damaged(path, f"rows of trial {str(ids[0])[:80]!r} in the file of {path.stem!r}",
                       root)
    epochs = table.column("epoch")
    if epochs.null_count or (len(epochs) and pc.count_distinct(epochs).as_py() != len(epochs)):
        raise _damaged(path, "an epoch missing or listed twice", root)
    _check_not_negative(table, ("epoch", "wall_seconds"), path, root)
    names = _sweep_names(table)
    if sweep is not None and names and names != [sweep]:
        raise _damaged(path, f"rows of sweep {names[0]!r}, not {sweep!r}", root)
    return table


def epochs_files(root: Path) -> list[Path]:
    """The epochs files a reader reads: ``epochs/*.parquet``, hidden temp files left out."""
    folder = root / schema.EPOCHS_DIR
    if not folder.is_dir() or folder.is_symlink():
        return []
    with os.scandir(folder) as entries:
        return sorted(Path(e.path) for e in entries
                      if e.name.endswith(".parquet") and not e.name.startswith(".")
                      and e.is_file(follow_symlinks=False))


def trial_rows(root: str | os.PathLike) -> list[dict]:
    """trials.parquet's rows, read and checked by ``read_trials_file`` ([] before the first
    trial was written).  Raises ``ResultsDirError``."""
    root = Path(root)
    path = root / schema.TRIALS_FILE
    return read_trials_file(path, root)[0].to_pylist() if os.path.lexists(path) else []


def trial_ids(root: str | os.PathLike) -> frozenset[str]:
    """The trial ids of trials.parquet, read like ``trial_rows``."""
    return frozenset(row["trial_id"] for row in trial_rows(root))


# ------------------------------------------------------------------------------ sweep.yaml
def spec_name(root: Path) -> str | None:
    """The name sweep.yaml gives, or None when it has none to give (missing, damaged, too
    large: saying so is the business of the command that needs the whole file)."""
    path = root / schema.SPEC_FILE
    try:
        with open_regular(path) as handle:
            text = handle.read(MAX_SPEC_BYTES + 1)
    except OSError:
        return None
    if len(text) > MAX_SPEC_BYTES:
        return None
    try:
        doc = yaml.safe_load(text.decode("utf-8"))
    except Exception:  # noqa: BLE001 - any damage: no name to compare
        return None
    name = doc.get("name") if isinstance(doc, dict) else None
    return name if isinstance(name, str) else None


def read_sweep_doc(root: str | os.PathLike, load: Callable[[str], Any] | None = None) -> Any:
    """sweep.yaml parsed whole by ``load`` (default ``yaml.safe_load``; sweeps passes its
    sweep-file loader, which also reads YAML 1.2 floats and refuses keys given twice), whatever
    it holds.  Raises what reading and parsing raise (OSError, UnicodeDecodeError,
    yaml.YAMLError, ...): what a damaged sweep.yaml means is for each command to say."""
    text = (Path(root) / schema.SPEC_FILE).read_text()
    if load is None:
        load = yaml.safe_load
    return load(text)


# ------------------------------------------------------------------------------ all of it
def check(root: str | os.PathLike, epochs: bool = False) -> ResultsDir:
    """Check results directory ``root`` (see the module doc) and read its trials.parquet.
    ``epochs``: also check every epochs file (resume, which hands them to Ray); otherwise each
    is checked as it is read (``read_epochs_file``).  Raises ``ResultsDirError``."""
    root = Path(root)
    check_path(root)
    try:
        mode = os.stat(root).st_mode  # the directory named may itself be a link: the user's
    except OSError as err:
        raise ResultsDirError(f"{shown(root)}: cannot be read ({err.strerror})") from None
    if not stat.S_ISDIR(mode):
        raise ResultsDirError(f"{shown(root)}: not a directory; give a results directory")
    check_entries(root)
    notes: list[str] = []
    trials_path = root / schema.TRIALS_FILE
    table = None
    if os.path.lexists(trials_path):
        table, extra = read_trials_file(trials_path, root)
        if extra:
            notes.append(f"{shown(trials_path)}: column(s) outside the contract ignored: "
                         + ", ".join(extra[:5]) + (f" and {len(extra) - 5} more" if len(extra) > 5
                                                    else ""))
    names = _sweep_names(table) if table is not None else []
    contract = schema.read_contract(table) if table is not None else None
    stored = contract["spec"].get("name") if contract else None  # spec: an object, checked
    if names and isinstance(stored, str) and stored != names[0]:
        raise _damaged(trials_path, f"its metadata names sweep {stored!r}, its rows {names[0]!r}",
                       root)
    name = names[0] if names else stored if isinstance(stored, str) else None
    in_yaml = spec_name(root)
    if in_yaml is not None and name is not None and in_yaml != name:
        raise ResultsDirError(
            f"{shown(root / schema.SPEC_FILE)}: names sweep {in_yaml!r}, but "
            f"{schema.TRIALS_FILE} holds sweep {name!r}: the two come from different sweeps; "
            f"put back the sweep.yaml of {name!r} (or the trials of {in_yaml!r})")
    name = name or in_yaml
    if epochs:
        for path in epochs_files(root):
            read_epochs_file(path, root, name)
    return ResultsDir(root, table, name, notes)
