"""``launch.py run --dry-run``: what a sweep would run and cost, printed; nothing written."""

from __future__ import annotations

from pathlib import Path

from .design import build, describe as describe_design
from .estimate import DEFAULT_GPU_TFLOPS, describe, measured_gflops, trial_cost


def print_dry_run(spec, results_dir: Path, gpu_tflops: float | None = None) -> None:
    """The trials (a design: its matrix and aliases instead), where they would go, and what
    they would cost (sweeps/estimate.py); writes nothing."""
    rows = spec.trial_configs()
    keys = list(rows[0]) if rows else []
    print(f"sweep {spec.name}: {spec.num_trials()} trials ({spec.search} search, "
          f"{spec.scheduler['type']} scheduler), preset {spec.preset}, "
          f"{spec.base_config.epochs} epochs each, resources {spec.resources}")
    if not spec.search_type.enumerates:
        print(f"  {spec.num_samples} points drawn by {spec.search}, each run with seeds {spec.seeds}")
    if spec.design is not None:  # the design matrix and its aliases, not one row per trial
        print(describe_design(build(spec.design, spec.axes), spec.seeds, spec.num_samples))
    else:
        widths = [max(len(k), *(len(str(r[k])) for r in rows)) for k in keys]
        print("  " + "  ".join(k.ljust(w) for k, w in zip(keys, widths)))
        for r in rows:
            print("  " + "  ".join(str(r[k]).ljust(w) for k, w in zip(keys, widths)))
    print(f"results would go to {results_dir}")

    # Price one trial per distinct model shape; other axes change the cost negligibly.
    shape_keys = ("latent_dim", "inr_depth", "inr_width", "hyper_hidden", "hyper_layers",
                  "encoder_channels", "encoder_blocks", "encoder_kernel", "dataset", "variant",
                  "epochs", "train_subset")
    cache, costs = {}, []
    for row in rows:
        fields = {k: v for k, v in row.items() if k in shape_keys and not isinstance(v, str)
                  or k in ("dataset", "variant")}
        cfg = spec.base_config.replace(**fields)
        key = tuple(getattr(cfg, k) for k in shape_keys)
        if key not in cache:
            cache[key] = trial_cost(cfg)
        costs.append(cache[key])
    # The rows are one pass (grid: every trial; random/optuna: seeds x grid axes of one draw),
    # so price num_trials() trials by cycling through them, whichever is longer.
    costs = [costs[i % len(costs)] for i in range(spec.num_trials())]
    print(describe(costs, measured_gflops(spec.base_config), spec.resources["gpus"],
                   gpu_tflops or DEFAULT_GPU_TFLOPS))
