# The README's two set-up commands: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-test

.PHONY: demo test bench lint install

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# torch first, pinned: it is a CPU wheel on disk; an unpinned torch pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/bayesparse tour

# Two workers with one BLAS/OpenMP thread each: two threads per worker oversubscribe the cores.
test: $(STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 $(PY) -m pytest -n 2 --durations=15

bench: $(STAMP)
	$(PY) -m pip install --quiet -e ".[test,bench]"
	$(VENV)/bin/bayesparse bench all

lint: $(STAMP)
	$(VENV)/bin/ruff check bayesparse tests benchmarks
