"""analysis: HyperINR sweep results (Parquet) -> tables, statistics, figures and a report.

Of the project it imports the results contract only (``contract``: the Parquet layout, the
metric registry, the checked reader); imports neither torch nor Ray, so it works on a results
directory copied to a laptop.  In a notebook::

    import analysis
    res = analysis.load_results("results/mnist-ablation")
    analysis.factor_table(res); analysis.effects_table(res)
    analysis.label_table(res); analysis.label_differences(res)  # sweeps with label_counts
    analysis.design_analysis(res)  # designed sweeps: effects from a linear model, per rung
    analysis.importance(res).table  # any sweep: fANOVA / PED-ANOVA, 95% interval over seeds
    analysis.build_report(["results/mnist-ablation", "results/cifar10-ablation"])
    sweep = analysis.open_results("results/demo")  # for programs (analysis/api.py):
    sweep.dataframe(); sweep.best().config, sweep.best().test, sweep.best().checkpoints

Names are imported on first use (PEP 562), so ``python -m analysis`` answers a mistyped path
before pandas, scipy and matplotlib are loaded.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Results": "load", "ResultsNotFound": "load", "load_results": "load",
    "factor_table": "levels", "effects_table": "effects", "paper_comparison": "paper",
    "pareto_front": "selection", "failures_table": "failures", "compare_sweeps": "compare",
    "status_counts": "failures", "all_tables": "tables", "best_config": "selection",
    "equivalence_table": "paper",
    "claims_table": "claims",
    "label_table": "labels", "label_differences": "labels",
    "design_analysis": "model_effects", "detect_design": "design_model",
    "importance": "importance",
    "build_report": "report",
    "open_results": "api", "SweepResults": "api", "BestPoint": "api",
    "main": "cli",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
