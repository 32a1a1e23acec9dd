"""A results directory's sweep.yaml as written: the sweep as run, its first run's
``provenance`` and one ``extensions`` entry per extension.

Two commands add trials to a finished sweep and record them here: ``launch.py extend``
(``sweeps.extend``: more seeds, levels or a design's other fraction) and adaptive seeds'
second stage (``sweeps.run.adaptive_stage``, ``sweeps/adaptive.py``).  ``sweeps.run`` reads the
records back to resume the last one (``resume_sweep``, ``run_stage``).  This bookkeeping lives
here, below both, so that run does not import extend, whose command runs sweeps through run
(issue 27: no import circles).
"""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path
from typing import Any

import yaml

from . import schema
from .spec import safe_load

ROOT = Path(__file__).resolve().parent.parent
EXTENSIONS_KEY = "extensions"  # in sweep.yaml, beside provenance


class ExtendError(ValueError):
    """An extension refused before anything changed; one line."""


def read_doc(results_dir: Path) -> dict[str, Any]:
    """sweep.yaml as written (provenance and extensions included)."""
    path = results_dir / schema.SPEC_FILE
    try:
        doc = safe_load(path.read_text())
    except (OSError, ValueError, yaml.YAMLError) as err:
        raise ExtendError(f"{path}: cannot read the sweep file ({type(err).__name__})") from None
    if not isinstance(doc, dict):
        raise ExtendError(f"{path}: damaged sweep file (not a YAML mapping)")
    return doc


def sweep_part(doc: dict[str, Any]) -> dict[str, Any]:
    """The sweep itself: sweep.yaml without provenance and extensions."""
    return {k: v for k, v in doc.items() if k not in ("provenance", EXTENSIONS_KEY)}


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


def git(*args: str) -> str | None:
    """``git ARGS`` in this checkout: its output, or None where git fails or is missing."""
    try:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def record(doc: dict[str, Any], pooled: dict[str, Any], what: str, points: list[dict[str, Any]],
           command: list[str]) -> dict[str, Any]:
    """sweep.yaml after recording an extension: the pooled sweep, the first run's provenance,
    the extensions so far and this one (its Tune experiment is extensions/<n>/)."""
    done = extensions(doc)
    entry = {"number": len(done) + 1, "added": what, "trials": len(points),
             "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
             "git_commit": git("rev-parse", "HEAD"),
             "git_dirty": bool(git("status", "--porcelain")),
             "command": " ".join(command),
             "tune_dir": f"{schema.EXTENSIONS_DIR}/{len(done) + 1}", "points": points}
    out = dict(pooled)
    if "provenance" in doc:
        out["provenance"] = doc["provenance"]
    out[EXTENSIONS_KEY] = done + [entry]
    return out
