"""Synthetic sweeps whose truth is known, for the importance tests (tests/test_explore.py).

``write_random_results``: a random search over three factors, every point run with
``RANDOM_SEEDS``: ``lr`` (loguniform) dominates validation PSNR (3 dB per decade), ``a1``
(uniform) is inert, ``latent_dim`` (a choice of three) adds a little; plus seed noise.
Drawn from a fixed generator, so every run writes the same files.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import yaml

import analysis_fixtures as fx

RANDOM_SEEDS = [0, 1, 2]
RANDOM_POINTS = 24
LR_DB_PER_DECADE = 3.0
LATENT_DB = {8: 0.0, 16: 0.3, 32: 0.6}
NOISE_DB = 0.3
#: when the first trial finished; each later one (points in order, seeds within) a minute after
FIRST_END = datetime(2026, 12, 1, 9, 0, tzinfo=timezone.utc)


def random_spec(sweep: str = "random") -> dict:
    return {"name": sweep, "base": {"preset": "tiny", "epochs": 3},
            "axes": {"lr": {"loguniform": [1e-4, 1e-1]}, "a1": {"uniform": [0.0, 1.0]},
                     "latent_dim": {"choice": [8, 16, 32]}},
            "seeds": RANDOM_SEEDS, "search": "random", "metric": "val_psnr", "mode": "max",
            "budget": {"num_samples": RANDOM_POINTS}}


def random_rows(sweep: str = "random") -> list[dict]:
    rng = np.random.default_rng(7)
    rows = []
    for p in range(RANDOM_POINTS):
        lr = float(10 ** rng.uniform(-4, -1))
        a1 = float(rng.uniform(0, 1))
        latent = int(rng.choice(list(LATENT_DB)))
        for seed in RANDOM_SEEDS:
            psnr = 20.0 + LR_DB_PER_DECADE * (np.log10(lr) + 2.5) + LATENT_DB[latent] \
                + rng.normal(0, NOISE_DB)
            row = fx._row(sweep, f"p{p:02d}_s{seed}", "completed", 1.0, seed, metrics={
                "val_psnr": psnr, "test_psnr": psnr - 0.1,
                # accuracy rises with latent size only (a second objective to rank)
                "val_latent_acc": 0.9 + 0.001 * latent, "latent_acc": 0.9})
            row.pop("config.a2")
            row.update({"config.lr": lr, "config.a1": a1, "config.latent_dim": latent,
                        "finished_at": FIRST_END + timedelta(minutes=len(rows))})
            rows.append(row)
    return rows


def write_random_results(root: Path, sweep: str = "random") -> Path:
    fx.write_results(root, sweep, rows=random_rows(sweep), with_spec=False)
    (Path(root) / "sweep.yaml").write_text(yaml.safe_dump(random_spec(sweep)))
    return Path(root)
