"""How large a sweep's largest model is, and whether it may be trained at all: parameters
counted on torch's meta device (shapes only), against ``MAX_MODEL_PARAMS`` and the memory of
the largest node.  Apart from the file's validation because it needs torch and hinr's models
(1.6 s to import), which validating a sweep file never should.
"""

from __future__ import annotations

import itertools

from .estimate import DATASET_SHAPES
from .spec import SweepSpec
from .specerror import SpecError
from .specfields import bounds

# Parameters of the largest model a trial may build (the paper's model has 65 M); training
# holds at least 16 bytes per parameter (weights, gradients, two Adam moments).
MAX_MODEL_PARAMS = 1_000_000_000
TRAIN_BYTES_PER_PARAM = 16
# Model-size fields: the parameter count grows with each, so the largest model of a sweep is
# the one with each at its largest value.
SIZE_FIELDS = ("latent_dim", "inr_depth", "inr_width", "hyper_hidden", "hyper_layers",
               "encoder_channels", "encoder_blocks", "encoder_kernel")

def model_params(spec: SweepSpec) -> int:
    """Parameters of the sweep's largest model, counted on torch's meta device (shapes only,
    nothing allocated): every size field at its largest value in the sweep, for each dataset
    and variant it runs."""
    # torch takes 1.6 s to import (measured 2026-12-06): only for the sweep's size check,
    # never to validate a sweep file
    import torch

    from hinr.models import build_model

    sizes = {}
    for key in SIZE_FIELDS:
        if key in spec.axes:
            values = spec.axes[key] if isinstance(spec.axes[key], list) else bounds(spec.axes[key])
            sizes[key] = max(values)
    options = {k: (spec.axes[k] if isinstance(spec.axes.get(k), list) else
                   bounds(spec.axes[k]) if k in spec.axes else [getattr(spec.base_config, k)])
               for k in ("dataset", "variant")}
    largest = 0
    for dataset, variant in itertools.product(options["dataset"], options["variant"]):
        cfg = spec.base_config.replace(**sizes, dataset=dataset, variant=variant)
        _, channels, h, w = DATASET_SHAPES[dataset]
        try:
            with torch.device("meta"):
                model = build_model(cfg, channels, (h, w))
        except (RuntimeError, ValueError, TypeError, OverflowError, MemoryError):
            return MAX_MODEL_PARAMS + 1  # shapes past what torch can even describe
        largest = max(largest, sum(p.numel() for p in model.parameters()))
    return largest


def check_model_size(spec: SweepSpec, memory_bytes: int | None = None) -> int:
    """Refuse a sweep whose largest model is over ``MAX_MODEL_PARAMS`` or, given the memory of
    the largest node, needs more than it has just for weights, gradients and Adam state."""
    params = model_params(spec)
    if params > MAX_MODEL_PARAMS:
        raise SpecError(f"{spec.path}: base/axes: the largest model has {params:,} parameters; "
                        f"allowed at most {MAX_MODEL_PARAMS:,} (the paper's has 65 M): lower "
                        f"{', '.join(SIZE_FIELDS)}")
    need = params * TRAIN_BYTES_PER_PARAM
    if memory_bytes is not None and need > memory_bytes:
        raise SpecError(f"{spec.path}: base/axes: the largest model ({params:,} parameters) needs "
                        f"at least {need / 2**30:.1f} GiB to train, and the largest node has "
                        f"{memory_bytes / 2**30:.1f} GiB: lower {', '.join(SIZE_FIELDS)}")
    return params
