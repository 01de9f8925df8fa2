# Two commands open the README: `make run` and `make test`. Both set everything up.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# Production-style ASGI server settings (see docs/architecture.md for the measurements).
# uvicorn's INFO lines (three per WebSocket connection) cost 14% of the connect path:
# warnings and errors only; weatherstream's own log lines still show.
# --ws-max-size: frames over 64 KiB are refused unread (1009); WEATHERSTREAM's
# MAX_MESSAGE_BYTES (4 KiB) closes smaller oversized ones.
UVICORN_FLAGS ?= --loop uvloop --http httptools --ws websockets-sansio --ws-per-message-deflate false \
	--ws-max-size 65536 --lifespan on --no-server-header --log-level warning

.PHONY: install vendor engines run poll cluster test test-py test-js check bench wheel clean mutation \
	mutation-db
.DEFAULT_GOAL := run

$(BIN)/.installed: pyproject.toml example/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r example/requirements.txt -e '.[dev]'
	touch $@

# The page's charting library, uPlot, is committed under the app's static files
# (src/weatherstream/static/weatherstream/vendor/), so every standard build of the package
# (pip wheel ., python -m build, pip install ./checkout) ships it without npm. Its version
# is pinned in package.json/package-lock.json; `make vendor` copies that release from the
# npm registry into the package (commit the result), and tests/js/vendor.test.mjs checks
# that the committed copy is byte for byte the locked release.
VENDOR := src/weatherstream/static/weatherstream/vendor
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

vendor: node_modules/.installed
	mkdir -p $(VENDOR)
	cp node_modules/uplot/dist/uPlot.esm.js node_modules/uplot/dist/uPlot.min.css $(VENDOR)/
	cp node_modules/uplot/LICENSE $(VENDOR)/uPlot.LICENSE

install: $(BIN)/.installed

# redis-server, PostgreSQL and Chromium from Debian's packages (apt-get when missing, as
# root); the tests and `make cluster` start their own servers on loopback.
engines:
	$(PYTHON) scripts/engines.py install

run: install
	cd example && ../$(BIN)/python manage.py migrate --noinput
	@echo "weatherstream: serving http://$(HOST):$(PORT)/ (Ctrl-C stops)"
	cd example && exec ../$(BIN)/uvicorn example.asgi:application --host $(HOST) --port $(PORT) $(UVICORN_FLAGS)

# A separate poller for server processes run with WEATHERSTREAM_POLLER=off; needs REDIS_URL
# (and DATABASE_URL, shared with the servers).
poll: install
	cd example && exec ../$(BIN)/python manage.py weatherstream_poll

# The scaled-out topology on this machine: Redis, PostgreSQL, two servers, two pollers.
cluster: install engines
	HOST=$(HOST) PORT=$(PORT) UVICORN_FLAGS="$(UVICORN_FLAGS)" $(BIN)/python scripts/cluster.py

test: install engines check test-py test-js

# Wheels of everything the package needs, so tests/test_wheel.py installs it offline.
WHEELHOUSE := var/wheelhouse
$(WHEELHOUSE)/.done: pyproject.toml
	$(BIN)/python -m pip wheel -q -w $(WHEELHOUSE) '.[server]' 'setuptools>=68' wheel
	touch $@

# The whole suite on PostgreSQL (started by the tests on loopback, like Redis), then the
# storage-facing tests again on SQLite, the default of `make run`.
SQLITE_TESTS := tests/test_services.py tests/test_recorder.py tests/test_engine.py tests/test_views.py \
	tests/test_consumers.py tests/test_admin.py
test-py: install engines $(WHEELHOUSE)/.done
	$(BIN)/python -m pytest
	WEATHERSTREAM_TEST_DB=sqlite $(BIN)/python -m pytest -q $(SQLITE_TESTS)

