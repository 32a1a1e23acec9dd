"""How fast is one HyperINR training step, against the machine's peak and a plain reference?

For each preset (default ``small`` and ``paper``), on a batch of MNIST-shaped images
(1 x 28 x 28, the default dataset's shape; random pixels: no step depends on the values):

* FLOPs per image of one training step (forward + backward; Adam's elementwise work is not
  counted), from ``torch.utils.flop_counter.FlopCounterMode`` run on meta tensors (free);
* images/s of full training steps (forward, ``hinr.losses.hyperinr_loss``, backward, Adam), for
  hinr's ``HyperINR`` and optimiser as they are, for hinr without each speed change it made,
  for candidate changes it did not make (``benchmarks/candidates.py``) and for the plain
  reference (``benchmarks/reference.py``: one head per tensor, a Python loop over images for
  the SIREN, default memory format, foreach Adam), all timed round-robin in the same run;
* achieved GFLOP/s as a share of the peak matmul and peak convolution GFLOP/s measured in the
  same run: a 2048^2 matmul and 3x3 and 5x5 convs of the paper encoder's width (256 -> 256
  channels, 28 x 28), NCHW and channels-last, each peak the best of either layout and kernel
  (fp32 rows against the fp32 peaks, bf16 rows against the bf16 peaks);
* a check that every row computes the reference's loss on the same batch from the same weights
  (before training, and again after the timed steps), and that its latents v agree.

Rows (``--rows``):

* ``reference``; ``hinr``: hinr as it is (fp32: channels-last encoder, fused Adam);
* what each change hinr made gives: ``-channels_last`` (NCHW encoder), ``-fused_adam``
  (torch's default foreach Adam);
* candidates hinr did not adopt: ``+batched_heads`` (all hyper-network heads in 3-4 batched
  matmuls), ``+compile`` (torch.compile of model + loss);
* ``bf16``: hinr with ``precision: bf16`` (bf16 autocast of the conv encoder; only where the
  device has native bf16) and ``bf16@B`` the same at ``--large-batch`` images per step.

Default: every row for ``small``; for ``paper`` (about 65 GFLOP per image: ~5-15 s per fp32
step on 2 cores) reference, hinr, -channels_last and bf16, each timed for a few steps within
``--budget-s``.

    python benchmarks/step.py                               # small + paper, ~5 min on 2 cores
    python benchmarks/step.py --presets small --steps 30
    python benchmarks/step.py --presets paper --rows all --budget-s 900
    python benchmarks/step.py --presets paper-k3            # paper with 3x3 residual convs

Timing: a warm-up round (one step of every row, which also builds the oneDNN primitives and
compiles), then rounds of one step per row in turn, so that anything else running on the machine
slows all rows alike.  A row's rate is taken from its fastest step (its median is in the JSON);
the peak kernels run at the start, between rounds and at the end, and each peak is its best
sample: on a shared machine the fastest samples are the least disturbed ones, and rows and
peaks are then measured under the same conditions.  ``--max-s`` (default 540) bounds the run.
Torch's OpenMP threads wait passively by default (``--omp-wait``): on a shared 2-core machine,
spin-waiting threads made every step 4-7x slower whenever anything else ran.  Results go to
``--out`` (default ``benchmarks/results/step.json``) and a table to stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _omp_wait_policy(argv: list[str]) -> str:
    """``--omp-wait`` must act before torch loads OpenMP, so it is read here, ahead of argparse."""
    choice = "passive"
    for i, a in enumerate(argv):
        if a.startswith("--omp-wait="):
            choice = a.split("=", 1)[1]
        elif a == "--omp-wait" and i + 1 < len(argv):
            choice = argv[i + 1]
    if choice in ("passive", "active"):
        os.environ["OMP_WAIT_POLICY"] = choice.upper()
    return os.environ.get("OMP_WAIT_POLICY", "unset (libgomp default: spin ~300k, then sleep)")


OMP_WAIT = _omp_wait_policy(sys.argv[1:]) if __name__ == "__main__" else \
    os.environ.get("OMP_WAIT_POLICY", "unset")

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from benchmarks.candidates import build_variant  # noqa: E402
from benchmarks.reference import ReferenceHyperINR, reference_loss  # noqa: E402
from hinr.config import TrainingConfig, preset  # noqa: E402
from hinr.fitting import adam  # noqa: E402
from hinr.training import native_bf16  # noqa: E402
from hinr.data import grid  # noqa: E402
from hinr.losses import hyperinr_loss  # noqa: E402
from hinr.models import HyperINR  # noqa: E402

CHANNELS, SIZE = 1, (28, 28)  # mnist / mnist-5k, the default dataset
TARGETS = {"paper": 0.85, "paper-k3": 0.85, "small": 0.60, "tiny": 0.0}  # share of conv peak
ALL_ROWS = ("reference", "hinr", "-channels_last", "-fused_adam", "+batched_heads", "+compile",
            "bf16", "bf16@B")
DEFAULT_ROWS = {"small": ALL_ROWS, "tiny": ALL_ROWS,
                "paper": ("reference", "hinr", "-channels_last", "bf16"),
                "paper-k3": ("reference", "hinr", "-channels_last", "bf16")}
# (channels_last, fused_adam, batched_heads, compile, precision) of each hinr row
ROW_OPTIONS = {"hinr": (True, True, False, False, "fp32"),
               "-channels_last": (False, True, False, False, "fp32"),
               "-fused_adam": (True, False, False, False, "fp32"),
               "+batched_heads": (True, True, True, False, "fp32"),
               "+compile": (True, True, False, True, "fp32"),
               "bf16": (True, True, False, False, "bf16"),
               "bf16@B": (True, True, False, False, "bf16")}
LOSS_RTOL = {"float32": 1e-4, "bfloat16": 2e-2}  # initial loss vs the reference's
V_RTOL = {"float32": 1e-3, "bfloat16": 5e-2}  # max |v - v_ref| / max |v_ref|
FINAL_RTOL = {"float32": 2e-3, "bfloat16": 5e-2}  # loss after the timed steps


def preset_config(name: str) -> TrainingConfig:
    if name == "paper-k3":
        return preset("paper", encoder_kernel=3)
    return preset(name)


# --------------------------------------------------------------------------------------
# Timing helpers

def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_rate(fn: Callable[[], object], flops: float, device: torch.device, reps: int) -> float:
    """GFLOP/s of ``fn`` from its fastest of ``reps`` runs, after one warm-up run."""
    fn()
    synchronize(device)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        synchronize(device)
        best = min(best, time.perf_counter() - t)
    return flops / best / 1e9


class Probe:
    """One peak kernel: a large fp32/bf16 matmul or a conv of the paper encoder's width.

    Sampled at the start, between the model's timing rounds and at the end of the run, so that
    the peak and the model steps see the same machine; its peak is its best sample."""

    def __init__(self, kind: str, dtype: torch.dtype, device: torch.device, *, n: int = 0,
                 kernel: int = 3, layout: str = "nchw", batch: int = 16, ch: int = 256,
                 hw: int = 28):
        self.kind, self.dtype = kind, str(dtype).replace("torch.", "")
        self.device = device
        if kind == "matmul":
            a = torch.randn(n, n, device=device, dtype=dtype)
            b = torch.randn(n, n, device=device, dtype=dtype)
            self.name, self.flops = f"matmul_{n}", 2.0 * n ** 3
            self.fn = lambda: a @ b
        else:
            mf = torch.channels_last if layout == "nhwc" else torch.contiguous_format
            x = torch.randn(batch, ch, hw, hw, device=device, dtype=dtype)
            w = torch.randn(ch, ch, kernel, kernel, device=device, dtype=dtype)
            x, w = x.contiguous(memory_format=mf), w.contiguous(memory_format=mf)
            self.name = f"conv{kernel}x{kernel}_{layout}_b{batch}"
            self.flops = 2.0 * batch * ch * ch * kernel * kernel * hw * hw
            self.fn = lambda: F.conv2d(x, w, padding=kernel // 2)
        self.rates: list[float] = []
        self.warm = False

    def sample(self, reps: int = 1) -> None:
        with torch.no_grad():
            if not self.warm:
                self.fn()
                self.warm = True
            for _ in range(reps):
                synchronize(self.device)
                t = time.perf_counter()
                self.fn()
                synchronize(self.device)
                self.rates.append(self.flops / (time.perf_counter() - t) / 1e9)

    @property
    def best(self) -> float:
        return max(self.rates) if self.rates else float("nan")


def make_probes(device: torch.device, dtypes: list[torch.dtype]) -> list[Probe]:
    """A square matmul, and 3x3 and 5x5 convs 256 -> 256 channels on 28 x 28 (the paper
    encoder's residual convs) at batch 16, NCHW and channels-last, per dtype."""
    n = 4096 if device.type == "cuda" else 2048
    probes = []
    for dtype in dtypes:
        probes.append(Probe("matmul", dtype, device, n=n))
        for k in (3, 5):
            for layout in ("nchw", "nhwc"):
                probes.append(Probe("conv", dtype, device, kernel=k, layout=layout))
    return probes


def sample_probes(probes: list[Probe], reps: int = 1) -> None:
    for p in probes:
        p.sample(reps)


def peaks_of(probes: list[Probe]) -> dict[str, dict[str, float]]:
    """{dtype: {probe name: best GFLOP/s, 'matmul': best matmul, 'conv': best conv}}"""
    out: dict[str, dict[str, float]] = {}
    for p in probes:
        d = out.setdefault(p.dtype, {})
        d[p.name] = p.best
        d[p.kind] = max(d.get(p.kind, 0.0), p.best)
    return out


# --------------------------------------------------------------------------------------
# FLOP counting (meta tensors: shapes only, no arithmetic)

def count_flops(cfg: TrainingConfig, batch: int) -> dict[str, float]:
    """FLOPs of one forward + backward of hinr's model and of the reference, per image."""
    with torch.device("meta"):
        model = HyperINR(cfg, CHANNELS, SIZE)
        ref = ReferenceHyperINR.like(model)
        images = torch.empty(batch, CHANNELS, *SIZE)
        coords = torch.empty(SIZE[0] * SIZE[1], 2)
    counter = FlopCounterMode(display=False)
    with counter:
        recon, v, theta = model(images, coords)
        hyperinr_loss(recon, images, v, theta, cfg.a1, cfg.a2)["loss"].backward()
    by_module = counter.get_flop_counts()
    out = {"hinr": counter.get_total_flops() / batch}
    for part in ("encoder", "hyper", "siren"):
        out[part] = sum(by_module.get(f"HyperINR.{part}", {}).values()) / batch
    ref_counter = FlopCounterMode(display=False)
    with ref_counter:
        reference_loss(ref, images, coords, cfg.a1, cfg.a2)["loss"].backward()
    out["reference"] = ref_counter.get_total_flops() / batch
    return out


# --------------------------------------------------------------------------------------
# Rows

@dataclass
class Row:
    name: str
    batch: int
    dtype: str
    step: Callable[[], float]  # one training step; returns the loss before the update
    loss_now: Callable[[torch.Tensor], float]  # loss on images, no update
    latents: Callable[[torch.Tensor], torch.Tensor] | None
    times: list[float] = field(default_factory=list)
    cpu_times: list[float] = field(default_factory=list)  # process CPU seconds per step
    warmup_cpu_s: float = 0.0
    warmup_only: bool = False
    first_loss: float = float("nan")
    warmup_s: float = 0.0


def make_row(name: str, cfg: TrainingConfig, base: HyperINR, images: torch.Tensor,
             coords: torch.Tensor) -> Row:
    batch = len(images)
    if name == "reference":
        model = ReferenceHyperINR.like(base)
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)

        def loss_fn(x: torch.Tensor) -> torch.Tensor:
            return reference_loss(model, x, coords, cfg.a1, cfg.a2)["loss"]

        latents = model.encode
        dtype = "float32"
    else:
        channels_last, fused, heads, _compile, precision = ROW_OPTIONS[name]
        shipped = HyperINR(cfg.replace(precision=precision), base.channels, base.image_size)
        shipped.to(images.device).load_state_dict(base.state_dict())
        model = build_variant(shipped, channels_last=channels_last, batched_heads=heads)
        opt = (adam(model.parameters(), cfg.lr, images.device) if fused
               else torch.optim.Adam(model.parameters(), lr=cfg.lr))

        def loss_fn(x: torch.Tensor) -> torch.Tensor:
            recon, v, theta = model(x, coords)
            return hyperinr_loss(recon, x, v, theta, cfg.a1, cfg.a2)["loss"]

        latents = model.encoder
        dtype = "bfloat16" if precision == "bf16" else "float32"
    device = images.device
    train_loss = torch.compile(loss_fn) if name == "+compile" else loss_fn

    def step() -> float:
        loss = train_loss(images)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        synchronize(device)
        return loss.detach()

    def loss_now(x: torch.Tensor) -> float:
        with torch.no_grad():  # eager, also for +compile: checks the weights it trained
            return float(loss_fn(x))

    return Row(name, batch, dtype, step, loss_now, latents)


