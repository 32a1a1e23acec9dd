"""``python -m analysis RESULTS_DIR [RESULTS_DIR ...] [-o OUT] [--format md|html|both]``.

Exit status: 0 when a report was written (files that could not be read are printed as
warnings and stated in the report: a partly damaged directory is still worth a report);
2 with a one-line error naming the path when an argument is not a results directory at all
(missing, not a directory, or neither trials.parquet nor epochs/ in it).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sweeps.schema import EPOCHS_DIR, TRIALS_FILE


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
    for path in args.dirs:
        reason = not_results_dir(path)
        if reason:
            print(f"error: {reason}", file=sys.stderr)
            return 2
    from .load import load_results, summarize_problems  # after validation: a typo answers at once
    from .report import build_report

    loaded = [load_results(d) for d in args.dirs]
    for res in loaded:
        for problem in summarize_problems(res.problems):
            print(f"warning: {problem}", file=sys.stderr)
    written = build_report(loaded, args.out, args.format)
    for res in loaded:
        if not len(res.completed):
            print(f"note: {res.path}: no completed trial; the report says so", file=sys.stderr)
    for path in written:
        if path.suffix in (".html", ".md"):
            print(path)
    return 0
