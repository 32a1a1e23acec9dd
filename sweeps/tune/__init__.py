"""The Tune adapter: every use of Ray in the project, and nothing else.

The rest of ``sweeps`` (the spec, the search types, designs, the Parquet writing core, the
console's arithmetic, Tune's storage and Optuna's sampler) is Ray-free and knows nothing of
this package; launch.py and the benchmarks call it.  Its modules:

* ``run``: ``run_stage``, one stage the Ray-free core planned (``sweeps.stage.Stage``): the
  Tuner built and fitted (search, scheduler, resources, callbacks), or restored; it never
  decides what runs next (``sweeps.life`` does);
* ``cluster``: Ray started or joined, resources checked, the datasets loaded (``prepare``);
* ``budget``: a stage's time budget as Tune meets it (``BudgetGate``, ``BudgetStopper``);
* ``recorded``: Optuna's searcher told a continuation's recorded points;
* ``search``: each search type's Tune space and searcher, from the hook each type declares in
  ``sweeps.searchtypes``, and ``SeedRepeater`` (a searched point once per seed);
* ``results``: ``ParquetResults``, the Tune callback around ``sweeps.results.ResultsWriter``;
* ``progress``: ``SweepProgress``, the console's Tune callback, and Ray's output to driver.log;
* ``trainable``: ``train_hinr``, the function trainable around ``sweeps.trial.run_trial``;
* ``oldnames``: the names a sweep started before this package existed pickled its classes by.

``tests/test_layers.py`` checks that no module outside this package imports Ray.  Importing
the package itself imports nothing (Ray takes seconds to import): each module does, and Ray
reads its environment from ``sweeps.rayenv``, set by ``sweeps/__init__`` before any of them.
Where a module reaches a private Ray name (underscored, ``ray._private``, ``ray.tune.impl``),
a comment names the Ray version it was checked against and why no public one serves.
"""
