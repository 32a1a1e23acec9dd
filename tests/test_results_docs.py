"""Every results document regenerates from its committed records with one command, without a
rerun: ``python -m analysis docs/<doc>/data -o OUT --format md`` (issue 39).  Run on the real
records committed beside each document (docs/results-*/data), so a change to the analysis
that cannot read them, or that loses a section the document quotes, fails here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parent.parent
# a document's data/ folder holds one sweep's records, or one folder per sweep (docs/running.md)
RECORDS = sorted({p.parent for p in (ROOT / "docs").glob("results-*/data/**/sweep.yaml")
                  if p.parent.name != "report"})


def test_the_documents_have_records():
    """At least the CPU-scale claims and the full-MNIST run keep their records beside them."""
    names = {p.relative_to(ROOT / "docs").parts[0] for p in RECORDS}
    assert {"results-cpu", "results-mnist"} <= names, names


@pytest.mark.parametrize("records", RECORDS,
                         ids=[str(p.relative_to(ROOT / "docs")) for p in RECORDS])
def test_a_results_document_regenerates_from_its_records(records, tmp_path):
    out = tmp_path / "report"
    proc = subprocess.run([sys.executable, "-m", "analysis", str(records), "-o", str(out),
                           "--format", "md"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    md = (out / "report.md").read_text()
    sweep = pq.read_table(records / "trials.parquet", columns=["sweep"]).column(0)[0].as_py()
    assert f"# HyperINR sweep report: {sweep}" in md
    assert "Holm" in md and "Traceback" not in md
    # every figure the report names was written
    for line in md.splitlines():
        if line.startswith("![") and "](" in line:
            path = line.split("](", 1)[1].rstrip(")")
            assert (out / path).is_file(), path