def time_rows(rows: list[Row], budget_s: float, min_steps: int, max_steps: int,
              probes: list[Probe], probe_every: int, deadline: float) -> None:
    """One warm-up step per row (not counted in the budget), then round-robin timed steps
    until ``max_steps`` or until the next round would overrun ``budget_s`` or ``deadline``
    (a ``time.perf_counter()`` value).  The peak probes run once every ``probe_every`` rounds.
    Should the warm-up round alone end past the deadline, its steps are the only samples
    (``warmup_only``: they include one-off set-up, so rates are low)."""
    for row in rows:
        c = cpu_seconds()
        t = time.perf_counter()
        row.first_loss = float(row.step())
        row.warmup_s = time.perf_counter() - t
        row.warmup_cpu_s = cpu_seconds() - c
    warm_round = sum(r.warmup_s for r in rows)
    if time.perf_counter() + 0.8 * warm_round > deadline:
        for row in rows:
            row.times.append(row.warmup_s)
            row.cpu_times.append(row.warmup_cpu_s)
            row.warmup_only = True
        return
    left = budget_s
    done = 0
    while done < max_steps:
        t_round = time.perf_counter()
        for row in rows:
            c = cpu_seconds()
            t = time.perf_counter()
            row.step()
            row.times.append(time.perf_counter() - t)
            row.cpu_times.append(cpu_seconds() - c)
        done += 1
        if done % probe_every == 0:
            sample_probes(probes)
        left -= time.perf_counter() - t_round
        round_s = sum(r.times[-1] for r in rows)
        if done >= min_steps and (left < round_s or time.perf_counter() + round_s > deadline):
            break


