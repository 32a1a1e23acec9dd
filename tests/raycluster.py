"""A real Ray cluster of several nodes on loopback, started with ``ray start`` (token auth on),
and stopped by killing only the processes it started (found by its own temp dir)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAY = str(Path(sys.executable).parent / "ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LocalCluster:
    def __init__(self, workers: int = 1, cpus_per_node: int = 1):
        # Unix socket paths live under the temp dir and must stay short (< 108 bytes).
        self.temp_dir = tempfile.mkdtemp(prefix="hr", dir="/tmp")
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.env = {**os.environ, "RAY_AUTH_MODE": "token"}
        self.cpus = cpus_per_node
        self._run("start", "--head", f"--port={self.port}", "--node-ip-address=127.0.0.1",
                  f"--num-cpus={cpus_per_node}", "--num-gpus=0", "--include-dashboard=false",
                  f"--temp-dir={self.temp_dir}", "--disable-usage-stats")
        for _ in range(workers):
            self.add_worker()

    def _run(self, *args: str) -> None:
        proc = subprocess.run([RAY, *args], env=self.env, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise RuntimeError(f"ray {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")

    def add_worker(self) -> None:
        before = set(self.raylet_pids())
        self._run("start", f"--address={self.address}", "--node-ip-address=127.0.0.1",
                  f"--num-cpus={self.cpus}", "--num-gpus=0", "--disable-usage-stats")
        deadline = time.time() + 30
        while time.time() < deadline and len(set(self.raylet_pids()) - before) < 1:
            time.sleep(0.2)

    def pids(self) -> list[int]:
        """Every process of this cluster: their command lines name its temp dir."""
        out = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == os.getpid():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if self.temp_dir in cmdline:
                out.append(int(entry.name))
        return out

    def raylet_pids(self) -> list[int]:
        """Raylets in start order (the head's first)."""
        found = []
        for pid in self.pids():
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
                started = Path(f"/proc/{pid}/stat").read_text().split()[21]
            except OSError:
                continue
            if cmd.endswith(b"raylet"):
                found.append((int(started), pid))
        return [pid for _, pid in sorted(found)]

    def kill_node(self, raylet: int) -> None:
        """A machine dies: its raylet and every process below it (its workers, so its trials)
        at once.  Killing only the raylet leaves its workers to notice on their own, and a
        trial close to its end could finish first."""
        for pid in [*descendants(raylet), raylet]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def worker_node_ids(self) -> dict[str, int]:
        """{node id: raylet pid} of the worker nodes (not the head), from the raylets' flags."""
        out = {}
        for pid in self.raylet_pids()[1:]:
            for arg in cmdline(pid).split():
                if arg.startswith("--node_id="):
                    out[arg.split("=", 1)[1]] = pid
        return out

    def stop(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in self.pids():
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.time() + 10
            while self.pids() and time.time() < deadline:
                time.sleep(0.2)


def descendants(pid: int) -> list[int]:
    """All processes below ``pid`` (children, grandchildren, ...), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, stack = [], [pid]
    while stack:
        for child in children.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
