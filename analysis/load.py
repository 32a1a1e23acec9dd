"""The Parquet contract -> pandas DataFrames.

``load_results(dir)`` reads one results directory (see ``contract.schema``) into a ``Results``
object, through the one reader of results directories (``contract.resultsdir``), which checks
the directory first.  A directory that breaks the contract raises ``ResultsDirError`` (one
line naming the file): a link or FIFO among the sweep's entries, a trials.parquet that is
truncated, of another schema version, with a column of the wrong type or repeated or unsafe
trial ids, a sweep.yaml of another sweep.  A path that is not a directory at all raises
``ResultsNotFound``.  What a report can do without becomes one line in ``Results.problems``
naming the file, and the rest is loaded: a missing trials.parquet or sweep.yaml, an epochs
file that is damaged (skipped), columns outside the contract (ignored).

Speed matters (a sweep may hold 10,000 trials x 100 epochs, one epochs file per trial).
Every table needs trials.parquet only, so epochs/ is read when first asked for.  Then the
files are read by pyarrow on a thread pool (Parquet decoding releases the GIL), their Arrow
tables concatenated with schema promotion (trials of different variants report different
metrics) and converted to pandas once.  Reading file by file also isolates a corrupt file to
one problem line instead of failing the whole directory.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property, partial
from pathlib import Path
from typing import Any, Callable

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from contract import metrics as metrics_registry
from contract.resultsdir import (ResultsDir, ResultsDirError, check, check_epochs_table,
                                 read_sweep_doc)
from contract.schema import (CONFIG_PREFIX, EPOCHS_DIR, IMAGE_SUFFIX, IMAGES_DIR, METRIC_PREFIX,
                             SPEC_FILE, TRIALS_FILE, SchemaError, check_version, metric_column,
                             metric_name, read_contract, sweep_contract)
from . import images

#: metrics of the jointly trained head: meaningless (chance) where it was never trained
HEAD_METRICS = tuple(m.name for m in metrics_registry.METRICS if m.needs_head)
#: config columns that never count as a varied factor (the fallback when sweep.yaml is missing)
NOT_FACTORS = ("seed", "data_root", "device", "threads", "download", "verify_data")
#: above this many distinct numeric levels a factor is treated as continuous (sampled by a
#: search, not a grid): tables bin it into quantiles and no reference/effect is computed.
MAX_LEVELS = 12


class ResultsNotFound(FileNotFoundError):
    """The path is not a results directory at all (the message names the path)."""


@dataclass(frozen=True)
class DeclaredDesign:
    """The designed experiment a sweep file asked for (``search: design``), as written."""
    section: Any  # its design: section ({type: fractional, resolution: V}, or a bare type)
    resolution: Any = None  # a resolution: written beside the section (older sweep documents)


class Results:
    """One results directory, loaded.

    ``trials``: one row per trial (``trial_id``, ``status``, ``config.*``, ``metric.*``, ...).
    ``epochs``: one row per (trial, epoch) (``trial_id``, ``epoch``, ``metric.*``, ...).
    ``spec``: the sweep document as run, from trials.parquet's metadata (older results: the
    parsed sweep.yaml; {} when neither exists).  ``contract``: the factors, their reference
    levels and the seeds (``contract.schema.sweep_contract``; derived from ``spec`` when not
    given).  ``declared_design``: the design ``spec`` declares (``search: design``), else
    None.  ``problems``: one human-readable line
    per file that could not be read, each naming the file.  ``predictions``: trial id -> its
    per-image test outputs (``analysis.images``; {} for older results), read on first use.  ``images``: trial id -> {grid
    name -> PNG path}, the example grids each trial wrote under ``images/<trial>/``.
    Joint-head metrics are null in both frames where cls_weight is 0 (an untrained head).

    ``epochs`` is read on first access (``load_results`` lists the files but does not read
    them): every table works from trials.parquet alone, and a 10,000-trial sweep's epochs are
    a million rows in 10,000 files, seconds that only the learning curves need.  Reading
    ``problems`` reads the epochs too, so the list is always complete.

    Derived views (``completed``, ``factors``, references) are computed once and cached:
    to analyse a subset, make a new object (``Results(res.path, subset, res.epochs,
    res.spec)``) rather than assigning to ``trials``.
    """

    def __init__(self, path: str | os.PathLike, trials: pd.DataFrame,
                 epochs: pd.DataFrame | None = None, spec: dict[str, Any] | None = None,
                 problems: list[str] | None = None,
                 images: dict[str, dict[str, Path]] | None = None,
                 epoch_files: int = 0,
                 epochs_loader: Callable[[], tuple[pd.DataFrame, list[str]]] | None = None,
                 contract: dict[str, Any] | None = None):
        self.path = Path(path)
        self.trials = untrained_head_to_null(trials, trials)
        self.spec = spec or {}
        # Factors and references come from one derivation (the writer's); a Results built by
        # hand from a spec dict (a notebook's subset) derives the same from it.
        self.contract = contract or sweep_contract(self.spec)
        self.images = dict(images or {})
        self.epoch_files = epoch_files
        self._epochs = None if epochs is None else untrained_head_to_null(epochs, self.trials)
        self._problems = list(problems or [])
        self._loader = epochs_loader

    def __repr__(self) -> str:
        epochs = f"{len(self._epochs)} epoch rows" if self._epochs is not None else \
            f"{self.epoch_files} epochs files not read yet"
        return (f"Results({str(self.path)!r}: {len(self.trials)} trials, {epochs}, "
                f"{len(self._problems)} problems so far)")

    @property
    def epochs(self) -> pd.DataFrame:
        if self._epochs is None:
            if self._loader is None:
                self._epochs = _EMPTY_EPOCHS.copy()
            else:
                epochs, problems = self._loader()
                self._epochs = untrained_head_to_null(epochs, self.trials)
                self._problems += problems
                self._loader = None
        return self._epochs

    @property
    def epochs_loaded(self) -> bool:
        return self._epochs is not None

    @property
    def predictions(self) -> dict[str, pd.DataFrame]:
        """trial id -> its per-image test outputs indexed by image (``analysis.images``); {}
        for results written before trials saved them.  Read on first access; unreadable
        files become ``problems``."""
        cache = self.__dict__.get("_predictions")
        if cache is None:
            cache, problems = images.read(images.files(self.path))
            self._problems += problems
            self.__dict__["_predictions"] = cache
        return cache

    @property
    def problems(self) -> list[str]:
        self.epochs  # noqa: B018 - reading them is how their problems become known
        self.predictions  # noqa: B018 - and the per-image files' too
        return self._problems

    # --------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The sweep's name: sweep.yaml's ``name``, else the trials' ``sweep``, else the dir."""
        if isinstance(self.spec.get("name"), str):
            return self.spec["name"]
        frames = [self.trials] + ([self._epochs] if self._epochs is not None else [])
        for frame in frames:
            if "sweep" in frame and frame["sweep"].notna().any():
                return str(frame["sweep"].dropna().iloc[0])
        return self.path.name

    @cached_property
    def started(self) -> str | None:
        """The day the sweep first ran (YYYY-MM-DD, UTC), from sweep.yaml's provenance; None
        when unknown.  A margin stated after it was not stated before the run."""
        try:
            doc = read_sweep_doc(self.path)
            started = str(doc["provenance"]["started"])
        except Exception:  # noqa: BLE001 - missing file, no provenance: the day is unknown
            return None
        return started[:10] if len(started) >= 10 and started[4] == "-" else None

    @cached_property
    def declared_design(self) -> DeclaredDesign | None:
        """The design sweep.yaml declares, from the sweep document (``spec``); None when it
        declares none.  A sweep document holds a ``design:`` section exactly when it ran
        ``search: design`` (``sweeps.design.parse`` refuses one under any other search), so
        the section is the declaration.  A grid that declares nothing may still be a full
        two-level design (``analysis.design_model.detect_design``)."""
        if self.spec.get("design") is None:
            return None
        return DeclaredDesign(self.spec["design"], self.spec.get("resolution"))

    @cached_property
    def completed(self) -> pd.DataFrame:
        """Trials that finished normally: the ones whose final metrics are comparable."""
        if "status" not in self.trials:
            return self.trials.iloc[0:0]
        return self.trials[self.trials["status"] == "completed"]

    @cached_property
    def factors(self) -> list[str]:
        """The varied factors (config field names, without the ``config.`` prefix).

        The sweep's axes (the contract's ``factors``; seeds are replicates, not a factor);
        without them (no metadata, no sweep.yaml), every config column that takes more than
        one value."""
        names = list(self.contract["factors"])
        if not names:
            names = [c[len(CONFIG_PREFIX):] for c in self.trials.columns
                     if c.startswith(CONFIG_PREFIX)
                     and self.trials[c].nunique(dropna=True) > 1]
        return [n for n in names if n not in NOT_FACTORS
                and CONFIG_PREFIX + n in self.trials.columns]

    def is_continuous(self, factor: str) -> bool:
        """A numeric factor with many distinct values (a search space, not a grid)."""
        cache = self.__dict__.setdefault("_continuous", {})
        if factor not in cache:
            cache[factor] = self._is_continuous(factor)
        return cache[factor]

    def _is_continuous(self, factor: str) -> bool:
        axis = self.contract["factors"].get(factor, {})
        col = self.trials.get(CONFIG_PREFIX + factor)
        sampled = axis.get("sampled") if isinstance(axis, dict) else None
        if isinstance(sampled, dict) and "choice" in sampled:
            return False  # its choices are its levels: 64 and 128 never share a bin
        if sampled is not None and col is not None and pd.api.types.is_numeric_dtype(col):
            return True  # a distribution to sample from (search), not a list of levels
        if col is None or not pd.api.types.is_numeric_dtype(col) or col.dtype == bool:
            return False
        return col.nunique(dropna=True) > MAX_LEVELS

    def reference(self, factor: str) -> tuple[Any, str]:
        """The sweep's reference setting of ``factor`` and where it came from.

        The contract's reference (the base's value when the sweep ran it, else the first listed
        axis value) when trials ran it, else the first listed level that ran, else (no
        factors known) the most common level.  Returns (None, reason) for a continuous factor
        or when the factor has no observed level."""
        cache = self.__dict__.setdefault("_references", {})
        if factor not in cache:
            cache[factor] = self._reference(factor)
        return cache[factor]

    def _reference(self, factor: str) -> tuple[Any, str]:
        col = CONFIG_PREFIX + factor
        if col not in self.trials or self.trials[col].dropna().empty:
            return None, "no observed level"
        if self.is_continuous(factor):
            return None, "continuous (sampled) factor: no reference"
        levels = set(self.trials[col].dropna().tolist())
        ref = self.contract["references"].get(factor)
        if ref is not None and _member(ref["value"], levels) is not None:
            return _member(ref["value"], levels), ref["source"]
        # The reference never ran (a time limit, failed trials): the first listed level that did
        for v in self.contract["factors"].get(factor, {}).get("levels", []):
            if _member(v, levels) is not None:
                return _member(v, levels), "first axis value"
        mode = self.trials[col].dropna().mode()
        return mode.iloc[0], "most common level (no sweep.yaml)"