def cpu_seconds() -> float:
    """CPU time of this process, all threads (user + system)."""
    return time.process_time()


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-12)


def run_preset(name: str, rows_wanted: list[str], args: argparse.Namespace,
               device: torch.device, bf16_ok: bool, budget_s: float, probes: list[Probe],
               deadline: float) -> dict:
    cfg = preset_config(name)
    batch = args.batch_size or cfg.batch_size
    flops = count_flops(cfg, batch)
    torch.manual_seed(args.seed)
    base = HyperINR(cfg, CHANNELS, SIZE).to(device)
    gen = torch.Generator().manual_seed(args.seed + 1)
    images = (torch.rand(batch, CHANNELS, *SIZE, generator=gen) * 2 - 1).to(device)
    big = (torch.rand(args.large_batch, CHANNELS, *SIZE, generator=gen) * 2 - 1).to(device)
    coords = grid(*SIZE, device=device)

    skipped = {}
    names = []
    for r in rows_wanted:
        if "bf16" in r and not bf16_ok:
            skipped[r] = "no native bf16 on this device"
        elif r == "+compile" and name not in args.compile:
            skipped[r] = f"torch.compile not asked for {name} (--compile)"
        elif r == "+batched_heads" and cfg.hyper_layers != 1:
            # candidates.BatchedHyperNetwork batches one-hidden-layer heads only (`--rows all`
            # on paper, whose heads are SIREN's depth, used to stop the whole run here)
            skipped[r] = f"heads of {cfg.hyper_layers} hidden layers (batched for 1 only)"
        else:
            names.append(r)
    rows = []
    for r in names:
        x = big if r == "bf16@B" else images
        rows.append(make_row(r, cfg, base, x, coords))
        if r == "bf16@B":
            rows[-1].name = f"bf16@{args.large_batch}"

    # the reference's loss and latents from the initial weights, on each batch used
    ref0 = ReferenceHyperINR.like(base)
    with torch.no_grad():
        ref_loss0 = {}
        for x in (images, big) if any(r.batch == len(big) for r in rows) else (images,):
            ref_loss0[len(x)] = float(reference_loss(ref0, x, coords, cfg.a1, cfg.a2)["loss"])
        v_ref = ref0.encode(images[:8])
    del ref0
    v_err = {}
    with torch.no_grad():
        for row in rows:
            if row.latents is not None:
                v = row.latents(images[:8]).float()
                scale = v_ref.abs().max().clamp_min(1e-12)
                v_err[row.name] = float((v - v_ref).abs().max() / scale)

    t0 = time.perf_counter()
    steps_cap = args.steps if args.steps else (30 if flops["hinr"] < 5e9 else 3)
    big_model = flops["hinr"] * batch > 5e10  # seconds per step: probe every round
    min_steps = 1 if big_model else 3
    time_rows(rows, budget_s, min_steps, steps_cap, probes, 1 if big_model else 5, deadline)
    timing_s = time.perf_counter() - t0

    # after the same steps on the same batch, every row should still agree with the reference
    check_x = images[:8]
    final = {row.name: row.loss_now(check_x) for row in rows if row.batch == len(images)}
    ref_final = final.get("reference")

    out_rows = []
    ref_best = None
    for row in rows:
        best = min(row.times)
        med = statistics.median(row.times)
        ips = row.batch / best
        gflops = flops["hinr"] * ips / 1e9
        pk = peaks_of(probes)[row.dtype]
        loss_err = rel(row.first_loss, ref_loss0[row.batch])
        final_err = rel(final[row.name], ref_final) if (row.name in final and ref_final) else None
        ok = (loss_err <= LOSS_RTOL[row.dtype]
              and v_err.get(row.name, 0.0) <= V_RTOL[row.dtype]
              and (final_err is None or final_err <= FINAL_RTOL[row.dtype]))
        rec = {"preset": name, "row": row.name, "dtype": row.dtype, "batch": row.batch,
               "gflop_per_image": flops["hinr"] / 1e9, "images_per_s": ips,
               "images_per_s_median": row.batch / med, "gflop_per_s": gflops,
               "pct_matmul_peak": 100 * gflops / pk["matmul"],
               "pct_conv_peak": 100 * gflops / pk["conv"],
               "steps_timed": len(row.times), "step_s_best": best, "step_s_median": med,
               "cpu_ms_per_image": 1e3 * statistics.median(row.cpu_times) / row.batch,
               "warmup_s": row.warmup_s, "warmup_only": row.warmup_only,
               "loss_first": row.first_loss,
               "loss_rel_err_vs_reference": loss_err, "v_rel_err_vs_reference": v_err.get(row.name),
               "loss_after_steps": final.get(row.name),
               "loss_after_rel_err_vs_reference": final_err, "check_ok": ok}
        if row.name == "reference":
            ref_best = ips
        out_rows.append(rec)
    for rec in out_rows:
        rec["speedup_vs_reference"] = rec["images_per_s"] / ref_best if ref_best else None
    return {"preset": name, "config": {k: getattr(cfg, k) for k in (
                "latent_dim", "inr_depth", "inr_width", "hyper_hidden", "encoder_channels",
                "encoder_blocks", "encoder_kernel", "batch_size", "lr")},
            "batch": batch, "flops_per_image": flops, "rows": out_rows, "skipped": skipped,
            "timing_s": timing_s}


