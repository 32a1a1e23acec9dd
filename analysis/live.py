"""A sweep's Optuna study on disk while it runs, so that ``optuna-dashboard`` can watch it.

``LiveStudy(results_dir).start()`` keeps a journal file, ``<results_dir>/report/live.journal``
(``optuna.storages.journal.JournalFileBackend``: append-only, file-locked, so the dashboard
reads it while the driver writes), holding one study named after the sweep with one Optuna
trial per finished point, exactly as ``launch.py export-optuna`` writes it
(``analysis.optuna_export.point_trials``: seed means, each seed's values, real times).  A
thread reads trials.parquet and appends the points that finished since; ``stop()`` syncs once
more, so the journal holds every finished point when the command ends.

Append-only by design: a point is added once, when it has a finished trial for every seed of
the sweep (a point still missing seeds would otherwise show one seed's luck and never be
corrected).  A point that a later ``extend --seeds`` grows keeps its first entry here; the
exact study after the fact is ``launch.py export-optuna`` (which also takes points with fewer
seeds).  A resumed sweep continues the same study: the keys already in it are not added again.

The period adapts like the Parquet writer's: at least ``PERIOD_S``, and 19x the last sync's
own time, so reading trials.parquet takes at most 1/20 of the driver's time on a big sweep.
``Dashboard``: ``launch.py run|resume|extend --dashboard`` also starts optuna-dashboard on
that journal, on 127.0.0.1 only (a free port, printed), and stops it with the sweep.

Imports optuna, never torch or Ray.
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from contract.schema import REPORT_DIR, TRIALS_FILE

from .load import load_results
from .optuna_export import new_study, objectives, open_storage, point_trials

JOURNAL = "live.journal"
PERIOD_S = 10.0  # the shortest time between two reads of trials.parquet
PERIOD_ENV = "HINR_LIVE_SECONDS"  # overrides PERIOD_S (a positive number of seconds)
KEY_ATTR = "point"  # the user attr holding a point's key (analysis.optuna_export)


def journal_path(results_dir: str | Path) -> Path:
    return Path(results_dir) / REPORT_DIR / JOURNAL


class LiveStudy:
    """The live journal of one sweep (module doc).  ``start()`` / ``stop()`` around the
    sweep; ``sync()`` once, by hand.  Errors in the thread are kept (``error``), never
    raised into the sweep: a dashboard is not worth a stopped sweep."""

    def __init__(self, results_dir: str | Path, period_s: float = PERIOD_S) -> None:
        self.root = Path(results_dir)
        self.path = journal_path(self.root)
        self.period_s = period_s
        self.added: set[str] = set()
        self.study: Any = None
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sync(self) -> int:
        """Append the points that finished since the last call; how many were added (0
        before the sweep wrote its first trials.parquet)."""
        if not (self.root / TRIALS_FILE).is_file():
            return 0
        results = load_results(self.root)
        if results.trials.empty:
            return 0
        names, modes = objectives(results)
        if self.study is None:
            self.study = self._open(results.name, modes, names)
        seeds = len(results.spec.get("seeds") or [0])
        fresh = []
        for key, trial in point_trials(results, names)[0]:
            if key in self.added or len(trial.user_attrs["trial_ids"]) < seeds:
                continue
            fresh.append(trial)
            self.added.add(key)
        if fresh:
            self.study.add_trials(fresh)
        return len(fresh)

    def _open(self, name: str, modes: list[str], names: list[str]) -> Any:
        """The study in the journal: the one a resumed sweep left (its keys read back), or a
        new one."""
        import optuna

        self.path.parent.mkdir(parents=True, exist_ok=True)
        store = open_storage(str(self.path))
        if name in {s.study_name for s in optuna.get_all_study_summaries(store)}:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                study = optuna.load_study(study_name=name, storage=store)
            self.added |= {t.user_attrs.get(KEY_ATTR) for t in study.trials}
            return study
        return new_study(store, name, modes, names)

    def _loop(self) -> None:
        while not self._stop.is_set():
            started = time.perf_counter()
            try:
                self.sync()
                self.error = None  # a later sync caught up: the journal is whole again
            except Exception as err:  # noqa: BLE001 - kept for stop(); the sweep goes on
                self.error = err
            took = time.perf_counter() - started
            self._stop.wait(max(self.period_s, 19 * took))

    def start(self) -> "LiveStudy":
        self._thread = threading.Thread(target=self._loop, name="live-study", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> BaseException | None:
        """End the thread, sync a last time; the error that stopped a sync, if any."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self.sync()
            self.error = None
        except Exception as err:  # noqa: BLE001
            self.error = err
        return self.error


def dashboard_command() -> Path | None:
    """This environment's optuna-dashboard (a dev extra), or None."""
    found = Path(sys.executable).parent / "optuna-dashboard"
    return found if found.is_file() else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Dashboard:
    """optuna-dashboard on a live journal, as a child process: ``start()`` / ``stop()``."""

    def __init__(self, journal: Path, port: int | None = None) -> None:
        self.journal, self.port = Path(journal), port or free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "Dashboard":
        command = dashboard_command()
        if command is None:
            raise FileNotFoundError("optuna-dashboard is not installed here: pip install -e "
                                    "'.[dev]'")
        self.journal.parent.mkdir(parents=True, exist_ok=True)
        self.journal.touch()  # the dashboard opens the file at once; the study comes later
        self.proc = subprocess.Popen(
            [str(command), str(self.journal), "--storage-class", "JournalFileStorage",
             "--host", "127.0.0.1", "--port", str(self.port), "--quiet"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        return self

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Watch:
    """What ``launch.py`` holds around a sweep's stages: the live study and, with
    ``--dashboard``, the dashboard on it."""

    def __init__(self, study: LiveStudy, dashboard: Dashboard | None) -> None:
        self.study, self.dashboard = study, dashboard

    def stop(self) -> None:
        error = self.study.stop()
        if self.dashboard is not None:
            self.dashboard.stop()
        if error is not None:  # the sweep's results are whole; only the live view lagged
            print(f"warning: the live study {self.study.path} could not be updated: "
                  f"{type(error).__name__}: {error}; launch.py export-optuna writes it from "
                  "the records", file=sys.stderr)


def _period() -> float:

    try:
        value = float(os.environ.get(PERIOD_ENV, PERIOD_S))
    except ValueError:
        return PERIOD_S
    return value if math.isfinite(value) and value > 0 else PERIOD_S


def watch(results_dir: str | Path, dashboard: bool = False) -> Watch:
    """Start the live study of ``results_dir`` (and the dashboard on it); print where."""
    study = LiveStudy(results_dir, _period()).start()
    board = Dashboard(study.path).start() if dashboard else None
    if board is not None:
        print(f"dashboard:   {board.url} (optuna-dashboard on {study.path}; stopped with the "
              "sweep)", flush=True)
    return Watch(study, board)
