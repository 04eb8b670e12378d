# The two commands of the README: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test lint bench bench-quick sandbox ui cluster cluster-down clean check-system

# The product with its test tools and the development harness (demo, UI launcher, simulated systems):
# a production install is `pip install .` alone.
# pip's own output (its warnings too) goes to $(INSTALL_LOG); on failure its last lines are shown.
INSTALL_LOG := out/install.log
$(STAMP): pyproject.toml harness/pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@mkdir -p $(dir $(INSTALL_LOG))
	@echo "make: installing into $(VENV) (pip's output: $(INSTALL_LOG)) ..."
	@{ $(BIN)/python -m pip install --quiet --upgrade pip \
	   && $(BIN)/python -m pip install --quiet -e '.[dev,harness]' -e ./harness \
	   && $(BIN)/python -m pip install --quiet --no-deps 'fideslang==3.1.4'; } >$(INSTALL_LOG) 2>&1 \
	  || { grep -v "^WARNING: Location '.*' is ignored" $(INSTALL_LOG) | tail -n 30 >&2; \
	       echo "make: install failed; pip's whole output is in $(INSTALL_LOG)" >&2; exit 1; }
	@touch $(STAMP)

install: $(STAMP)

## make demo: install, then run the main job on the embedded default (sandbox systems, SQLite storage)
demo: install
	@$(BIN)/dsar demo

## make test: install, lint, then the whole test suite
test: install check-system
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-logo --no-cache
	$(BIN)/python -m pytest -n 2 --dist loadfile -q -p no:cacheprovider

## the Debian packages some tests drive; those tests skip with a reason where they are missing.
## Pango and DejaVu are the pipeline's own (WeasyPrint prints the PDF letter): without them packaging fails.
PDF_PACKAGES := libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core
check-system:
	@for p in $(PDF_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" \
	  || echo "make test: $$p missing (apt-get install $(PDF_PACKAGES)): the PDF letter cannot be printed, packaging fails"; done
	@command -v 7zz >/dev/null || echo "make test: 7zz missing (apt-get install 7zip): the 7-Zip package tests will be skipped"
	@test -x /usr/bin/chromium || echo "make test: /usr/bin/chromium missing (apt-get install chromium chromium-driver): the browser test will be skipped"

lint: install
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-logo --no-cache

## make bench: the benchmarks, written to bench/results.json
bench: install
	$(BIN)/python -m bench

## make bench-quick: the same benchmarks at a small size (what CI runs)
bench-quick: install
	$(BIN)/python -m bench --quick

## make sandbox: the simulated systems in the foreground (settings in .sandbox/sandbox.env)
sandbox: install
	$(BIN)/dsar sandbox up

## make ui: the Dagster UI against the running sandbox (run `make sandbox` in another terminal first)
ui: install
	$(BIN)/dsar ui

## make cluster: the production topology on this machine in the background (PostgreSQL storage, dagster-daemon,
## the code location as a gRPC server, the webserver, DSAR_CLUSTER_WORKERS Celery workers on RabbitMQ and Redis,
## the sandbox); `dsar demo --cluster` files a ticket into it. make cluster-down stops exactly what it started.
cluster: install
	@$(BIN)/dsar cluster up

cluster-down:
	@test -x $(BIN)/dsar && $(BIN)/dsar cluster down || echo "make cluster-down: nothing installed, nothing to stop"

clean:
	rm -rf .sandbox .dagster_home .cluster out .pytest_cache .ruff_cache