# --------------------------------------------------------------------------------------
# Report

def print_table(presets: list[dict], peaks: dict) -> None:
    print()
    for dt, pk in peaks.items():
        parts = ", ".join(f"{k} {v:.0f}" for k, v in pk.items() if k not in ("matmul", "conv"))
        print(f"peak {dt} GFLOP/s: matmul {pk['matmul']:.0f}, conv {pk['conv']:.0f}  ({parts})")
    head = (f"{'preset':9} {'row':18} {'dtype':8} {'batch':>5} {'GFLOP/img':>9} {'img/s':>8} "
            f"{'GFLOP/s':>8} {'%mm pk':>7} {'%conv pk':>8} {'x ref':>6} {'cpu ms/img':>10} "
            f"{'steps':>5} check")
    print(head)
    print("-" * len(head))
    for p in presets:
        for r in p["rows"]:
            spd = f"{r['speedup_vs_reference']:.2f}" if r["speedup_vs_reference"] else "-"
            steps = "w-up" if r["warmup_only"] else str(r["steps_timed"])
            print(f"{r['preset']:9} {r['row']:18} {r['dtype']:8} {r['batch']:5d} "
                  f"{r['gflop_per_image']:9.3f} {r['images_per_s']:8.1f} {r['gflop_per_s']:8.1f} "
                  f"{r['pct_matmul_peak']:6.1f}% {r['pct_conv_peak']:7.1f}% {spd:>6} "
                  f"{r['cpu_ms_per_image']:10.2f} {steps:>5} "
                  f"{'ok' if r['check_ok'] else 'MISMATCH'}")
        for r, why in p["skipped"].items():
            print(f"{p['preset']:9} {r:18} skipped: {why}")
    print("(rates from each row's fastest step; % of the peak of the row's dtype; x ref: "
          "images/s over the reference's;\n cpu ms/img: median process CPU time per image, all "
          "threads: the work a row costs, little moved by other load on the machine)")


