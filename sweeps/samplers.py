"""Optuna samplers as Tune must hold them: picklable, on every Optuna this project allows.

Tune pickles the searcher twice: into ``tuner.pkl`` (the TuneConfig) and, through
``OptunaSearch.save``, with its study at every experiment snapshot; so the sampler must pickle,
and by reference to a class importable by name, which is why this is a module of its own
(``sweeps.tune.search`` imports it only when it builds a searcher: Optuna takes a while to
import).

Optuna 5 gave its genetic samplers a ``threading.Lock`` (``_thread_lock`` in
``optuna.samplers._ga._base``, checked on 5.0.0 and 5.1.0), which does not pickle; Optuna 4's
NSGA-II has none.  ``PicklableNSGAIISampler`` leaves the lock out of its pickled state and makes
a new one when unpickled: the lock guards a per-process cache and holds nothing worth keeping.
Everything else, the search state included, is NSGA-II's own, so a resumed sweep continues the
same generations.
"""

from __future__ import annotations

import threading

import optuna

_NSGA2 = optuna.samplers.NSGAIISampler
# Whether this Optuna's genetic samplers hold a lock (5.x) or not (4.x): asked once, not at
# every unpickling (each snapshot of a resumed sweep unpickles the study).
_HAS_LOCK = hasattr(_NSGA2(), "_thread_lock")


class PicklableNSGAIISampler(_NSGA2):
    """``NSGAIISampler`` that pickles (module docstring); it samples exactly as NSGA-II does."""

    # Optuna names the study attributes a genetic sampler keeps (each trial's generation, the
    # cached parents) after the sampler's class; these stay NSGA-II's, so studies made by the
    # plain sampler (an Optuna 4 sweep) and by this one read each other's generations.
    @classmethod
    def _get_generation_key(cls) -> str:
        return _NSGA2._get_generation_key()

    @classmethod
    def _get_parent_cache_key_prefix(cls) -> str:
        return _NSGA2._get_parent_cache_key_prefix()

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state.pop("_thread_lock", None)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        if _HAS_LOCK:
            self._thread_lock = threading.Lock()
