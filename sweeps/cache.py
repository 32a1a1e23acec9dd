"""The evaluation's results shared between trials, kept on disk under the data root.

Some of a trial's end-of-trial results depend on less than the trial: the pixel baselines
depend on (dataset, split, seed, probe budget, standardisation) only, so every trial and
every sweep that shares those reads one computation.  ``hinr.evaluate`` names each entry
(``baseline_key``, ``label_key``: what it depends on, and the code that computed it) and says
what a whole entry looks like; this module keeps them: ``<data root>/baselines/<key>.json``,
one file lock per entry across processes, each written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from filelock import FileLock

from contract.atomic import write_text_atomic
from hinr.config import TrainingConfig
from hinr.fetch import data_root

CACHE_DIR = "baselines"  # under the data root, beside the datasets the entries depend on


class JsonCache:
    """JSON values by key, one file each in ``directory`` (``hinr.evaluate.Cache``)."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def get(self, key: str, compute: Callable[[], Any],
            valid: Callable[[Any], bool] = lambda value: True) -> Any:
        """``compute()`` once per key across processes (file lock), stored atomically as JSON.
        An entry that is not JSON or that ``valid`` refuses is recomputed, never trusted."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock"):
            if path.exists():
                try:
                    value = json.loads(path.read_text())
                    if valid(value):
                        return value
                except ValueError:
                    pass  # a damaged cache entry is recomputed, never trusted
            values = compute()
            # atomic: a trial killed mid-write would leave a damaged entry for every later trial
            write_text_atomic(json.dumps(values), path)
            return values


def evaluation_cache(cfg: TrainingConfig) -> JsonCache:
    """The cache a trial's ``hinr.evaluate.finish`` shares results through: under the data
    root its config names (``data_root``, else ``$HINR_DATA``, else ``~/.cache/hinr``)."""
    return JsonCache(data_root(cfg.data_root) / CACHE_DIR)
