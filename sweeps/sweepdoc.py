"""A results directory's sweep.yaml as written: the sweep as run, its first run's
``provenance`` (``write_spec``), one ``extensions`` entry per extension and the ``stages``
list (``sweeps.life``: every stage run, and how it ended).

Two commands add trials to a finished sweep and record them here: ``launch.py extend``
(``sweeps.extend``: more seeds, levels or a design's other fraction) and adaptive seeds'
second stage (``sweeps.life.Sweep.adaptive``, ``sweeps/adaptive.py``).  ``sweeps.life``
reads the records back to plan what runs next.  This bookkeeping lives here, in the Ray-free
core below both (issue 27: no import circles, and Ray only in sweeps.tune).
"""

from __future__ import annotations

import datetime as dt
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml

from contract import schema
from contract.metrics import DEFAULT_METRIC
from contract.resultsdir import read_sweep_doc

from .environment import environment
from .spec import SpecError, SweepSpec, parse_spec
from .specsections import TEST_METRICS
from .specyaml import safe_load

ROOT = Path(__file__).resolve().parent.parent
EXTENSIONS_KEY = "extensions"  # in sweep.yaml, beside provenance
STAGES_KEY = "stages"  # the stages run (sweeps.life), beside them


class SweepError(RuntimeError):
    """A sweep that cannot start (cluster too small, results dir unusable); one-line message."""


class ExtendError(ValueError):
    """An extension refused before anything changed; one line."""


def read_doc(results_dir: Path) -> dict[str, Any]:
    """sweep.yaml as written (provenance and extensions included)."""
    path = results_dir / schema.SPEC_FILE
    try:
        doc = read_sweep_doc(results_dir, safe_load)
    except (OSError, ValueError, yaml.YAMLError) as err:
        raise ExtendError(f"{path}: cannot read the sweep file ({type(err).__name__})") from None
    if not isinstance(doc, dict):
        raise ExtendError(f"{path}: damaged sweep file (not a YAML mapping)")
    return doc


def sweep_part(doc: dict[str, Any]) -> dict[str, Any]:
    """The sweep itself: sweep.yaml without provenance and extensions."""
    return {k: v for k, v in doc.items() if k not in ("provenance", EXTENSIONS_KEY, STAGES_KEY)}


def extensions(doc: dict[str, Any]) -> list[dict[str, Any]]:
    value = doc.get(EXTENSIONS_KEY)
    return value if isinstance(value, list) else []


def stage_dir(results_dir: Path, number: int) -> Path:
    """Tune's experiment of extension ``number`` (1, 2, ...)."""
    return results_dir / schema.EXTENSIONS_DIR / str(number)


def write_doc(doc: dict[str, Any], results_dir: Path) -> None:
    schema.write_text_atomic(f"# The sweep as run (resolved); python launch.py resume "
                             f"{results_dir}\n" + yaml.safe_dump(doc, sort_keys=False),
                             results_dir / schema.SPEC_FILE)


