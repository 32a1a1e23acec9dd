"""``launch.py records DIR DEST``: a sweep's records, the part of a results directory that a
result document needs and that is enough to continue the sweep, copied into DEST.

The records are ``RECORDS``: sweep.yaml (the sweep as run, its provenance, extensions and
stages), trials.parquet, epochs/, predictions/ (what the statistics pair and resample) and
images/ (the example grids a report shows).  Not copied: Tune's state (tune/, extensions/,
continued/), the checkpoints inside it, TensorBoard's tb/ and driver.log.  ``launch.py
resume DEST`` continues the sweep from them (``sweeps.life``), and ``report``, ``status`` and
``extend`` read DEST as they read DIR.

DEST is a new or empty directory, or the records of the same sweep from an earlier copy (the
next chunk of a long run updates its committed ``data/`` folder): then DEST's records become
the source's, a record file the source no longer holds (a trial the source ran again under a
new id) is removed, and nothing else in DEST is touched.  Anything else in DEST is refused,
with nothing changed.  Each file is written atomically (temp file + rename).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from contract import schema
from contract.atomic import write_bytes_atomic
from contract.resultsdir import ResultsDirError, check_entries, read_sweep_doc

from .specerror import show
from .specyaml import safe_load

#: what a result document needs and a continuation reads: files, then folders of files
RECORD_FILES = (schema.SPEC_FILE, schema.TRIALS_FILE)
RECORD_DIRS = (schema.EPOCHS_DIR, schema.PREDICTIONS_DIR, schema.IMAGES_DIR)
RECORDS = RECORD_FILES + RECORD_DIRS


class RecordsError(ValueError):
    """DEST cannot take the records (one line, nothing changed)."""


@dataclass
class Copied:
    files: int = 0
    bytes: int = 0


def _name(path: Path) -> str | None:
    try:
        doc = read_sweep_doc(path, safe_load)
    except Exception:  # noqa: BLE001 - any damage reads the same: not the same sweep
        return None
    return doc.get("name") if isinstance(doc, dict) else None


def _check_dest(source: Path, dest: Path) -> None:
    if dest.resolve() == source.resolve():
        raise RecordsError(f"{dest}: is the results directory itself; give another DEST")
    if source.resolve() in dest.resolve().parents:
        raise RecordsError(f"{dest}: lies inside {source}; give a DEST outside it")
    if dest.exists() and not dest.is_dir():
        raise RecordsError(f"{dest}: is not a directory; give a new or empty directory, or "
                           "an earlier copy of this sweep's records")
    if not dest.exists() or not any(dest.iterdir()):
        return
    foreign = sorted(p.name for p in dest.iterdir() if p.name not in schema.SWEEP_ENTRIES)
    if foreign:
        raise RecordsError(f"{dest}: holds {show(foreign[0])}, which is not a sweep's record; "
                           "give a new or empty directory, or an earlier copy of this sweep's "
                           "records")
    if _name(dest) != _name(source):
        raise RecordsError(f"{dest}: holds sweep {show(_name(dest))}, not "
                           f"{show(_name(source))}; give a new or empty directory")
    try:
        check_entries(dest)  # no links or odd files to write through
    except ResultsDirError as err:
        raise RecordsError(str(err)) from None


def copy_records(source: Path, dest: Path) -> Copied:
    """Copy ``source``'s records into ``dest`` (module docstring); what was copied."""
    _check_dest(source, dest)
    copied = Copied()
    dest.mkdir(parents=True, exist_ok=True)
    # sweep.yaml last: a copy cut short is not taken for a whole one by its name alone
    wanted: list[tuple[Path, Path]] = []
    for folder in RECORD_DIRS:
        for path in sorted((source / folder).rglob("*")) if (source / folder).is_dir() else []:
            if path.is_file() and not path.is_symlink() and not path.name.startswith("."):
                wanted.append((path, dest / path.relative_to(source)))
    wanted += [(source / n, dest / n) for n in reversed(RECORD_FILES) if (source / n).is_file()]
    for src, dst in wanted:
        data = src.read_bytes()
        dst.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(data, dst)
        copied.files += 1
        copied.bytes += len(data)
    keep = {dst for _, dst in wanted}
    for folder in RECORD_DIRS:  # records of trials the source no longer holds
        for path in sorted((dest / folder).rglob("*"), reverse=True) if (dest / folder).is_dir() else []:
            if path.is_file() and path not in keep:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                os.rmdir(path)
    return copied
