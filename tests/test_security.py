"""Nothing the project reads back can run code; the embedded Ray serves no dashboard and
requires a token."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from hinr import TrainingRun, preset
from sweeps.checkpoint import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent


class _Payload:
    """Unpickling this runs code: it touches a marker file."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_checkpoint_with_code_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    bad = tmp_path / "state.pt"
    bad.write_bytes(pickle.dumps({"model": _Payload(marker)}))
    exp = TrainingRun(preset("tiny", train_subset=64, test_subset=32))
    with pytest.raises(pickle.UnpicklingError):
        load_checkpoint(exp, str(bad))
    assert not marker.exists()


def test_sweep_file_with_python_tags_is_refused(tmp_path):
    from sweeps.spec import SpecError, load_spec

    marker = tmp_path / "pwned"
    bad = tmp_path / "evil.yaml"
    bad.write_text(f"name: !!python/object/apply:pathlib.Path.touch [!!python/object/apply:pathlib.Path ['{marker}']]\n")
    with pytest.raises(SpecError):
        load_spec(bad)
    assert not marker.exists()


def test_no_unsafe_loaders_in_the_code():
    sources = [p for d in ("contract", "hinr", "sweeps", "analysis")
               for p in (ROOT / d).glob("*.py")]
    sources.append(ROOT / "launch.py")
    for path in sources:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if "torch.load(" in line:
                assert "weights_only=True" in line, f"{path}:{n}"
            if "yaml.load(" in line or "yaml.unsafe_load(" in line:
                assert "SafeLoader" in line, f"{path}:{n}"
            assert "pickle.load(" not in line, f"{path}:{n}"


def _listening_ports(pids: set[int]) -> set[int]:
    inodes = set()
    for pid in pids:
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = str(fd.readlink())
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A = LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_embedded_ray_has_no_dashboard_and_uses_tokens():
    script = (
        "import os, sys, json\n"
        "from sweeps.tune.cluster import _start_ray\n"
        "_start_ray(None)\n"
        "import ray\n"
        "print(json.dumps({'auth': os.environ.get('RAY_AUTH_MODE'), 'pid': os.getpid()}))\n"
        "sys.stdout.flush()\n"
        "input()\n"
        "ray.shutdown()\n")
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        import json

        line = proc.stdout.readline()
        while line and not line.startswith("{"):  # Ray may print its banner first
            line = proc.stdout.readline()
        info = json.loads(line)
        from .raycluster import descendants

        ports = _listening_ports({info["pid"], *descendants(info["pid"])})
        assert info["auth"] == "token"
        assert ports, "embedded Ray listens nowhere?"
        assert 8265 not in ports  # the dashboard's HTTP port
    finally:
        proc.communicate("\n", timeout=60)
