# Two commands do it all on a fresh machine (Python 3.11+, make, root or sudo for redis-server):
#   make run    the demo: Label Studio 1.23.2, the backend, Redis + an rq worker (when redis-server is
#               installed; inline jobs otherwise) and the digits project, connected with basic auth (the
#               backend's login is generated and kept in .cache/demo/admin.json, mode 0600); prints the
#               URL, the login and what to click. Ctrl-C stops it all. (python -m demo run, see demo/)
#   make test   set up .venv (with the MLflow client), Label Studio's and the MLflow server's own venvs,
#               redis-server, PostgreSQL's server binaries and chromium, run the linter and the import
#               contracts (make lint), then every test (the backend's store tests on SQLite and on a
#               throw-away PostgreSQL cluster each)
# More:
#   make serve POOL=path/to/pool.yaml   the backend alone (development server) on your own candidate pool
#                                       (127.0.0.1:9090 unless HOST/PORT say otherwise), for your own Label
#                                       Studio; basic auth on, login kept in $(MODEL_DIR)/basic-auth.json
#   make serve-prod POOL=...            the same with the production server (gunicorn, backend/gunicorn_conf.py)
#   make compose-env                    write .env with the secrets docker-compose.yml requires (mode 0600)
#   make setup | ls-venv | redis | postgres | mlflow-client | mlflow-venv | example   the pieces (each does
#                       nothing when already done); mlflow-client: the optional MLflow client in .venv
#                       (docs/mlflow.md), mlflow-venv: the MLflow server the tests start, in its own venv
#   make constraints   rewrite constraints.txt (exact versions) from .venv after editing requirements.txt
# Every install uses exact versions: constraints.txt for .venv (and the Docker image),
# demo/label-studio-constraints.txt for Label Studio's venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
LS_VENV ?= $(CURDIR)/.cache/ls-venv
LS_CONSTRAINTS := demo/label-studio-constraints.txt
MLFLOW_VENV ?= $(CURDIR)/.cache/mlflow-venv
MLFLOW_CONSTRAINTS := tests/support/mlflow-server-constraints.txt
MODEL_DIR ?= $(CURDIR)/model_dir
EXAMPLE_DIR ?= $(CURDIR)/examples/digits/generated
DEMO_DIR ?= $(CURDIR)/.cache/demo
# preferred ports of `make run`; the next free one is used when one is taken
LS_PORT ?= 8080
BACKEND_PORT ?= 9090
REDIS_PORT ?= 6379

.PHONY: setup run serve serve-prod compose-env lint test ls-venv redis postgres chromium mlflow-client mlflow-venv \
	example constraints

$(VENV)/.installed: requirements.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation --editable .
	touch $@

setup: $(VENV)/.installed

$(EXAMPLE_DIR)/pool.yaml: | setup
	$(PY) examples/digits/make_example.py --out $(EXAMPLE_DIR)

example: $(EXAMPLE_DIR)/pool.yaml

run: setup ls-venv example
	$(PY) -m demo run --demo-dir "$(DEMO_DIR)" --example-dir "$(EXAMPLE_DIR)" --ls-venv "$(LS_VENV)" \
	  --ls-port $(LS_PORT) --backend-port $(BACKEND_PORT) --redis-port $(REDIS_PORT)

# POOL has no default on purpose: `python -m demo serve` says what is missing
serve: setup
	@MODEL_DIR="$(MODEL_DIR)" $(PY) -m demo serve --pool "$(POOL)"

# the production server on your pool: credentials from BASIC_AUTH_USER/BASIC_AUTH_PASS, else the login
# make serve keeps in $(MODEL_DIR)/basic-auth.json (python -m demo serve --gunicorn)
serve-prod: setup
	@MODEL_DIR="$(MODEL_DIR)" $(PY) -m demo serve --pool "$(POOL)" --gunicorn

compose-env:
	@$(PYTHON) -m demo.compose_env $(CURDIR)/.env

ls-venv:
	@test -x $(LS_VENV)/bin/label-studio || { \
	  echo "Installing label-studio==1.23.2 into its own venv $(LS_VENV) (about 2 minutes)"; \
	  $(PYTHON) -m venv $(LS_VENV) && $(LS_VENV)/bin/pip install --progress-bar off \
	    -c $(LS_CONSTRAINTS) label-studio==1.23.2 | grep -E '^(Collecting label-studio|Successfully)' ; }
	@test -x $(LS_VENV)/bin/label-studio

redis:
	@command -v redis-server >/dev/null || { \
	  echo "Installing redis-server (Debian package)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq redis-server >/dev/null; }
	@redis-server --version

# PostgreSQL's server binaries (initdb, postgres), for the backend tests on PostgreSQL: they start a throw-away
# cluster of their own (tests/support/postgres_server.py), so the package's default cluster is not created
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "Installing postgresql (Debian package)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq postgresql-common >/dev/null && \
	  $$SUDO sed -i 's/^#* *create_main_cluster *=.*/create_main_cluster = false/' \
	    /etc/postgresql-common/createcluster.conf && \
	  $$SUDO apt-get install -y -qq postgresql >/dev/null; }
	@ls /usr/lib/postgresql/*/bin/initdb

# the browser tests/e2e/test_browser_e2e.py drives (Playwright with Debian's chromium, not Playwright's own download)
chromium:
	@test -x /usr/bin/chromium || { \
	  echo "Installing chromium (Debian package)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium >/dev/null; }
	@test -x /usr/bin/chromium

# the linter and the import contracts (pyproject.toml), then every test
# the optional MLflow client (requirements-mlflow.txt, docs/mlflow.md) in .venv: the tests use it
$(VENV)/.mlflow-client: requirements-mlflow.txt constraints-mlflow.txt | setup
	$(PY) -m pip install --quiet -r requirements-mlflow.txt -c constraints.txt -c constraints-mlflow.txt
	touch $@

mlflow-client: $(VENV)/.mlflow-client

# the MLflow server the tests start (tests/support/mlflow_server.py), in its own venv: its Flask and gunicorn
# pins clash with label-studio-ml's
mlflow-venv:
	@test -x $(MLFLOW_VENV)/bin/mlflow || { \
	  echo "Installing mlflow==3.17.2 (the server the tests start) into its own venv $(MLFLOW_VENV)"; \
	  $(PYTHON) -m venv $(MLFLOW_VENV) && $(MLFLOW_VENV)/bin/pip install --quiet --progress-bar off \
	    -c $(MLFLOW_CONSTRAINTS) mlflow==3.17.2 ; }
	@test -x $(MLFLOW_VENV)/bin/mlflow

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

# TEST_WORKERS pytest-xdist workers, each running whole files (--dist loadfile: a file's module fixtures stay in
# one worker), the slowest files first (tests/conftest.py); each worker has its own session servers and port slice
TEST_WORKERS ?= 2
test: setup ls-venv redis postgres chromium mlflow-client mlflow-venv lint
	MODELPICKER_LS_VENV=$(LS_VENV) MODELPICKER_MLFLOW_VENV=$(MLFLOW_VENV) $(PY) -m pytest -q --durations=25 \
	  -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder tests

constraints: setup
	$(PY) -m demo.lock requirements.txt > constraints.txt.new && mv constraints.txt.new constraints.txt
	$(PY) -m demo.lock requirements-mlflow.txt > constraints-mlflow.txt.new && \
	  mv constraints-mlflow.txt.new constraints-mlflow.txt