def provenance(argv: list[str]) -> dict[str, Any]:
    """What ran the sweep: git commit (and uncommitted changes), the command, when, where, and
    the versions of the packages that matter."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, timeout=10).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True,
                                    text=True, timeout=10).stdout.strip())
    except (OSError, subprocess.SubprocessError):
        commit, dirty = None, None
    versions = {}
    for pkg in ("torch", "torchvision", "ray", "optuna", "pyarrow", "tensorboard"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    return {"git_commit": commit, "git_dirty": dirty, "command": " ".join(argv),
            "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "python": platform.python_version(), "host": platform.node(), "packages": versions,
            "environment": environment()}


def write_spec(spec: SweepSpec, results_dir: Path, argv: list[str] | None = None) -> None:
    """sweep.yaml of a new sweep: the sweep as resolved, and its ``provenance``."""
    write_doc({**spec.raw, "provenance": provenance(argv or sys.argv)}, results_dir)


def git(*args: str) -> str | None:
    """``git ARGS`` in this checkout: its output, or None where git fails or is missing."""
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def record(doc: dict[str, Any], pooled: dict[str, Any], what: str, points: list[dict[str, Any]],
           command: list[str], repeats: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """sweep.yaml after recording an extension: the pooled sweep, the first run's provenance,
    the extensions so far and this one (its Tune experiment is extensions/<n>/).  ``repeats``:
    the trials among ``points`` that run points of the sweep again (``extend --repeat``),
    which its target then holds twice."""
    done = extensions(doc)
    entry = {"number": len(done) + 1, "added": what, "trials": len(points),
             "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
             "git_commit": git("rev-parse", "HEAD"),
             "git_dirty": bool(git("status", "--porcelain")),
             "command": " ".join(command),
             "tune_dir": f"{schema.EXTENSIONS_DIR}/{len(done) + 1}", "points": points}
    if repeats:
        entry["repeats"] = repeats
    out = dict(pooled)
    if "provenance" in doc:
        out["provenance"] = doc["provenance"]
    out[EXTENSIONS_KEY] = done + [entry]
    if STAGES_KEY in doc:
        out[STAGES_KEY] = doc[STAGES_KEY]
    return out


def read_spec(results_dir: Path, legacy_ok: bool = False) -> SweepSpec:
    """The sweep as run, from ``<results>/sweep.yaml`` (``spec_from_doc``).  A directory with
    sweep.yaml is a sweep's, whether or not Tune's state is there (the records alone can be
    continued, ``sweeps.life``)."""
    path = results_dir / schema.SPEC_FILE
    if not path.is_file():
        raise SweepError(f"{results_dir}: not a sweep results directory (no {schema.SPEC_FILE}); "
                         f"start one with: python launch.py run SWEEP.yaml")
    # --overwrite cannot help: it deletes only a directory whose sweep.yaml names the sweep.
    try:
        doc = read_sweep_doc(results_dir, safe_load)
    except (OSError, UnicodeDecodeError, ValueError, RecursionError, yaml.YAMLError) as err:
        reason = getattr(err, "strerror", None) or getattr(err, "problem", None) or type(err).__name__
        raise SweepError(f"{path}: damaged sweep file ({reason}); {_fix(results_dir)}") from None
    return spec_from_doc(doc, results_dir, legacy_ok)


def _fix(results_dir: Path) -> str:
    return f"restore it from a copy, or delete {results_dir} yourself and run the sweep again"


def spec_from_doc(doc: Any, results_dir: Path, legacy_ok: bool = False) -> SweepSpec:
    """The sweep as run, from sweep.yaml as read (``read_sweep_doc``).  A sweep written before
    the validation split selected on a test metric, which the spec now refuses: such a
    directory is not damaged, it cannot be resumed (its trials never reported val_*); with
    ``legacy_ok`` (``status``) it is read with each test metric replaced by its validation
    twin."""
    path = results_dir / schema.SPEC_FILE
    fix = _fix(results_dir)
    if not isinstance(doc, dict):
        raise SweepError(f"{path}: damaged sweep file (not a YAML mapping); {fix}")
    doc = dict(doc)
    doc.pop("provenance", None)
    doc.pop(STAGES_KEY, None)  # sweeps.life's record of the stages run
    # What extended it (sweeps/extend.py); the rest is the pooled sweep, except for the
    # trials adaptive seeds added and the points extend --repeat runs again, which no field
    # of the sweep counts.
    added = [e for e in doc.pop("extensions", None) or [] if isinstance(e, dict)]
    extra = sum(int(e.get("trials", 0)) for e in added if "adaptive" in e)
    extra += sum(len(e["repeats"]) for e in added if isinstance(e.get("repeats"), list))
    metrics = doc.get("metric") if isinstance(doc.get("metric"), list) else [doc.get("metric")]
    legacy = [m for m in metrics if isinstance(m, str) and m in TEST_METRICS]
    if legacy and not legacy_ok:
        raise SweepError(f"{path}: written by an older hinr-sweeps that selected on the test split "
                         f"(metric: {legacy[0]}); it cannot be resumed: python launch.py report "
                         f"{results_dir} still reads it, or run the sweep file again")
    if legacy:
        twins = [TEST_METRICS.get(m) or DEFAULT_METRIC if m in TEST_METRICS else m for m in metrics]
        doc["metric"] = twins if isinstance(doc.get("metric"), list) else twins[0]
    try:
        spec = parse_spec(doc, str(path))
    except SpecError as err:
        raise SweepError(f"{err}; the sweep file is damaged: {fix}") from None
    spec.extra_trials = extra
    return spec
