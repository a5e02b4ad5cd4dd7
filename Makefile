# tmml_lite: build the book, test the library and the notebooks.
#   make book       create .venv if missing, install, check the notebooks, build the book into _build/html
#   make test       create .venv if missing, install, run the unit tests, then strict nbval on notebooks/,
#                   then build the book and open every page in headless Chromium (tests/test_book_browser.py)
#   make notebooks  re-execute every notebook in place (tiny profile, clean kernel) and store the outputs
#   make exercises  run each chapter, then the worked solutions of its CPU exercises (notebooks unchanged),
#                   and those of the reproduce page
#   make pretrain   regenerate the TinyCLIP checkpoint shipped in tmml_lite/assets (about 55 min on 2 cores)
#   make bench      the premise table (zero-shot, linear probe, CoOp per task) into
#                   tmml_lite/assets/premises.csv, then the base-to-new grids into ablation.csv (chapter 06)
#                   and benchmark.csv (chapter 07), then the other two protocols into transfer.csv
#                   (chapter 07); resumable: finished runs are skipped, so delete a file
#                   to regenerate it from scratch
#   make clean      remove _build
#
# The virtual environment is tracked by two stamp files:
#   .venv/.created    venv made, pip upgraded, torch/torchvision installed at the versions below
#   .venv/.installed  `pip install -e '.[dev]'` done; redone whenever pyproject.toml is newer
# Delete .venv (or a stamp) to force a reinstall.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := book

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CREATED := $(VENV)/.created
INSTALLED := $(VENV)/.installed
# Exact versions belong here only, for our machines (the wheels lie on local disk); pyproject.toml and
# environment.yml keep loose bounds because Colab and readers bring their own torch.
TORCH_PINS := torch==2.14.1 torchvision==0.29.1

NBVAL_FLAGS := --nbval --nbval-current-env --nbval-sanitize-with nbval_sanitize.cfg

.PHONY: venv .venv test book notebooks exercises pretrain bench clean

# ---------------------------------------------------------------------------------------------------------
# Environment

$(CREATED):
	@if [ ! -x $(PY) ]; then echo "== creating $(VENV) with $(PYTHON)"; $(PYTHON) -m venv $(VENV); fi
	$(PY) -m pip install --upgrade pip
	$(PY) -m pip install $(TORCH_PINS)
	@touch $@

$(INSTALLED): pyproject.toml | $(CREATED)
	$(PY) -m pip install -e '.[dev]'
	@touch $@

venv .venv: $(INSTALLED)

# ---------------------------------------------------------------------------------------------------------
# Test, notebooks, pretraining: always the tiny profile, deterministic hashing.

test notebooks exercises: export TMML_PROFILE := tiny
test notebooks exercises: export PYTHONHASHSEED := 0
pretrain: export TMML_PROFILE := tiny
bench: export TMML_PROFILE := tiny

test: $(INSTALLED)
	@start=$$(date +%s); rc=0; \
	$(PY) -m pytest -q -n 2 --durations=12 -m "not browser" tests || rc=$$?; \
	echo "== unit tests: $$(( $$(date +%s) - start )) s wall time (exit $$rc)"; \
	exit $$rc
	@start=$$(date +%s); rc=0; \
	$(PY) -m pytest -q $(NBVAL_FLAGS) notebooks/ || rc=$$?; \
	echo "== notebooks (nbval): $$(( $$(date +%s) - start )) s wall time (exit $$rc)"; \
	exit $$rc
	@start=$$(date +%s); rc=0; \
	$(PY) -m pytest -q -m browser tests || rc=$$?; \
	echo "== book in headless Chromium: $$(( $$(date +%s) - start )) s wall time (exit $$rc)"; \
	exit $$rc

notebooks: $(INSTALLED)
	$(PY) scripts/execute_notebooks.py --timeout 600 notebooks

exercises: $(INSTALLED)
	$(PY) scripts/run_exercises.py notebooks book/background.md book/method.md book/reproduce.md

pretrain: $(INSTALLED)
	$(PY) -m tmml_lite pretrain

bench: $(INSTALLED)
	$(PY) -m tmml_lite premises --results tmml_lite/assets/premises.csv
	$(PY) -m tmml_lite bench --results tmml_lite/assets/ablation.csv
	$(PY) -m tmml_lite bench --methods zero-shot CoOp CoCoOp TMML \
	    --tasks shapes textures fine_grained counting digits --results tmml_lite/assets/benchmark.csv
	$(PY) -m tmml_lite bench --protocol cross-dataset domain-generalization \
	    --methods "CoOp (batch 4)" CoCoOp TMML --results tmml_lite/assets/transfer.csv

# ---------------------------------------------------------------------------------------------------------
# Book: refuse notebooks whose stored outputs are not one clean run, then build. `--all` re-reads every
# page: an incremental build would not repeat the warnings of unchanged pages, and -W would pass.

book: $(INSTALLED)
	$(PY) scripts/check_notebooks.py notebooks
	$(VENV)/bin/jupyter-book build . -W -n --keep-going --all
	@echo "== book: $(CURDIR)/_build/html/index.html"

clean:
	rm -rf _build
