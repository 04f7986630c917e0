# The README's two commands are `make run` and `make test`; the rest serve them.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test install assets bench check prod-check clean

# pip comes into the new environment from the machine's own pip where it can
# (pip 22.3 or later installs into another environment with --python): the copy
# `venv` would unpack and compile first (and its setuptools, which nothing here
# imports) was replaced by the newer pip at once, about 4 s of CPU. Without such
# a pip, `ensurepip` puts in its copy and that copy upgrades itself, as before.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv --without-pip $(VENV)
	$(PYTHON) -m pip --python $(PY) install --quiet --upgrade pip 2>/dev/null || \
	  { $(PY) -m ensurepip --upgrade --default-pip >/dev/null && $(PY) -m pip install --quiet --upgrade pip; }
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

# Node packages: the assets' sources, and the OpenID Connect provider the sign-in
# tests run (tests/oidc_provider.py). Reinstalled when package-lock.json changes.
NODE_STAMP := node_modules/.installed
$(NODE_STAMP): package-lock.json
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

install: $(STAMP)

# The embedded default: SQLite in var/, eager tasks, mail to the console, demo data.
run: export DEBUG = true
run: $(STAMP)
	mkdir -p var
	@$(PY) manage.py migrate --noinput --verbosity 0
	@echo "Portal: http://127.0.0.1:8000/  (admin: http://127.0.0.1:8000/admin/)"
	@# Last before the server starts: the demo logins (demo mail waits in the outbox).
	@$(PY) manage.py seed_demo
	$(PY) manage.py runserver 127.0.0.1:8000

# The whole suite: PostgreSQL when DATABASE_URL is set (CI), SQLite otherwise.
# Needs Redis at REDIS_TEST_URL (default redis://127.0.0.1:6379/15), /usr/bin/chromium and Node with npm.
# Parallel (pytest-xdist): TEST_WORKERS processes, browser and worker tests each
# kept to one process (docs/DEVELOPING.md, Tests); the ten slowest tests are printed.
# pytest's own exit status is make's: 5 (no tests ran) fails as any other.
# The tests that failed are run once more, alone in one process: a real Celery
# worker on 2 loaded cores now and then misses its task's deadline. A test that
# fails again fails the run; with no recorded failure nothing is rerun (exit 5).
# Bytecode is written even where the environment says not to (PYTHONDONTWRITEBYTECODE,
# set on the CI machine): each test process, and each worker, server and command a
# test starts, would otherwise compile the portal and Django's sources again (about
# 10 s of a process's 18 s to collect the suite). Compiled once before the processes start.
TEST_WORKERS ?= 3
test: export PYTHONDONTWRITEBYTECODE =
test: $(STAMP) $(NODE_STAMP)
	$(VENV)/bin/lint-imports --no-cache
	$(PY) -m compileall -q -j 0 -x '/(\.venv|node_modules|\.git)/' .
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadgroup --durations=10 $(PYTEST_ARGS) || \
	  { echo "Running the failed tests once more, alone:"; \
	    $(PY) -m pytest -n 0 --last-failed --last-failed-no-failures none $(PYTEST_ARGS); }

# The load benchmark drives the server with wrk (Debian's package), installed here when missing.
bench: $(STAMP)
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
	$(PY) -m benchmarks

check: $(STAMP)
	DEBUG=true $(PY) manage.py check

# Refresh the vendored front-end files from the npm registry (versions in package.json).
assets:
	npm ci --no-audit --no-fund
	touch $(NODE_STAMP)
	mkdir -p static/vendor/bootstrap tests/vendor
	cp node_modules/bootstrap/dist/css/bootstrap.min.css node_modules/bootstrap/dist/js/bootstrap.bundle.min.js static/vendor/bootstrap/
	# The source maps are not shipped; drop the references so collectstatic's manifest does not look for them.
	sed -i '/sourceMappingURL/d' static/vendor/bootstrap/*
	# axe-core is for the accessibility browser test only: the test injects it from tests/, no page loads it.
	cp node_modules/axe-core/axe.min.js tests/vendor/

# The compose stack's processes (migrate first, gunicorn, a worker, beat, Caddy
# in front) run here with production settings against the local PostgreSQL and
# Redis; exit 0 only when every health probe docker-compose.yml declares passes.
prod-check: $(STAMP)
	$(PY) deploy/prod_check.py

clean:
	rm -rf $(VENV) var staticfiles
