# The two things a newcomer runs. Everything is installed from here; nothing by hand.
CACHE   ?= $(HOME)/.cache/sglang-spec-patches
CPU_ENV ?= $(CACHE)/cpu-env
PY      ?= python3
VENV    := .venv
RELEASE ?= 0.5.2

export SGLANG_SPEC_PATCHES_CPU_ENV := $(CPU_ENV)
export SGLANG_SPEC_PATCHES_CACHE := $(CACHE)

.PHONY: demo test cpu-env shim-in-env dev bench matrix

$(VENV)/.installed: pyproject.toml setup.py
	$(PY) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e '.[test]'
	touch $@

dev: $(VENV)/.installed

cpu-env:
	bash ci/make-cpu-env.sh $(CPU_ENV)

shim-in-env: dev cpu-env
	PYTHON=$(VENV)/bin/python bash ci/install-shim.sh $(CPU_ENV)

# Main job: fetch a known-affected SGLang release from PyPI, show what each fix does
# to it, and reproduce the draft CUDA-graph padding bug (#9888) on CPU, unpatched vs patched.
demo: dev shim-in-env
	$(VENV)/bin/python ci/demo.py --release $(RELEASE)

test: dev cpu-env
	$(VENV)/bin/python -m pytest

bench: dev cpu-env
	$(VENV)/bin/python ci/bench.py

matrix: dev
	$(VENV)/bin/python ci/matrix.py --bench