def closing_note(presets: list[dict]) -> list[str]:
    """What each change gives: the ones hinr made (hinr over hinr without it), the candidates
    (the row over hinr) and bf16; and the verdict on the targets."""
    lines = []
    for p in presets:
        rows = {r["row"]: r for r in p["rows"]}
        hinr = rows.get("hinr")
        if hinr is None:
            continue
        gains = []
        for name, r in rows.items():
            if name in ("hinr", "reference") or r["batch"] != hinr["batch"]:
                continue
            made = name.startswith("-")  # a change hinr made: what it gives is hinr over the row
            g = hinr["images_per_s"] / r["images_per_s"] if made else \
                r["images_per_s"] / hinr["images_per_s"]
            gc = r["cpu_ms_per_image"] / hinr["cpu_ms_per_image"] if made else \
                hinr["cpu_ms_per_image"] / r["cpu_ms_per_image"]
            verdict = "pays" if max(g, gc) >= 1.05 else ("no gain" if g >= 0.97 else "slower")
            label = f"{name[1:]} (in hinr)" if made else name
            gains.append(f"{label} x{g:.2f} wall, x{gc:.2f} cpu ({verdict})")
        for name, r in rows.items():
            if r["batch"] != hinr["batch"]:
                base = rows.get("bf16")
                if base:
                    gains.append(f"{name} x{r['images_per_s'] / base['images_per_s']:.2f} "
                                 f"over bf16 at batch {base['batch']}")
        lines.append(f"{p['preset']}: " + "; ".join(gains))
        target = TARGETS.get(p["preset"], 0.0) * 100
        fp32 = [r for r in p["rows"] if r["dtype"] == "float32" and r["row"] != "reference"]
        best = max(fp32, key=lambda r: r["pct_conv_peak"]) if fp32 else None
        ref = rows.get("reference")
        if best:
            met = "met" if hinr["pct_conv_peak"] >= target else "not met"
            line = (f"{p['preset']}: hinr {hinr['pct_conv_peak']:.0f}% of the fp32 conv peak "
                    f"(target {target:.0f}%: {met}); best fp32 row {best['row']} "
                    f"{best['pct_conv_peak']:.0f}%")
            if ref:
                line += f"; hinr vs reference x{hinr['images_per_s'] / ref['images_per_s']:.2f}"
            lines.append(line)
        bad = [r["row"] for r in p["rows"] if not r["check_ok"]]
        lines.append(f"{p['preset']}: loss check " + ("ok for every row" if not bad
                                                      else f"FAILED for {', '.join(bad)}"))
    return lines


