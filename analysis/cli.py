"""``python -m analysis RESULTS_DIR [RESULTS_DIR ...] [-o OUT] [--format md|html|both]``.

Exit status: 0 when a report was written (what it skipped, a damaged epochs file or columns
outside the contract, is printed as a warning and stated in the report); 2 with a one-line
error naming the path when an argument is not a results directory at all (missing, not a
directory, or neither trials.parquet nor epochs/ in it), breaks the contract
(``contract.resultsdir``: links, FIFOs, a damaged trials.parquet, a sweep.yaml of another
sweep, ...) or the report folder cannot be written; 1 with one line when the disk fills up
while the report is written.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from contract.resultsdir import ResultsDirError, check, check_path, shown
from contract.schema import EPOCHS_DIR, TRIALS_FILE


def not_results_dir(path: Path) -> str | None:
    """Why ``path`` cannot be a results directory, or None when it may be one."""
    if not path.exists():
        return f"{path}: no such directory"
    if not path.is_dir():
        return f"{path}: not a directory"
    if not (path / TRIALS_FILE).exists() and not (path / EPOCHS_DIR).is_dir():
        return f"{path}: not a results directory (neither {TRIALS_FILE} nor {EPOCHS_DIR}/ in it)"
    return None


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m analysis",
        description="Tables, statistics, figures and a report (report/index.html, "
                    "report/report.md) from one or more sweep results directories.")
    ap.add_argument("dirs", nargs="+", metavar="RESULTS_DIR", type=Path,
                    help="results/<sweep> directories; several are compared side by side")
    ap.add_argument("-o", "--out", type=Path, default=None,
                    help="report folder (default: RESULTS_DIR/report, or <common parent>/report "
                         "for several directories)")
    ap.add_argument("--format", choices=("md", "html", "both"), default="both",
                    help="what to write (default: both)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    checked = []
    try:
        for path in args.dirs:
            check_path(path)  # before anything prints or opens it
            reason = not_results_dir(path)
            if reason:
                print(f"error: {reason}", file=sys.stderr)
                return 2
        if args.out is not None:
            check_path(args.out)
        # Every directory is checked before any is loaded: nothing is read into the report
        # from a directory that breaks the contract (contract/resultsdir.py).
        checked = [check(path) for path in args.dirs]
    except ResultsDirError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    # After validation, so a typo answers at once: load + report bring matplotlib, scipy and
    # optuna, +1.2 s of start-up (measured 2026-12-06, min of 3).
    from .load import load_results, summarize_problems
    from .report import build_report, default_out

    out = args.out if args.out is not None else default_out(list(args.dirs))
    refusal = unwritable(out)
    if refusal:
        print(f"error: {refusal}", file=sys.stderr)
        return 2
    loaded = [load_results(d, checked=c) for d, c in zip(args.dirs, checked)]
    for res in loaded:
        for problem in summarize_problems(res.problems):
            print(f"warning: {problem}", file=sys.stderr)
    try:
        written = build_report(loaded, out, args.format)
    except OSError as err:  # the disk filled up, or went read-only, while writing
        where = shown(err.filename) if err.filename else shown(out)
        print(f"error: {where}: cannot write the report ({err.strerror or err}); free some "
              "space, or choose another folder with -o", file=sys.stderr)
        return 1
    for res in loaded:
        if not len(res.completed):
            print(f"note: {res.path}: no completed trial; the report says so", file=sys.stderr)
    for path in written:
        if path.suffix in (".html", ".md"):
            print(path)
    return 0


def unwritable(out: Path) -> str | None:
    """Why the report folder ``out`` cannot be written (read-only file system, no
    permission, a file in the way), probed with a real write before anything is read."""

    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        return f"{shown(out)}: cannot create the report folder ({shown(probe)} is not a directory)"
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as err:
        return (f"{shown(probe)}: cannot write the report there ({err.strerror}); choose another "
                "folder with -o")
    return None
