"""sweeps.search: the seed path and the replicate searcher, on a real Optuna searcher.

End to end (real Ray Tune sweeps, a driver killed and resumed) this is covered by
test_sweeps_e2e.py and test_faults.py; here the searcher is driven by hand, as Tune drives it,
so each property is checked without a cluster.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

from sweeps import search, searchtypes
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
    assert searchtypes.num_trials("grid", {"a2": [1, 2, 3], "lr": [1, 2]}, seeds=2,
                                  num_samples=2) == 24
    assert searchtypes.num_trials("optuna", {"a2": [1, 2, 3]}, seeds=2, num_samples=5) == 10
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
