# Every target builds or refreshes .venv by itself: a fresh machine needs only python3 and make.
# .venv holds exactly the versions of requirements/dev.txt (the lock CI last passed with);
# `make lock` is the one deliberate upgrade, `make test-latest` tries the newest versions.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements/dev.txt
LATEST := .venv-latest
LOWEST := .venv-lowest
LOWEST_LOCK := requirements/lowest.txt
# The two distributions of this repository: the SDK (.) and the emulator (emulator/), both
# installed editable, without dependencies (the lock holds those), at their one version.
LOCAL := -e . -e ./emulator
DIST := dist
# The suite mostly waits (on the emulator, subprocesses and SQS), so two workers halve its
# wall time; each test file runs whole in one worker, with its own emulator.
PYTEST := -m pytest -q -n 2 --dist loadfile
# What the second HTTP stack and uvloop runs cover: the unit tests, and the integration tests
# of the send path, waits and batches (the default run covers everything on httpx2).
STACK_TESTS := tests/unit tests/integration/test_sdk_integration.py \
	tests/integration/test_await_job.py tests/integration/test_many_waits.py \
	tests/integration/test_idempotency.py tests/integration/test_journal.py \
	tests/integration/test_resume_processes.py tests/integration/test_security.py

.PHONY: venv test test-httpx test-uvloop test-latest test-lowest lint dist demo bench docs lock \
	clean

venv: $(STAMP)

$(STAMP): pyproject.toml emulator/pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade 'pip>=25.1'
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps $(LOCAL)
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python $(PYTEST)

# The same SDK on httpx instead of httpx2.
test-httpx: $(STAMP)
	WATTZON_HTTP_STACK=httpx $(BIN)/python $(PYTEST) $(STACK_TESTS)

# The integration tests with the test process on uvloop (the emulator's server runs on it
# whenever it is installed, as uvicorn's loop "auto" picks it).
test-uvloop: $(STAMP)
	WATTZON_TEST_LOOP=uvloop $(BIN)/python $(PYTEST) tests/integration

# The suite on the newest release of every dependency, in a venv of its own: breakage shows
# here before users see it. Passing, `make lock` takes those versions.
test-latest:
	test -x $(LATEST)/bin/python || $(PYTHON) -m venv $(LATEST)
	$(LATEST)/bin/python -m pip install --quiet --upgrade 'pip>=25.1'
	$(LATEST)/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager \
		-e '.[all,httpx]' -e ./emulator --group dev
	$(LATEST)/bin/python $(PYTEST)

# The unit tests and the integration tests of one create and one wait on the lowest version of
# every direct dependency that pyproject.toml allows (requirements/lowest.txt): the lower
# bounds users get are tested ones.
test-lowest:
	test -x $(LOWEST)/bin/python || $(PYTHON) -m venv $(LOWEST)
	$(LOWEST)/bin/python -m pip install --quiet --upgrade 'pip>=25.1'
	$(LOWEST)/bin/python -m pip install --quiet --require-hashes -r $(LOWEST_LOCK)
	$(LOWEST)/bin/python -m pip install --quiet --no-deps $(LOCAL)
	$(LOWEST)/bin/python $(PYTEST) -p no:cacheprovider tests/unit \
		tests/integration/test_sdk_integration.py tests/integration/test_await_job.py

# Re-resolve the lock to the newest versions the ranges in pyproject.toml allow, for every
# Python the package supports; commit the result once `make test` passes on it. The roots are
# both distributions of this repository (requirements/local.in: the SDK's extras and the
# emulator's dependencies), which resolve locally and stay out of the locks, so that
# `pip install --require-hashes -r` takes them and `make` installs the two editable.
LOCK_ROOTS := requirements/local.in --group pyproject.toml:dev --generate-hashes --quiet \
	--no-emit-package wattzon-async --no-emit-package wattzon-async-emulator
lock: $(STAMP)
	$(BIN)/uv pip compile $(LOCK_ROOTS) --universal --python-version 3.11 --upgrade -o $(LOCK)
	$(BIN)/uv pip compile $(LOCK_ROOTS) --resolution lowest-direct --python-version 3.11 \
		-o $(LOWEST_LOCK)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Both wheels, built as a release builds them, and checked: the SDK's holds no emulator code
# and registers no pytest plugin; the emulator's holds both; each pins the other's version.
dist: $(STAMP)
	rm -rf $(DIST)
	$(BIN)/python -m pip wheel --quiet --no-deps -w $(DIST) . ./emulator
	$(BIN)/python .ci/check_wheels.py $(DIST)

demo: $(STAMP)
	$(BIN)/python -m wattzon_async demo

bench: $(STAMP)
	$(BIN)/python -m benchmarks

docs: $(STAMP)
	$(BIN)/python -m pip install --quiet --group docs
	$(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) $(LATEST) $(LOWEST) $(DIST) .mypy_cache .ruff_cache .pytest_cache
