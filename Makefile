# Two commands do it all on a fresh machine (Python 3.11+, make, root or sudo for redis-server):
#   make run    set up .venv and start the backend on embedded defaults (SQLite, inline jobs)
#   make test   set up .venv, Label Studio's own venv and redis-server, then run every test
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
LS_VENV ?= $(CURDIR)/.cache/ls-venv
MODEL_DIR ?= $(CURDIR)/model_dir
DEMO_POOL := $(CURDIR)/examples/digits/generated/pool.yaml
POOL ?= $(DEMO_POOL)

.PHONY: setup run test ls-venv redis example

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

setup: $(VENV)/.installed

$(DEMO_POOL): | setup
	$(PY) examples/digits/make_example.py --out $(dir $(DEMO_POOL))

example: $(DEMO_POOL)

run: setup $(POOL)
	MODEL_DIR=$(MODEL_DIR) MODELPICKER_POOL=$(POOL) $(PY) -m backend

ls-venv:
	@test -x $(LS_VENV)/bin/label-studio || { \
	  echo "Installing label-studio==1.23.2 into its own venv $(LS_VENV) (about 2 minutes)"; \
	  $(PYTHON) -m venv $(LS_VENV) && $(LS_VENV)/bin/pip install --progress-bar off label-studio==1.23.2 | grep -E '^(Collecting label-studio|Successfully)' ; }
	@test -x $(LS_VENV)/bin/label-studio

redis:
	@command -v redis-server >/dev/null || { \
	  echo "Installing redis-server (Debian package)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq redis-server >/dev/null; }
	@redis-server --version

test: setup ls-venv redis
	MODELPICKER_LS_VENV=$(LS_VENV) $(PY) -m pytest -q tests
