"""``--time-budget``: a stage of a sweep that ends by the clock, with every finished row written.

A long sweep on a machine lent for a few hours runs as chunks: each chunk is a stage with a
budget, and the next one continues from the records (``sweeps.life``).  The budget is a
policy of admission, not a guillotine: the driver starts a trial only if its own measured
per-trial time says the trial can end before the deadline, so a chunk normally ends with no
trial half done.  At the deadline itself, a trial still running (its estimate was wrong, or no
trial had finished yet to measure one) is stopped; its row stays ``running`` and the next
chunk runs it again from its start (its checkpoints are Tune state, which a continuation from
the records does not use).

Ray-free: the Tune adapter (``sweeps.tune.budget``) feeds this object what starts and ends
and asks it what to admit; ``launch.py`` exits with ``EXIT_BUDGET`` when it stopped a stage.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field

#: ``launch.py run/resume/extend`` ended a stage at its time budget: not 0 (the sweep is not
#: finished), not 1 (nothing failed), not 2 (nothing was refused)
EXIT_BUDGET = 3

#: a trial is admitted only if 1.1x the longest measured trial fits in the time left.  The
#: demo's first chunk (--time-budget 10m, 2 trials at a time, ~3:10 a pair) admitted its third
#: pair on the mean with 3:15 left, and the deadline cut both: trials of one sweep vary by
#: several percent (levels, the machine's other load), and a cut trial wastes all of its time
HEADROOM = 1.1

_PART = re.compile(r"(\d+(?:\.\d+)?)(h|m|s)")


class BudgetError(ValueError):
    """A ``--time-budget`` value that is not a duration; the message is one line."""


def parse_duration(text: str) -> float:
    """``90m``, ``2h30m``, ``45s``, ``1.5h`` -> seconds (> 0); anything else raises
    BudgetError naming the flag and what is allowed."""
    raw = str(text).strip().lower()
    allowed = ("--time-budget: allowed a duration such as 90m, 2h30m or 45s (hours h, minutes "
               f"m, seconds s; more than 0); got {text!r}")
    parts = _PART.findall(raw)
    if not raw or "".join(n + u for n, u in parts) != raw:
        raise BudgetError(allowed)
    units = [u for _, u in parts]
    if len(set(units)) != len(units) or units != sorted(units, key="hms".index):
        raise BudgetError(allowed)
    seconds = sum(float(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)
    if not (math.isfinite(seconds) and seconds > 0):
        raise BudgetError(allowed)
    return seconds


@dataclass
class Budget:
    """One stage's clock: the deadline (``time.time()`` seconds), what it measured of its
    trials, and whether it stopped the stage.

    ``prior_s``: a full trial's wall time as the records measured it (earlier chunks of the
    same sweep), used until this stage has measured its own."""

    seconds: float
    prior_s: float | None = None
    deadline: float = 0.0
    started: dict[str, float] = field(default_factory=dict)  # running trial id -> start
    full_s: list[float] = field(default_factory=list)  # trials that ran every epoch
    any_s: list[float] = field(default_factory=list)  # every trial that ended
    refused: int = 0  # trials it did not admit
    stopped: bool = False  # the stage ended at its budget (not by finishing)
    cut: frozenset[str] = frozenset()  # trials still running at the deadline

    def __post_init__(self) -> None:
        if not self.deadline:
            self.deadline = time.time() + self.seconds

    def left(self, now: float | None = None) -> float:
        return self.deadline - (time.time() if now is None else now)

    def trial_s(self) -> float | None:
        """A trial's expected wall time: the longest full trial of this stage, else the
        longest trial that ended here (ASHA stops some early), else the records'."""
        if self.full_s:
            return max(self.full_s)
        if self.any_s:
            return max(self.any_s)
        return self.prior_s

    def admits(self, now: float | None = None) -> bool:
        """Start one more trial?  Only if its expected time, with ``HEADROOM``, ends before
        the deadline (with no estimate yet: while time is left)."""
        expected = HEADROOM * (self.trial_s() or 0.0)
        ok = self.left(now) > expected
        if not ok:
            self.refused += 1
        return ok

    def trial_started(self, trial_id: str, now: float | None = None) -> None:
        self.started[trial_id] = time.time() if now is None else now

    def trial_ended(self, trial_id: str, full: bool, now: float | None = None) -> None:
        start = self.started.pop(trial_id, None)
        if start is None:
            return
        took = (time.time() if now is None else now) - start
        self.any_s.append(took)
        if full:
            self.full_s.append(took)

    def should_stop(self, now: float | None = None) -> bool:
        """End the stage: nothing left running once admission has closed, or the deadline.
        Once True, it stays True (``stopped``: the stage ended by its budget)."""
        now = time.time() if now is None else now
        if self.stopped:
            return True
        if self.left(now) <= 0:
            self.cut = frozenset(self.started)
            self.stopped = True
        elif not self.started and self.refused:
            self.stopped = True
        return self.stopped