test-js: node_modules/.installed
	node --test tests/js/*.test.mjs

check: install
	$(BIN)/ruff check src tests example bench docs scripts
	$(BIN)/ruff format --check src tests example bench docs scripts
	$(BIN)/mypy

# The fan-out benchmark (bench/README.md), e.g. make bench BENCH_ARGS="--n 10000 --k 100".
bench: install
	$(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/python bench/fanout.py $(BENCH_ARGS)

# Mutation testing (docs/testing.md), not part of `make test`: mutmut breaks each line of
# the modules listed under [tool.mutmut] in pyproject.toml, one change at a time, and runs
# the tests that call it (on SQLite). It works in a fresh copy of the tree under
# var/mutation, so no mutated file ever lands in the checkout. MUTANTS narrows the run,
# e.g. make mutation MUTANTS='weatherstream.budget.* weatherstream.breaker.*'.
MUTATION_DIR := var/mutation
MUTANTS ?=
$(BIN)/.mutmut: $(BIN)/.installed pyproject.toml
	$(BIN)/python -m pip install -q -e '.[dev,mutation]'
	touch $@

# The tree without what is not source: `$(COPY_TREE) DIR` copies it into DIR.
COPY_TREE = tar -c --exclude=./.git --exclude=./.venv --exclude=./node_modules --exclude=./var \
	--exclude=./build --exclude=./dist --exclude=./test-artifacts --exclude=./mutants \
	--exclude='*cache*' --exclude=__pycache__ --exclude=.hypothesis . | tar -x -C

mutation: install $(BIN)/.mutmut
	rm -rf $(MUTATION_DIR) && mkdir -p $(MUTATION_DIR)
	$(COPY_TREE) $(MUTATION_DIR)
	cd $(MUTATION_DIR) && WEATHERSTREAM_TEST_DB=sqlite $(abspath $(BIN))/mutmut run $(MUTANTS)
	cd $(MUTATION_DIR) && $(abspath $(BIN))/mutmut results
	cd $(MUTATION_DIR) && $(abspath $(BIN))/mutmut export-cicd-stats && cat mutants/mutmut-cicd-stats.json

# The storage-facing modules, whose tests need the database: in mutmut's default forked
# workers those tests hang (docs/testing.md), so they run in a copy of their own,
# var/mutation-db, whose [tool.mutmut] is the one in pyproject.toml with forkserver
# workers (2.5 to 7 s a mutant), these modules and these tests: 822 mutants in about
# 65 minutes on two cores. e.g. make mutation-db MUTANTS='weatherstream.views.*'
MUTATION_DB_DIR := var/mutation-db
MUTATION_DB_MODULES := src/weatherstream/services.py src/weatherstream/views.py src/weatherstream/consumers.py \
	src/weatherstream/latest.py src/weatherstream/updates.py src/weatherstream/registry.py
MUTATION_DB_TESTS := tests/test_services.py tests/test_views.py tests/test_consumers.py tests/test_routing.py \
	tests/test_recorder.py tests/test_latest.py tests/test_updates.py tests/test_registry.py
define MUTATION_DB_CONFIG
import json, re, sys, tomllib
path, modules, tests = sys.argv[1:]
text = open(path).read()
settings = tomllib.loads(text)["tool"]["mutmut"]
settings.update(process_isolation="forkserver", only_mutate=modules.split(), pytest_add_cli_args_test_selection=tests.split())
table = "[tool.mutmut]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in settings.items())
text, found = re.subn(r"(?ms)^\[tool\.mutmut\]\n.*?(?=^\[|\Z)", lambda _: table + "\n", text)
assert found == 1, "no [tool.mutmut] table in pyproject.toml"
open(path, "w").write(text)
endef
export MUTATION_DB_CONFIG

mutation-db: install $(BIN)/.mutmut
	rm -rf $(MUTATION_DB_DIR) && mkdir -p $(MUTATION_DB_DIR)
	$(COPY_TREE) $(MUTATION_DB_DIR)
	$(BIN)/python -c "$$MUTATION_DB_CONFIG" $(MUTATION_DB_DIR)/pyproject.toml '$(MUTATION_DB_MODULES)' '$(MUTATION_DB_TESTS)'
	cd $(MUTATION_DB_DIR) && WEATHERSTREAM_TEST_DB=sqlite $(abspath $(BIN))/mutmut run $(MUTANTS)
	cd $(MUTATION_DB_DIR) && $(abspath $(BIN))/mutmut results
	cd $(MUTATION_DB_DIR) && $(abspath $(BIN))/mutmut export-cicd-stats && cat mutants/mutmut-cicd-stats.json

# The package as users install it (the page's chart library included).
wheel: install
	$(BIN)/python -m pip wheel -q --no-deps -w dist .

clean:
	rm -rf $(VENV) var .pytest_cache

# `make -s print-UVICORN_FLAGS`: tests and benchmarks start the server exactly as `make run` does.
print-%:
	@echo $($*)
