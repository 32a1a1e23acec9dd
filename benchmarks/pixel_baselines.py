"""The pixel baselines under each pixel standardisation, measured by the product itself.

For each ``pixel_standardization`` (``none``: the raw [-1, 1] pixels of every result before
issue 26; ``channel``: the default; ``position``: per pixel) and each seed, builds the
``TrainingRun`` a trial would (same split, validation held out, same probe budget) and calls
the evaluation's own ``hinr.evaluate.pixel_baselines``: no model is trained but the baselines,
and nothing here re-implements them.  Results go through the product's cache under the data
root (``sweeps.cache``), so a second run is instant.

    python benchmarks/pixel_baselines.py                          # mnist-5k, seeds 0 1 2
    python benchmarks/pixel_baselines.py --dataset mnist --seeds 0  # full MNIST, if on disk
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hinr import TrainingRun, preset  # noqa: E402
from hinr.config import PIXEL_STANDARDIZATIONS  # noqa: E402
from hinr.evaluate import pixel_baselines  # noqa: E402
from sweeps.cache import evaluation_cache  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", default="mnist-5k")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--probe-epochs", type=int, default=10,
                        help="epochs of each baseline (the presets' probe_epochs: 10)")
    parser.add_argument("--modes", nargs="+", default=list(PIXEL_STANDARDIZATIONS),
                        choices=PIXEL_STANDARDIZATIONS)
    args = parser.parse_args(argv)
    print(f"dataset {args.dataset}, probe_epochs {args.probe_epochs}, seeds {args.seeds}")
    print(f"{'pixel_standardization':<22} {'pixel_mlp_acc %':>28} {'pixel_cnn_acc %':>28}")
    for mode in args.modes:
        accs: dict[str, list[float]] = {"pixel_mlp_acc": [], "pixel_cnn_acc": []}
        start = time.perf_counter()
        for seed in args.seeds:
            # small: the preset the CPU sweeps run; the baselines depend on none of its sizes
            cfg = preset("small", dataset=args.dataset, seed=seed, device="cpu",
                         probe_epochs=args.probe_epochs, pixel_standardization=mode)
            metrics, _ = pixel_baselines(TrainingRun(cfg), evaluation_cache(cfg))
            for name, value in metrics.items():
                accs[name].append(100 * value)
        cells = []
        for name in ("pixel_mlp_acc", "pixel_cnn_acc"):
            values = accs[name]
            spread = f" +-{statistics.stdev(values):.2f}" if len(values) > 1 else ""
            cells.append(f"{statistics.mean(values):.2f}{spread} "
                         f"[{' '.join(f'{v:.2f}' for v in values)}]")
        print(f"{mode:<22} {cells[0]:>28} {cells[1]:>28}   ({time.perf_counter() - start:.0f} s)",
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
