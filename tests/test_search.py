"""sweeps.tune.search: the seed path and the replicate searcher, on a real Optuna searcher;
and the search types as objects (sweeps.searchtypes).

End to end (real Ray Tune sweeps, a driver killed and resumed) this is covered by
test_sweeps_e2e.py and test_faults.py; here the searcher is driven by hand, as Tune drives it,
so each property is checked without a cluster.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

from sweeps import searchtypes
from sweeps.tune import search
from sweeps.spec import parse_spec

ROOT = Path(__file__).resolve().parents[1]


def _spec(**changes):
    doc = {"name": "s", "base": {"preset": "tiny"}, "axes": {"lr": {"loguniform": [1e-4, 1e-2]}},
           "seeds": [7, 3, 11], "search": "optuna", "budget": {"num_samples": 2}, **changes}
    return parse_spec(doc, "<test>")


def _searcher(spec):
    alg = search.search_alg(spec)
    # What Tune does before the first suggest: hand the searcher the param space.
    assert alg.set_search_properties(None, None, search.param_space(spec))
    return alg


def test_every_search_type_puts_the_seed_in_the_trial_config():
    grid = _spec(search="grid", axes={"a2": [1.0, 100.0]})
    space = search.param_space(grid)
    assert space["seed"] == {"grid_search": [7, 3, 11]}
    assert search.search_alg(grid) is None  # Tune's own grid expansion
    alg = _searcher(_spec())
    configs = [alg.suggest(f"t{i}") for i in range(6)]
    assert [c["seed"] for c in configs] == [7, 3, 11, 7, 3, 11]
    # one drawn point per three replicates, the same config but for the seed
    assert configs[0]["lr"] == configs[1]["lr"] == configs[2]["lr"] != configs[3]["lr"]
    assert all("__trial_index__" not in c and "seeds" not in c for c in configs)


def test_the_searcher_is_told_once_per_point_after_its_last_replicate():
    alg = _searcher(_spec(seeds=[0, 1]))
    told = []
    inner_complete = alg.searcher.on_trial_complete

    def spy(trial_id, result=None, **kwargs):  # the real searcher still gets every call
        told.append((trial_id, result))
        return inner_complete(trial_id, result=result, **kwargs)

    alg.searcher.on_trial_complete = spy
    for i in range(4):
        alg.suggest(f"t{i}")
    alg.on_trial_complete("t1", {"val_psnr": 12.0})
    assert told == []
    alg.on_trial_complete("t0", {"val_psnr": 10.0})
    alg.on_trial_complete("t2", None)  # a failed replicate reports nothing: left out
    alg.on_trial_complete("t3", {"val_psnr": 9.0})
    assert told == [("t0", {"val_psnr": 11.0}), ("t2", {"val_psnr": 9.0})]


def test_a_restored_searcher_continues_the_point_in_flight(tmp_path):
    """What `launch.py resume` relies on: Tune pickles get_state() and calls set_state() on a
    fresh searcher (and restores the inner one from its own file); the replicates still to
    come run the point already drawn, and the searcher is told its mean."""
    spec = _spec()
    alg = _searcher(spec)
    first = [alg.suggest(f"t{i}") for i in range(2)]  # two of the point's three replicates
    state = pickle.loads(pickle.dumps(alg.get_state()))
    alg.searcher.save(str(tmp_path / "inner.pkl"))
    restored = _searcher(spec)
    restored.set_state(state)
    restored.searcher.restore(str(tmp_path / "inner.pkl"))
    third = restored.suggest("t2")
    assert third == {**first[0], "seed": 11}
    for i, value in enumerate((1.0, 2.0, 6.0)):
        restored.on_trial_complete(f"t{i}", {"val_psnr": value})
    assert restored.suggest("t3")["seed"] == 7  # the next point starts


def test_num_trials_counts_grids_and_draws():
    grid, optuna = searchtypes.get("grid"), searchtypes.get("optuna")
    assert grid.num_trials({"a2": [1, 2, 3], "lr": [1, 2]}, seeds=2, num_samples=2) == 24
    assert optuna.num_trials({"a2": [1, 2, 3]}, seeds=2, num_samples=5) == 10
    assert search.tune_num_samples(_spec()) == 6  # every replicate is a sample to Tune
    assert search.tune_num_samples(_spec(search="grid", axes={"a2": [1.0]})) == 2


def test_validating_a_sweep_imports_no_ray():
    """spec (and through it the search types' rules) runs before Ray is needed: --dry-run,
    every refusal."""
    code = ("import sys; from sweeps.spec import load_spec; "
            "load_spec(sys.argv[1]); print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "sweeps" / "optuna_pareto.yaml")],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_multi_objective_sampler_pickles_and_keeps_nsga2s_study_keys():
    """Tune pickles the searcher with its study; Optuna 5's NSGA-II holds a lock that does not
    pickle.  The project's sampler round-trips, samples on after unpickling, and writes the same
    study attributes as NSGAIISampler (so Optuna 4 studies resume with it)."""
    import pickle

    import optuna

    from sweeps.samplers import PicklableNSGAIISampler

    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        return x, (1.0 - x) ** 2

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["minimize", "minimize"],
                                sampler=PicklableNSGAIISampler(seed=0, population_size=4))
    study.optimize(objective, n_trials=6)
    restored = pickle.loads(pickle.dumps(study))
    restored.optimize(objective, n_trials=6)
    assert len(restored.trials) == 12
    generation = optuna.samplers.NSGAIISampler._get_generation_key()
    assert max(t.system_attrs[generation] for t in restored.trials) >= 2  # generations went on
    spec = _spec(search="optuna", metric=["val_psnr", "val_latent_acc"], mode=["max", "max"],
                 axes={"a1": {"loguniform": [0.001, 1.0]}})
    pickle.dumps(_searcher(spec))  # what tune.Tuner does with its TuneConfig


def test_each_search_type_builds_its_tune_space_and_searcher_from_its_own_hook():
    """The adapter asks the type (``tune_space``, ``sampler``), never its name: a design is a
    grid over its points' index, a grid one grid axis per list axis, a searched type one
    domain per axis and a seeded Optuna sampler (NSGA-II for several metrics)."""
    import optuna

    from sweeps.samplers import PicklableNSGAIISampler

    design = _spec(search="design", design="full", axes={"a1": [0.0, 1e-3], "a2": [1.0, 100.0]})
    space = search.param_space(design)
    assert space[search.DESIGN_POINT] == {"grid_search": [0, 1, 2, 3]}
    assert space["seed"] == {"grid_search": [7, 3, 11]} and search.searcher(design) is None
    assert not search.space_is_saved(design)  # its points are functions: given again on resume
    grid = _spec(search="grid", axes={"a2": [1.0, 100.0]})
    assert search.param_space(grid)["a2"] == {"grid_search": [1.0, 100.0]}
    assert search.space_is_saved(grid) and search.tune_num_samples(grid) == 2  # the grid, twice
    rand = _spec(search="random", axes={"a2": [1.0, 100.0]})
    assert "seed" not in search.param_space(rand) and search.space_is_saved(rand)
    assert isinstance(search.searcher(rand)._sampler, optuna.samplers.RandomSampler)
    assert isinstance(search.searcher(_spec())._sampler, optuna.samplers.TPESampler)
    pareto = _spec(metric=["val_psnr", "val_latent_acc"], mode=["max", "max"])
    assert isinstance(search.searcher(pareto)._sampler, PicklableNSGAIISampler)


def test_the_search_types_rules_live_on_their_objects():
    assert [t.name for t in searchtypes.TYPES.values()] == list(searchtypes.SEARCHES)
    assert {t.name for t in searchtypes.TYPES.values() if t.enumerates} == {"grid", "design"}
    design = searchtypes.get("design")
    assert design.sections_problem({}).startswith("design: search: design needs design:")
    assert searchtypes.get("grid").sections_problem({"design": "full"}) == (
        "design: a design needs search: design (got search: 'grid')")
    assert searchtypes.get("random").objectives_problem(["val_psnr", "val_latent_acc"]) == (
        "metric: several metrics need search: optuna (multi-objective)")
    assert searchtypes.get("grid").axes_problem({"lr": {"uniform": [0.0, 1.0]}}).startswith(
        "axes.lr: a distribution needs search: random or optuna")


def test_no_module_but_searchtypes_branches_on_a_search_types_name():
    """``search == "design"``, ``search in ("grid", "design")`` and the like belong in
    sweeps/searchtypes.py only: everywhere else the search type object is asked."""
    import ast

    names = set(searchtypes.SEARCHES)

    def named(node) -> bool:
        items = node.elts if isinstance(node, (ast.Tuple, ast.List, ast.Set)) else [node]
        return any(isinstance(i, ast.Constant) and i.value in names for i in items)

    found = []
    for path in sorted((ROOT / "sweeps").rglob("*.py")) + [ROOT / "launch.py"]:
        if path.name == "searchtypes.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Compare) and any(map(named, [node.left, *node.comparators])):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not found, f"branches on a search type's name: {found}"


def test_tune_state_pickled_before_the_adapter_moved_still_unpickles():
    """tests/data/tuner_before_issue27: Tuner.restore of a sweep started before sweeps/tune/
    existed unpickles a tuner.pkl that names the old modules; sweeps.tune.oldnames makes them
    resolve to the moved classes, with their state as pickled (in a fresh process: the
    aliases, once made, stay for the process)."""
    code = ("import pickle, sys; import ray.tune; from sweeps.tune import oldnames; "
            "oldnames.accept(); state = pickle.loads(open(sys.argv[1], 'rb').read()); "
            "names = [type(c).__module__ + '.' + type(c).__name__ "
            "for c in state['_run_config'].callbacks]; "
            "alg = state['_tune_config'].search_alg; "
            "print(names, type(alg).__module__, alg.seeds, type(alg.searcher._sampler).__name__, "
            "state['_run_config'].callbacks[0].sweep)")
    out = subprocess.run([sys.executable, "-c", code,
                          str(ROOT / "tests" / "data" / "tuner_before_issue27" / "tuner.pkl")],
                         cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[0] == (
        "['sweeps.tune.results.ParquetResults', 'sweeps.tune.progress.SweepProgress'] "
        "sweeps.tune.search [0] PicklableNSGAIISampler optuna_pareto-tiny")
