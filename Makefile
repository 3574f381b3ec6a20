# optviz — the two commands of the README:
#   make lab    set up the environment (if missing) and open the course in JupyterLab (as root too;
#               the course's JupyterLab defaults from jupyter/overrides.json: no news popup)
#   make test   set up the environment (if missing) and run every test (the browser test of
#               tests/browser needs /usr/bin/chromium: `.ci/run` installs Debian's chromium first)
#   make site   execute every lecture headless and write the static offline HTML site into site/
# The environment is a virtual environment in .venv (override: make test VENV=/path).
# torch is installed through constraints.txt: on the course machines this resolves to the local
# CPU wheel of torch 2.13.0, on a Linux machine with an NVIDIA GPU to PyPI's CUDA build of it.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
STAMP  := $(VENV)/.optviz-installed
JOBS   ?= 2
# the course's JupyterLab defaults (no news popup, no update check), installed into the environment
OVERRIDES := $(VENV)/share/jupyter/lab/settings/overrides.json
# JupyterLab refuses to start as root without --allow-root (a container, a course VM)
ROOT_FLAG := $(if $(filter 0,$(shell id -u 2>/dev/null)),--allow-root,)

.PHONY: lab test site setup bench clean-venv

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt torch
	$(PIP) install --quiet -c constraints.txt -e ".[lab,test,browser]"
	$(PY) -c "import torch, optviz; print('optviz готов: torch', torch.__version__, '| CUDA:', torch.cuda.is_available())"
	touch $(STAMP)

$(OVERRIDES): jupyter/overrides.json $(STAMP)
	mkdir -p $(dir $(OVERRIDES))
	cp jupyter/overrides.json $(OVERRIDES)

lab: $(STAMP) $(OVERRIDES)
	$(VENV)/bin/jupyter lab $(ROOT_FLAG) lectures/

test: $(STAMP)
	$(PY) -m pytest -n $(JOBS) --timeout 900

site: $(STAMP)
	$(PY) -m optviz.site --out site/

bench: $(STAMP)
	$(PY) -m benchmarks.run_all

clean-venv:
	rm -rf $(VENV)
