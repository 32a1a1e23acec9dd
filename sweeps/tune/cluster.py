"""Ray for one stage: started embedded or joined (``address``), checked against what a trial
asks for, and the sweep's datasets loaded once on the driver (``prepare``), all before the
stage may write anything: a sweep refused here leaves its results directory as it was."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from hinr import data as hinr_data
from hinr.fetch import FetchError

from ..modelsize import check_model_size
from ..spec import SpecError, SweepSpec
from ..sweepdoc import SweepError


@dataclass
class Prepared:
    """What ``prepare`` made ready: the datasets, and whether it started Ray (then the stage
    that uses it shuts Ray down when it ends: ``sweeps.tune.progress.ray_console``)."""

    data: dict[str, hinr_data.ImageData]
    owns_ray: bool


def init_ray(address: str | None, spec: SweepSpec) -> bool:
    """Ray started (or joined) if it is not running, and checked; whether this started it."""
    import ray

    started = not ray.is_initialized()
    if started:
        _start_ray(address)
    check_resources(spec)
    return started


def _start_ray(address: str | None) -> None:
    import ray

    if address:
        ray.init(address=address, log_to_driver=True)
    else:
        # Embedded: a new local Ray ("local": never join a `ray start` cluster that happens to
        # run on this machine), no dashboard (nothing serves HTTP), token-authenticated gRPC.
        ray.init(address="local", include_dashboard=False, configure_logging=False,
                 log_to_driver=True)


def check_resources(spec: SweepSpec) -> None:
    """Refuse a per-trial request that no node of the cluster can satisfy (Tune would wait
    forever), naming the field and what the largest node has."""
    import ray

    nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
    best_cpu = max((n.get("CPU", 0.0) for n in nodes), default=0.0)
    best_gpu = max((n.get("GPU", 0.0) for n in nodes), default=0.0)
    cpus, gpus = spec.resources["cpus"], spec.resources["gpus"]
    if cpus > best_cpu or gpus > best_gpu:
        raise SweepError(f"{spec.path}: resources: a trial asks for cpus={cpus:g}, gpus={gpus:g} but "
                         f"the largest node has cpus={best_cpu:g}, gpus={best_gpu:g}")
    memory = max((n.get("memory", 0.0) for n in nodes), default=0.0)
    try:
        check_model_size(spec, int(memory) or None)
    except SpecError as err:
        raise SweepError(str(err)) from None


def prepare(spec: SweepSpec, address: str | None,
            datasets: Callable[[SweepSpec], dict[str, hinr_data.ImageData]] | None = None
            ) -> Prepared:
    """Everything a sweep needs before it may write anything: its datasets (read before Ray
    starts, so a missing one is one line, not a failure inside Ray; by ``datasets``, default
    ``shared_datasets``), then Ray and a node that fits a trial."""
    data = (datasets or shared_datasets)(spec)
    return Prepared(data, init_ray(address, spec))


def shared_datasets(spec: SweepSpec) -> dict[str, hinr_data.ImageData]:
    """Load each dataset the sweep uses once on the driver; Tune puts it in the object store
    (tune.with_parameters) so trials on a node share one copy instead of each loading its own."""
    names = spec.axes.get("dataset", [spec.base_config.dataset])
    if isinstance(names, dict):
        names = list(names.values())[0]
    base = spec.base_config
    try:
        return {name: hinr_data.load(base.replace(dataset=name, train_subset=0, test_subset=0))
                for name in names}
    except (hinr_data.DatasetNotFound, OSError, FetchError) as err:
        # The home directory in full is nobody else's business (logs, screenshots, CI output).
        home = str(Path.home())
        message = str(err).replace(home + os.sep, "~" + os.sep) if home != os.sep else str(err)
        raise SweepError(f"{spec.path}: dataset: {message}") from None


