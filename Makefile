# Quick start:  make demo   (set up, then run the workflow on the bundled demo data)
#               make test   (set up, then run the test suite)
PYTHON ?= python3
VENV   ?= .venv
CORES  ?= 2
BIN    := $(VENV)/bin

.PHONY: demo report test test-packages lint setup setup-codecs setup-packages clean-results

$(BIN)/.installed: requirements.txt
	bash scripts/system_deps.sh
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

$(BIN)/.installed-codecs: requirements-codecs.txt $(BIN)/.installed
	$(BIN)/pip install -q -r requirements-codecs.txt
	touch $@

# The original encodec / descript-audio-codec packages (codecs[].backend: package), for
# tests/test_codecs_package.py: the main env's torch 2.13.0 and torchaudio's Python part
# (requirements-packages.txt says why). Without its compiled extension, built for another
# torch, torchaudio imports and runs in Python; the last line checks that it does.
PKG_VENV ?= .venv-pkg
$(PKG_VENV)/bin/.installed: requirements-packages.txt requirements-packages-nodeps.txt
	bash scripts/system_deps.sh
	$(PYTHON) -m venv $(PKG_VENV)
	$(PKG_VENV)/bin/pip install -q --upgrade pip
	$(PKG_VENV)/bin/pip install -q -r requirements-packages.txt
	$(PKG_VENV)/bin/pip install -q --no-deps -r requirements-packages-nodeps.txt
	find $(PKG_VENV) -path '*/site-packages/torchaudio/lib/*.so' -delete
	$(PKG_VENV)/bin/pip install -q --no-deps -e .
	$(PKG_VENV)/bin/python -c "import torchaudio, encodec, dac"
	touch $@

setup: $(BIN)/.installed

setup-packages: $(PKG_VENV)/bin/.installed

test-packages: setup-packages
	$(PKG_VENV)/bin/python -m pytest -q tests/test_codecs_package.py

setup-codecs: $(BIN)/.installed-codecs

demo: setup
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake --cores $(CORES)

report: demo
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake --report results/report.html

test: setup-codecs
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest -q

lint: setup
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/snakemake --lint
	$(BIN)/snakefmt --check .

clean-results:
	rm -rf results .snakemake