def _member(value: Any, levels: set) -> Any:
    """``value`` as it appears among the observed levels (YAML 100 vs Parquet 100.0; YAML
    1.1 reads ``1e-4`` as a string)."""
    if isinstance(value, str):
        try:
            value = float(value) if value not in levels else value
        except ValueError:
            pass
    for v in levels:
        try:
            if v == value:
                return v
        except (TypeError, ValueError):
            continue
    return None


def summarize_problems(problems: list[str], limit: int = 8) -> list[str]:
    """At most ``limit`` lines for people: a directory of 10,000 files of an unknown schema
    version is one problem told 10,000 times."""
    if len(problems) <= limit:
        return list(problems)
    return problems[:limit - 1] + [f"... and {len(problems) - limit + 1} more unreadable "
                                   f"file(s) (Results.problems lists them all)"]


# ------------------------------------------------------------------------------------
def load_results(path: str | os.PathLike, lazy_epochs: bool = True,
                 threads: int | None = None, checked: ResultsDir | None = None) -> Results:
    """Read one results directory; see the module doc for what raises and what becomes
    ``problems``.

    ``lazy_epochs``: read epochs/ on first access of ``Results.epochs`` (default) or now.
    ``threads``: readers for the epochs files (default: 2 per CPU, at most 16).
    ``checked``: the directory as ``contract.resultsdir.check`` read it (the CLI checks all
    directories before loading any); checked here otherwise."""
    root = Path(path)
    if not root.is_dir():
        raise ResultsNotFound(f"{root}: not a directory (expected a results directory with "
                              f"{TRIALS_FILE} and {EPOCHS_DIR}/)")
    checked = checked if checked is not None else check(root)
    problems: list[str] = list(checked.notes)
    trials, contract = _read_trials(root / TRIALS_FILE, problems, checked.trials)
    files = _epoch_files(root / EPOCHS_DIR, problems)
    if contract is None:
        # Results written before trials.parquet carried its contract (or without a readable
        # trials.parquet): the sweep document, factors and references come from sweep.yaml.
        spec = _read_spec(root / SPEC_FILE, problems)
    else:
        spec = contract["spec"]
    results = Results(root, trials, spec=spec, problems=problems, images=_images(root),
                      epoch_files=len(files),
                      epochs_loader=partial(_read_epochs, root / EPOCHS_DIR, files, threads,
                                            checked.name),
                      contract=contract)
    if not lazy_epochs:
        results.epochs  # noqa: B018
    return results


