"""The commands the console suggests, spelled so that they run as printed.

``python launch.py report DIR`` fails outside the virtual environment (the system Python has
none of the dependencies: a traceback on the first import), and ``tensorboard`` is not on
PATH unless the environment is activated.  So every suggestion names the interpreter that is
running now, as the user can type it: ``.venv/bin/python`` for this checkout's environment
(relative, as the README's commands are), ``python`` where that is the same interpreter on
PATH, else its absolute path; and the tensorboard beside it.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

LAUNCH = Path(__file__).resolve().parent.parent / "launch.py"


def _typed(executable: Path) -> str:
    """``executable`` as the user types it from the checkout: relative inside it, else as is."""
    try:
        return str(executable.relative_to(Path.cwd()))
    except ValueError:
        return str(executable)


def python_command() -> str:
    """The running interpreter as a command: ``python`` when PATH finds this very one."""
    # Paths compared as they are, never resolved: a venv's python is a link to the system's,
    # and the system's python (on PATH) lacks the venv's packages.
    on_path = shutil.which("python")
    if on_path and os.path.abspath(on_path) == os.path.abspath(sys.executable):
        return "python"
    # the venv's own path, not its resolved target (a venv's python links to the system one)
    return _typed(Path(os.path.abspath(sys.executable)))


def launch_command() -> str:
    """``<python> launch.py``: the prefix of every launch.py suggestion (launch.py by its
    path from the working directory: plain ``launch.py`` in the checkout)."""
    return f"{python_command()} {_typed(LAUNCH)}"


def tensorboard_command(logdir: os.PathLike | str) -> str:
    """TensorBoard for ``logdir``: the console script beside the interpreter (the venv's),
    by name where PATH finds that one, else through the interpreter."""
    beside = Path(os.path.abspath(sys.executable)).parent / "tensorboard"
    if not beside.is_file():
        return f"{python_command()} -m tensorboard.main --logdir {logdir}"
    on_path = shutil.which("tensorboard")
    same = on_path and os.path.abspath(on_path) == str(beside)
    return f"{'tensorboard' if same else _typed(beside)} --logdir {logdir}"