def load_avg() -> list[float] | None:
    try:
        return list(os.getloadavg())
    except OSError:
        return None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="small,paper",
                    help="comma-separated: small, paper, paper-k3 (paper with 3x3 convs), tiny")
    ap.add_argument("--rows", default="default",
                    help="'default', 'all', or a comma-separated list from: " + ", ".join(ALL_ROWS))
    ap.add_argument("--batch-size", type=int, default=0, help="images per step (0: the preset's)")
    ap.add_argument("--large-batch", type=int, default=128, help="batch of the bf16@B row")
    ap.add_argument("--compile", default="small",
                    help="presets that get the +compile row (comma-separated, or 'none'); "
                         "compiling takes ~1 min per preset on 2 cores")
    ap.add_argument("--steps", type=int, default=0,
                    help="timed steps per row (0: 30 for small models, 3 for paper; the budget "
                         "may stop earlier)")
    ap.add_argument("--budget-s", type=float, default=240.0,
                    help="seconds of timed steps for all presets together (split by FLOPs)")
    ap.add_argument("--max-s", type=float, default=540.0,
                    help="wall-clock limit: stop timing (after one timed step) and skip presets "
                         "not started once past it")
    ap.add_argument("--peak-reps", type=int, default=3,
                    help="samples of each peak kernel at the start and at the end")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    ap.add_argument("--omp-wait", default="passive", choices=("passive", "active", "env"),
                    help="OMP_WAIT_POLICY for torch's OpenMP threads (env: leave as set).  "
                         "passive (default): waiting threads sleep; with anything else running "
                         "on 2 cores, spinning threads made steps 4-7x slower here")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "step.json"))
    args = ap.parse_args(argv)
    args.presets = [p.strip() for p in args.presets.split(",") if p.strip()]
    for p in args.presets:
        if p != "paper-k3":
            preset(p)  # raises ConfigError naming the allowed presets
    args.compile = [] if args.compile == "none" else [p.strip() for p in args.compile.split(",")]
    return args


