"""Where a stage ran, as far as the numbers can depend on it: the CPU, the instruction sets
its kernels may use, and the torch build.

Two runs of unchanged code on two machines moved plain test PSNR by 0.27 dB (issue 41), more
than the seed spread: oneDNN and torch pick kernels by the CPU's instruction sets (AVX2,
AVX-512, AMX), and floating-point sums differ between them.  So every sweep's provenance and
every stage in sweep.yaml record this, and an analysis that pools runs can say whether they
ran alike (``analysis.model_effects`` treats each run as a block either way).
"""

from __future__ import annotations

import os
import platform
from typing import Any

#: the CPU flags that choose kernels (oneDNN's ISA levels, FMA, bf16 and AMX units)
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16",
             "amx_tile", "amx_bf16", "amx_int8")
#: environment variables that limit or steer the kernels (oneDNN's ISA cap, MKL's code path)
ISA_ENV = ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS",
           "ATEN_CPU_CAPABILITY")


def cpu_info(text: str | None = None) -> dict[str, Any]:
    """The CPU model and its kernel-choosing flags, from /proc/cpuinfo (``text``: its content,
    for tests); the model from ``platform`` where /proc is not there."""
    if text is None:
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
                text = handle.read(1 << 20)
        except OSError:
            text = ""
    model, flags = None, set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "model name" and model is None:
            model = value.strip()
        elif key == "flags" and not flags:
            flags = set(value.split())
    return {"cpu_model": model or platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "isa_flags": [f for f in ISA_FLAGS if f in flags]}


def environment() -> dict[str, Any]:
    """``cpu_info`` plus the torch build and the ISA torch dispatches to here, and the
    variables of ``ISA_ENV`` that are set."""
    out = cpu_info()
    out["isa_env"] = {k: os.environ[k] for k in ISA_ENV if k in os.environ}
    try:
        import torch  # the driver has it loaded already; status and report never call this
        out["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
        out["torch_git_version"] = (torch.version.git_version or "")[:12] or None
        out["mkldnn"] = bool(torch.backends.mkldnn.is_available())
    except Exception as err:  # noqa: BLE001 - a provenance field, never a failed sweep
        out["torch_cpu_capability"] = f"unknown ({type(err).__name__})"
    return out
