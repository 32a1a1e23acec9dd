"""Print the packages whose installed version differs from requirements.lock (`make test-latest`).

Run with the interpreter of the environment to compare: it reads that environment's installed
distributions (importlib.metadata) and the lock's `name==version` pins, and prints one table
row per package that is newer, older, missing, or installed but not in the lock.  Always exits
0: the drift is information, the tests that follow are the verdict.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def canonical(name: str) -> str:
    """PEP 503 normalised name: the lock and the metadata spell some names differently."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked(lock: Path) -> dict[str, str]:
    return {canonical(m.group(1)): m.group(2)
            for m in map(PIN.match, lock.read_text().splitlines()) if m}


def installed() -> dict[str, str]:
    return {canonical(d.metadata["Name"]): d.version for d in metadata.distributions()
            if d.metadata["Name"]}


def drift(lock: dict[str, str], have: dict[str, str]) -> list[tuple[str, str, str]]:
    """(package, locked, installed) for every package whose version is not the lock's; the
    project itself and the installer's own tools are left out."""
    skip = {"hinr-sweeps", "pip", "wheel"}
    rows = [(name, lock.get(name, "-"), have.get(name, "-"))
            for name in sorted(set(lock) | set(have)) if name not in skip]
    return [row for row in rows if row[1] != row[2]]


def main(argv: list[str]) -> int:
    lock_path = Path(argv[1] if len(argv) > 1 else "requirements.lock")
    rows = drift(locked(lock_path), installed())
    if not rows:
        print(f"drift: none; every package is at its {lock_path} version")
        return 0
    print(f"drift: {len(rows)} package(s) differ from {lock_path}")
    width = max(len(r[0]) for r in rows)
    print(f"  {'package':<{width}}  {'locked':<14} newest allowed")
    for name, pinned, now in rows:
        print(f"  {name:<{width}}  {pinned:<14} {now}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