def rows_for(name: str, spec: str) -> list[str]:
    if spec == "default":
        return list(DEFAULT_ROWS.get(name, ALL_ROWS))
    if spec == "all":
        return list(ALL_ROWS)
    rows = [r.strip() for r in spec.split(",") if r.strip()]
    unknown = [r for r in rows if r not in ALL_ROWS]
    if unknown:
        raise SystemExit(f"unknown row(s) {unknown}; allowed: {', '.join(ALL_ROWS)}")
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if args.device == "auto" else args.device))
    bf16_ok = native_bf16(device)
    started = time.perf_counter()
    load_start = load_avg()
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} threads, "
          f"OMP_WAIT_POLICY {OMP_WAIT}, cpu capability "
          f"{torch.backends.cpu.get_cpu_capability()}, native bf16: {bf16_ok}, "
          f"load average {load_avg()}", flush=True)
    dtypes = [torch.float32] + ([torch.bfloat16] if bf16_ok else [])
    probes = make_probes(device, dtypes)
    sample_probes(probes, args.peak_reps)
    print("peaks (start): " + "; ".join(
        f"{dt} matmul {p['matmul']:.0f} conv {p['conv']:.0f} GFLOP/s"
        for dt, p in peaks_of(probes).items()), flush=True)
    deadline = started + args.max_s

    # split the timing budget by each preset's cost (FLOPs per step), at least 25% each: a
    # small preset's steps are short but it has more rows and needs more of them on a busy machine
    costs = {}
    for name in args.presets:
        cfg = preset_config(name)
        costs[name] = count_flops(cfg, args.batch_size or cfg.batch_size)["hinr"]
    total = sum(costs.values())
    shares = {n: max(0.25, c / total) for n, c in costs.items()}
    norm = sum(shares.values())

    results, not_run = [], []
    for name in args.presets:
        if time.perf_counter() > deadline:
            not_run.append(name)
            print(f"{name}: not run, past --max-s {args.max_s:.0f}s", flush=True)
            continue
        budget = args.budget_s * shares[name] / norm
        print(f"[{time.perf_counter() - started:6.0f}s] {name}: timing, budget {budget:.0f}s",
              flush=True)
        results.append(run_preset(name, rows_for(name, args.rows), args, device, bf16_ok, budget,
                                  probes, deadline))
        for r in results[-1]["rows"]:
            print(f"    {r['row']:18} {r['images_per_s']:8.1f} img/s "
                  f"({r['steps_timed']} steps, warm-up {r['warmup_s']:.1f}s)", flush=True)

    sample_probes(probes, args.peak_reps)
    peaks = peaks_of(probes)
    for p in results:  # re-rate every row against the best peaks seen in the run
        for r in p["rows"]:
            pk = peaks[r["dtype"]]
            r["pct_matmul_peak"] = 100 * r["gflop_per_s"] / pk["matmul"]
            r["pct_conv_peak"] = 100 * r["gflop_per_s"] / pk["conv"]
    print_table(results, peaks)
    note = closing_note(results)
    print()
    for line in note:
        print(line)
    if not_run:
        note.append(f"not run (past --max-s): {', '.join(not_run)}")
    elapsed = time.perf_counter() - started
    busy = load_avg()
    print(f"total {elapsed:.0f}s, load average {busy}")
    if busy and busy[0] > torch.get_num_threads() + 0.5:
        print("warning: the machine was busy (load average above the thread count): rates are "
              "low and noisy; each row's fastest step and each peak's best sample are the least "
              "disturbed, but rerun on an idle machine for numbers to quote")

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"torch": torch.__version__, "device": str(device),
               "threads": torch.get_num_threads(), "omp_wait_policy": OMP_WAIT,
               "python": platform.python_version(),
               "cpu_capability": torch.backends.cpu.get_cpu_capability(),
               "native_bf16": bf16_ok, "peaks_gflop_s": peaks,
               "peak_samples": {f"{p.dtype}/{p.name}": p.rates for p in probes},
               "presets": results, "note": note, "load_average_start": load_start,
               "load_average_end": load_avg(), "seconds": elapsed,
               "argv": sys.argv[1:]}
    out.write_text(json.dumps(payload, indent=2, default=float))
    print(f"wrote {out}")
    return 0 if all(r["check_ok"] for p in results for r in p["rows"]) else 1


if __name__ == "__main__":
    sys.exit(main())
