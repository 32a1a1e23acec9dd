"""``Stage``: one stage of a sweep as a plain value: what ``sweeps.life`` (the Ray-free owner of a
sweep's life) planned and the Tune adapter (``sweeps.tune.run.run_stage``) runs.  No logic, so
that the adapter can take it without importing the policy that made it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .budget import Budget
from .spec import SweepSpec


@dataclass
class Stage:
    """One Tune experiment for the adapter to run: what, where, and what it keeps."""

    kind: str  # first | resume | continue | extension | adaptive
    spec: SweepSpec  # the pooled sweep as recorded
    experiment: str  # Tune's experiment directory, relative to the results directory
    restore: bool = False  # Tune's state of ``experiment`` is there: restore it
    points: list[dict[str, Any]] | None = None  # listed trials (axes + seed); None: the spec's
    kept: frozenset[str] = frozenset()  # trial ids of earlier stages: their rows stay as read
    # searched sweeps: recorded points for the searcher ({"config", "values"}), points with
    # seeds still to run ({"config", "seeds", "values"}) and the trials Tune creates in all
    history: list[dict[str, Any]] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)
    trials: int = 0
    sampler_seed: int = 0
    rungs: dict[str, dict[int, float]] = field(default_factory=dict)  # ASHA: id -> epoch -> value
    budget: Budget | None = None
    number: int = 0  # its place in sweep.yaml's stages
    what: str = ""  # the line said before it starts