def untrained_head_to_null(frame: pd.DataFrame, trials: pd.DataFrame) -> pd.DataFrame:
    """``frame`` (trials or epochs) with joint-head metrics set to null for trials whose
    cls_weight is 0: their head got no gradient, so its ~10% is chance, not a result (files
    written before the trainer stopped reporting it still hold the number)."""
    cols = [METRIC_PREFIX + m for m in HEAD_METRICS if METRIC_PREFIX + m in frame]
    weight = trials.get(CONFIG_PREFIX + "cls_weight")
    if not cols or weight is None or "trial_id" not in frame:
        return frame
    untrained = set(trials.loc[weight.astype(float) == 0, "trial_id"])
    mask = frame["trial_id"].isin(untrained)
    if not mask.any():
        return frame
    frame = frame.copy()
    frame.loc[mask, cols] = float("nan")
    return frame


def _current_names(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with metric columns of older files under their current registry names
    (``*_weight_reg`` is now ``*_theta_prior``: the same numbers, one name per concept)."""
    renames = {c: metric_column(metrics_registry.LEGACY_NAMES[name]) for c in frame.columns
               if (name := metric_name(c)) in metrics_registry.LEGACY_NAMES}
    return frame.rename(columns=renames) if renames else frame


def _images(root: Path) -> dict[str, dict[str, Path]]:
    """trial id -> {name -> path} of the PNG grids under images/ (temp files skipped)."""
    folder = root / IMAGES_DIR
    if not folder.is_dir():
        return {}
    out = {}
    # follow_symlinks=False: the report embeds these files, so never one a link leads to
    # (contract.resultsdir refuses links here; this keeps a race from changing that).
    for trial in sorted(os.scandir(folder), key=lambda e: e.name):
        if trial.is_dir(follow_symlinks=False):
            pngs = {Path(e.name).stem: Path(e.path) for e in os.scandir(trial.path)
                    if e.name.endswith(IMAGE_SUFFIX) and not e.name.startswith(".")
                    and e.is_file(follow_symlinks=False)}
            if pngs:
                out[trial.name] = dict(sorted(pngs.items()))
    return out


def _read_trials(path: Path, problems: list[str], table: pa.Table | None,
                 ) -> tuple[pd.DataFrame, dict[str, Any] | None]:
    """trials.parquet (``table``, as contract.resultsdir read and checked it) as a frame, and
    the contract in its metadata (None: an older file)."""
    if table is None:
        problems.append(f"{path}: missing; no per-trial configs or final metrics "
                        f"(tables need it; learning curves come from {EPOCHS_DIR}/)")
        return pd.DataFrame(columns=["trial_id", "status"]), None
    contract = read_contract(table)
    frame = _current_names(table.to_pandas())
    if frame["trial_id"].duplicated().any():  # the contract says unique; keep the last write
        problems.append(f"{path}: duplicate trial_id rows; kept the last of each")
        frame = frame.drop_duplicates("trial_id", keep="last")
    return frame.reset_index(drop=True), contract


_EMPTY_EPOCHS = pd.DataFrame(columns=["trial_id", "epoch"])


def _epoch_files(folder: Path, problems: list[str]) -> list[str]:
    if not folder.is_dir():
        problems.append(f"{folder}: missing; no learning curves")
        return []
    # os.scandir is several times faster than Path.glob on 10k files; temp files of an
    # in-flight atomic write (".name.xxx.tmp") are skipped by the suffix and dot tests.
    return sorted(e.path for e in os.scandir(folder)
                  if e.name.endswith(".parquet") and not e.name.startswith(".")
                  and e.is_file(follow_symlinks=False))


def _read_epochs(folder: Path, files: list[str], threads: int | None, sweep: str | None = None,
                 ) -> tuple[pd.DataFrame, list[str]]:
    """All epochs files as one frame, plus a problem line per file that could not be read."""
    problems: list[str] = []
    empty = _EMPTY_EPOCHS.copy()
    if not files:
        return empty, problems
    workers = threads or min(16, 2 * (os.cpu_count() or 1))  # I/O + GIL-free decode
    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(partial(_try_read, root=folder.parent, sweep=sweep), files))
    tables = []
    for file, outcome in zip(files, outcomes):
        if isinstance(outcome, Exception):
            problems.append(_describe(Path(file), outcome))
        elif outcome.num_rows:
            tables.append(outcome)  # same metadata everywhere (the version was checked)
    if not tables:
        return empty, problems
    try:
        # "permissive" also reconciles a column written as null in one trial and float in another
        table = pa.concat_tables(tables, promote_options="permissive")
    except pa.ArrowException as exc:  # incompatible types: keep what matches the first file
        problems.append(f"{folder}: epochs files disagree on column types ({exc}); "
                        f"read only those matching the first file")
        tables = [t for t in tables if t.schema.equals(tables[0].schema)]
        table = pa.concat_tables(tables)
    frame = _current_names(table.to_pandas(split_blocks=True))  # split: one less copy
    if frame.duplicated(["trial_id", "epoch"]).any():
        problems.append(f"{folder}: duplicate (trial_id, epoch) rows; kept the last of each")
        frame = frame.drop_duplicates(["trial_id", "epoch"], keep="last")
    return frame.reset_index(drop=True), problems


def _try_read(path: str, root: Path, sweep: str | None) -> pa.Table | Exception:
    """One epochs file, or why it was skipped: the fast reader (see ``_open_fast``), then
    the contract's checks (``check_epochs_table``), so a file of the wrong types or of
    another trial is skipped, not mixed in."""
    try:
        return check_epochs_table(_read_checked(Path(path)), Path(path), root, sweep)
    except (SchemaError, OSError, pa.ArrowException, ResultsDirError) as exc:
        return exc


def _read_checked(path: Path) -> pa.Table:
    """One Parquet file, version-checked before its data is decoded."""
    reader = _open_fast(path)
    if reader is not None:
        check_version(reader.schema_arrow, path)
        return reader.read_all(use_threads=False)
    parquet = pq.ParquetFile(path, pre_buffer=False)
    check_version(parquet.schema_arrow, path)
    return parquet.read(use_threads=False)


# pyarrow's own reader under pq.ParquetFile; a private name, hence the fallback.  Kept over the
# public pq.ParquetFile, which wraps this very reader and adds per-file Python work this load
# does not need (filesystem resolution, a walk of every column path): see _open_fast for the
# cost.  Checked against pyarrow 26.0.1.
try:
    from pyarrow._parquet import ParquetReader as _ParquetReader
except ImportError:  # pragma: no cover - a pyarrow without it
    _ParquetReader = None


def _open_fast(path: Path):
    """The low-level reader ``pq.ParquetFile`` wraps, or None where this pyarrow lacks it.

    Why: epochs files are small (one trial, ~100 rows), so per-file Python overhead
    dominates; ``ParquetFile`` spends much of it walking the schema in Python under the GIL,
    which serialises the thread pool.  On 10,000 files on 2 busy cores this reader took 5.2 s
    against 7.8 s.  No pre-buffering and no inner threads: the files are small and
    parallelism comes from the pool."""
    global _ParquetReader
    if _ParquetReader is None:
        return None
    try:
        reader = _ParquetReader()
        reader.open(str(path), pre_buffer=False)
        return reader
    except (TypeError, AttributeError):  # a changed private API: use the public one
        _ParquetReader = None
        return None


def _describe(path: Path, exc: Exception) -> str:
    if isinstance(exc, ResultsDirError):
        return str(exc).split("; restore it")[0] + "; skipped"
    if isinstance(exc, SchemaError):
        return str(exc)  # already names the file and says what is wrong
    return f"{path}: unreadable (truncated or corrupted Parquet?): {exc}"


def _read_spec(path: Path, problems: list[str]) -> dict[str, Any]:
    if not path.exists():
        problems.append(f"{path}: missing; factors are inferred from the config columns and "
                        f"the reference setting is each factor's most common level")
        return {}
    try:
        spec = read_sweep_doc(path.parent)
    except Exception as exc:  # noqa: BLE001 - any YAML/IO error is the same problem to a reader
        problems.append(f"{path}: unreadable YAML ({exc}); factors are inferred from the "
                        f"config columns")
        return {}
    if not isinstance(spec, dict):
        problems.append(f"{path}: not a YAML mapping; ignored")
        return {}
    return spec
